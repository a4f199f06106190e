"""Input of the rater's pages, validated next to the views that take it."""

import json
import math
import re
from collections.abc import Mapping, Sequence
from functools import cache
from html import escape

from django import forms
from django.utils.safestring import SafeString, mark_safe

from formats import ACR_LABELS

from .headphones import HEADPHONE_TRIALS
from .listening import ClipListening

SCORE_CHOICES = [(score, f"{score} {ACR_LABELS[score]}") for score in sorted(ACR_LABELS, reverse=True)]
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


class TaskAnswerForm(forms.Form):
    """A rater's answer to one task: fields that depend only on the task's clip labels, among them the
    hidden plays_, seconds_, ended_ and events_<label> per clip that listening.js fills in.

    Django gives every form a deep copy of its fields, and these forms have 20 or more (a quality task
    of three clips: 21), so building and copying them was most of the forms' CPU on the task page and
    the submit (benchmarks/request_cpu.py). Here each label list's fields are made once per process
    (``fields_for``) and every form of it shares them: validating a form reads its fields and changes
    none. A form keeps a dict of its own, so adding a field to one form reaches no other."""

    labels: list[str]

    def __init__(self, data: Mapping | None = None, *, labels: Sequence[str]):
        super().__init__(data)  # (no declared fields to copy: a kind's fields come from build_fields)
        self.labels = list(labels)
        self.fields = dict(_shared_fields(type(self), tuple(labels)))

    @classmethod
    def build_fields(cls, labels: tuple[str, ...]) -> dict[str, forms.Field]:
        """Every field of a form for these clip labels: the kind's own (a subclass adds them before),
        then the listening evidence of each clip. Called once per label list and process."""
        fields: dict[str, forms.Field] = {}
        for label in labels:
            fields[f"plays_{label}"] = forms.IntegerField(
                min_value=0, max_value=MAX_PLAYS, required=False, widget=forms.HiddenInput
            )
            fields[f"seconds_{label}"] = forms.FloatField(
                min_value=0, max_value=MAX_SECONDS, required=False, widget=forms.HiddenInput
            )
            fields[f"ended_{label}"] = forms.BooleanField(required=False, widget=forms.HiddenInput)
            fields[f"events_{label}"] = forms.CharField(required=False, widget=forms.HiddenInput)
        return fields

    def listening_inputs(self, label: str) -> dict:
        """The hidden inputs of one clip, for the page (an unbound form's are the same on every page)."""
        if not self.is_bound:
            return {"listening_inputs": _unbound_listening_inputs(type(self), label)}
        return {"listening_inputs": self._evidence_inputs(label)}

    def _evidence_inputs(self, label: str) -> SafeString:
        return hidden_inputs([self[f"{name}_{label}"] for name in ("plays", "seconds", "ended", "events")])

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

    def _clean_fields(self):
        """Django's Form._clean_fields without a BoundField per field: each field's value taken from the
        data by its widget and cleaned, its error added where it fails, as there. Making a bound field
        for each of the 21 or more fields was a third of validating a submit's answer (BoundField's
        names and initial-value lookups), and nothing here needs them: these forms have no disabled or
        file fields, no prefix and no clean_<name> methods (tests/ratings/test_answer_forms.py holds the
        two to the same cleaned data and errors); a form that has any of them is cleaned by Django's."""
        if self.prefix or not _cleans_plainly(type(self), tuple(self.labels)):
            super()._clean_fields()
            return
        for name, field in self.fields.items():
            value = field.widget.value_from_datadict(self.data, self.files, name)
            try:
                self.cleaned_data[name] = field.clean(value)
            except forms.ValidationError as error:
                self.add_error(name, error)

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


@cache
def _shared_fields(form_class: type[TaskAnswerForm], labels: tuple[str, ...]) -> dict[str, forms.Field]:
    return form_class.build_fields(labels)


@cache
def _cleans_plainly(form_class: type[TaskAnswerForm], labels: tuple[str, ...]) -> bool:
    """Whether a form of this class and labels needs nothing of Django's _clean_fields but each field's
    clean(): no disabled or file field, no clean_<name> method (TaskAnswerForm._clean_fields)."""
    fields = _shared_fields(form_class, labels)
    return not any(
        field.disabled or isinstance(field, forms.FileField) or hasattr(form_class, f"clean_{name}")
        for name, field in fields.items()
    )


@cache
def _unbound_listening_inputs(form_class: type[TaskAnswerForm], label: str) -> SafeString:
    return form_class(labels=[label])._evidence_inputs(label)


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


# The task page has dozens of inputs; Django renders each widget through a template of its own, which
# made most of the page's CPU. These write the same HTML as HiddenInput and RadioSelect, in Python (with
# the standard library's escape: format_html's lazy-string checks cost as much again).


def _widget_value(field: forms.BoundField) -> str | None:
    """The value attribute Django's widgets write: none for None or an empty string."""
    value = field.value()
    return None if value is None or value == "" else str(value)


def hidden_inputs(fields: list[forms.BoundField]) -> SafeString:
    """The <input type="hidden"> of each field, as HiddenInput writes it."""
    html = []
    for field in fields:
        value = _widget_value(field)
        shown = "" if value is None else f' value="{escape(value)}"'
        html.append(
            f'<input type="hidden" name="{escape(field.html_name)}"{shown} id="{escape(field.auto_id)}">'
        )
    return mark_safe("".join(html))  # noqa: S308 (every piece escaped above)


def radio_choices(field: forms.BoundField) -> SafeString:
    """Each choice of a choice field as <label class="choice"><input type="radio" …><span>its
    label</span></label>, the input as RadioSelect writes it (checked when it is the field's value)."""
    chosen = _widget_value(field)
    name, auto_id = escape(field.html_name), escape(field.auto_id)
    return mark_safe(  # noqa: S308 (every piece escaped)
        "".join(
            f'<label class="choice"><input type="radio" name="{name}" value="{escape(str(value))}" '
            f'id="{auto_id}_{index}"{" checked" if str(value) == chosen else ""}>'
            f"<span>{escape(str(label))}</span></label>"
            for index, (value, label) in enumerate(field.field.choices)
        )
    )
