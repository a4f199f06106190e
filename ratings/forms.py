"""Input of the rater's pages, validated next to the views that take it."""

from django import forms

from .models import ACR_LABELS, Criterion
from .services import ClipListening, QualitySubmission

SCORE_CHOICES = [(score, f"{score} {ACR_LABELS[score]}") for score in sorted(ACR_LABELS, reverse=True)]


class QualityRatingForm(forms.Form):
    """Three 1–5 scales per clip label plus what the player saw of each clip.

    Every field is optional here so that a partial submission comes back with what was entered;
    the service decides what is missing and says so.
    """

    def __init__(self, *args, labels: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.labels = labels
        for label in labels:
            for criterion in Criterion:
                self.fields[self.score_field(label, criterion)] = forms.TypedChoiceField(
                    choices=SCORE_CHOICES,
                    coerce=int,
                    required=False,
                    label=criterion.label,
                    widget=forms.RadioSelect,
                    empty_value=None,
                    error_messages={"invalid_choice": "Choose a score from 1 (Bad) to 5 (Excellent)."},
                )
            self.fields[f"plays_{label}"] = forms.IntegerField(
                min_value=0, required=False, widget=forms.HiddenInput
            )
            self.fields[f"seconds_{label}"] = forms.FloatField(
                min_value=0, required=False, widget=forms.HiddenInput
            )
            self.fields[f"ended_{label}"] = forms.BooleanField(required=False, widget=forms.HiddenInput)

    @staticmethod
    def score_field(label: str, criterion: str) -> str:
        return f"score_{label}_{criterion}"

    def submission(self) -> QualitySubmission:
        data = self.cleaned_data
        scores = {
            (label, criterion.value): data[self.score_field(label, criterion)]
            for label in self.labels
            for criterion in Criterion
            if data.get(self.score_field(label, criterion)) is not None
        }
        listening = {
            label: ClipListening(
                plays=data.get(f"plays_{label}") or 0,
                seconds=data.get(f"seconds_{label}") or 0.0,
                ended=bool(data.get(f"ended_{label}")),
            )
            for label in self.labels
        }
        return QualitySubmission(scores=scores, listening=listening)
