from django import forms

from generation.jobs import SEED_MAX
from ratings.models import Study


class PregenerateForm(forms.Form):
    """A variant of the built-in model to pre-generate into a study: every parameter such a job has
    (generation.jobs.PregenerateParams; tests/jobs keep the two in step)."""

    study = forms.ModelChoiceField(queryset=Study.objects.all(), to_field_name="slug")
    variant_name = forms.CharField(
        max_length=100, help_text="How the variant is filed (raters never see it)."
    )
    checkpoint = forms.CharField(
        initial="demo.pt",
        help_text="A .pt file or a model folder in generation/checkpoints/ or the runs folder's checkpoints/.",
    )
    gamma = forms.FloatField(initial=1.0, help_text="CFG strength γ (1 = plain conditional sampling).")
    temperature = forms.FloatField(initial=1.0)
    prompts = forms.IntegerField(
        initial=12,
        min_value=1,
        help_text="For a study with no prompts yet; a study with prompts gets its own.",
    )
    samples = forms.IntegerField(initial=2, min_value=1, help_text="Per prompt; ≥2 for a diversity study.")
    seed = forms.IntegerField(initial=0, min_value=0, max_value=SEED_MAX)
    merge_with = forms.CharField(
        required=False, help_text="A second .pt checkpoint: the clips come from the weight merge of the two."
    )
    lam = forms.FloatField(
        label="λ",
        required=False,
        initial=0.0,
        min_value=0.0,
        max_value=1.0,
        help_text="Merge weight of the second checkpoint.",
    )
    constrain = forms.BooleanField(
        required=False, help_text="Grammar-constrained sampling (how the demo finetunes were trained)."
    )

    seconds = forms.FloatField(
        required=False,
        initial=0.0,
        min_value=0.0,
        max_value=60.0,
        help_text="Clip length for a MusicGen model (0: its default); the built-in model makes 8 s.",
    )

    def job_arguments(self) -> dict:
        data = {name: value for name, value in self.cleaned_data.items() if value is not None}
        return {
            "kind": "pregenerate",
            "study": data.pop("study"),
            "variant_name": data.pop("variant_name"),
            "parameters": data,
        }
