"""Input of the rater's pages, validated next to the views that take it."""

import json
import math
import re

from django import forms

from formats import ACR_LABELS, DIVERSITY_CHOICES

from .models import Criterion
from .selectors import DIVERSITY_LABELS
from .services import HEADPHONE_TRIALS, ClipListening, DiversitySubmission, QualitySubmission

SCORE_CHOICES = [(score, f"{score} {ACR_LABELS[score]}") for score in sorted(ACR_LABELS, reverse=True)]
# Shown from "A much more" to "B much more", the order of the scale −2 … +2.
DIVERSITY_SCALE = [(choice, label) for choice, label in sorted(DIVERSITY_CHOICES.items())]
# A posted field about a clip: its listening evidence, or (quality) one of its scores.
_CLIP_FIELD = re.compile(r"^(?:(?:plays|seconds|ended|events)_(\w+)|score_([A-Za-z0-9]+)_\w+)$")
PLAYER_EVENTS = {"play", "pause", "seeked", "ended"}
MAX_EVENTS = 200
# Evidence is what the page's player reports; anything beyond these is not a listening, it is tampering.
MAX_PLAYS = 1000
MAX_SECONDS = 24 * 3600


def parse_player_events(text: str) -> list:
    """The page's event log of one clip, kept only as far as it is well formed (it is evidence, not input)."""
    try:
        events = json.loads(text or "[]")
    except ValueError:
        return []
    if not isinstance(events, list):
        return []
    return [
        [event[0], round(float(event[1]), 2)]
        for event in events[:MAX_EVENTS]
        if isinstance(event, list)
        and len(event) == 2
        and event[0] in PLAYER_EVENTS
        and _is_position(event[1])
    ]


def _is_position(value: object) -> bool:
    """A finite number of seconds: JSON also spells Infinity, NaN and ints too large for a float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return abs(value) < 1e9 and math.isfinite(value)


class ListeningFieldsMixin:
    """Hidden plays_, seconds_, ended_ and events_<label> per clip, filled in by listening.js."""

    labels: list[str]

    def add_listening_fields(self) -> None:
        for label in self.labels:
            self.fields[f"plays_{label}"] = forms.IntegerField(
                min_value=0, max_value=MAX_PLAYS, required=False, widget=forms.HiddenInput
            )
            self.fields[f"seconds_{label}"] = forms.FloatField(
                min_value=0, max_value=MAX_SECONDS, required=False, widget=forms.HiddenInput
            )
            self.fields[f"ended_{label}"] = forms.BooleanField(required=False, widget=forms.HiddenInput)
            self.fields[f"events_{label}"] = forms.CharField(required=False, widget=forms.HiddenInput)

    def listening(self) -> dict[str, ClipListening]:
        data = self.cleaned_data
        evidence = {
            label: ClipListening(
                plays=data.get(f"plays_{label}") or 0,
                seconds=data.get(f"seconds_{label}") or 0.0,
                ended=bool(data.get(f"ended_{label}")),
                events=parse_player_events(data.get(f"events_{label}", "")),
            )
            for label in self.labels
        }
        return evidence

    def clean(self):
        # A score or evidence for a clip the task does not have is refused, not silently dropped.
        unknown = set()
        for name in self.data:
            match = _CLIP_FIELD.match(name)
            label = match and (match.group(1) or match.group(2))
            if label and label not in self.labels:
                unknown.add(label)
        if unknown:
            raise forms.ValidationError(f"Clip(s) {', '.join(sorted(unknown))} are not part of this task.")
        return super().clean()


class QualityRatingForm(ListeningFieldsMixin, forms.Form):
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
        self.add_listening_fields()

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
        return QualitySubmission(scores=scores, listening=self.listening())


class DiversityJudgementForm(ListeningFieldsMixin, forms.Form):
    """The 5-point answer (−2 A much more diverse … +2 B much more) plus listening evidence of A1, A2, B1, B2."""

    choice = forms.TypedChoiceField(
        choices=DIVERSITY_SCALE,
        coerce=int,
        required=False,
        empty_value=None,
        widget=forms.RadioSelect,
        error_messages={
            "invalid_choice": "Choose an answer from -2 (A much more diverse) to +2 (B much more)."
        },
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.labels = list(DIVERSITY_LABELS)
        self.add_listening_fields()

    def submission(self) -> DiversitySubmission:
        return DiversitySubmission(choice=self.cleaned_data.get("choice"), listening=self.listening())


class ConsentForm(forms.Form):
    agree = forms.BooleanField(
        required=True,
        label="I have read the above and agree to take part.",
        error_messages={"required": "Tick the box to agree before you continue."},
    )


class HeadphoneCheckForm(forms.Form):
    """Which of three tones was quietest, per trial."""

    def __init__(self, *args, trials: int = HEADPHONE_TRIALS, **kwargs):
        super().__init__(*args, **kwargs)
        self.trial_count = trials
        for number in range(trials):
            self.fields[f"trial_{number}"] = forms.TypedChoiceField(
                choices=[(0, "First"), (1, "Second"), (2, "Third")],
                coerce=int,
                widget=forms.RadioSelect,
                label=f"Sound {number + 1}: which tone was quietest?",
                error_messages={"required": f"Sound {number + 1}: choose the quietest tone."},
            )

    def answers(self) -> list[int]:
        return [self.cleaned_data[f"trial_{number}"] for number in range(self.trial_count)]
