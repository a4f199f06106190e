from django import forms

from generation.jobs import SEED_MAX
from ratings.models import Study


class PregenerateForm(forms.Form):
    """A variant of the built-in model to pre-generate into a study."""

    study = forms.ModelChoiceField(queryset=Study.objects.all(), to_field_name="slug")
    variant_name = forms.CharField(
        max_length=100, help_text="How the variant is filed (raters never see it)."
    )
    checkpoint = forms.CharField(
        initial="demo.pt", help_text="A .pt file in generation/checkpoints/ or runs."
    )
    gamma = forms.FloatField(initial=1.0, help_text="CFG strength γ (1 = plain conditional sampling).")
    temperature = forms.FloatField(initial=1.0)
    prompts = forms.IntegerField(initial=12, min_value=1)
    samples = forms.IntegerField(initial=2, min_value=1, help_text="Per prompt; ≥2 for a diversity study.")
    seed = forms.IntegerField(initial=0, min_value=0, max_value=SEED_MAX)

    def job_arguments(self) -> dict:
        data = dict(self.cleaned_data)
        return {
            "kind": "pregenerate",
            "study": data.pop("study"),
            "variant_name": data.pop("variant_name"),
            "parameters": data,
        }
