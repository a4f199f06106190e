"""The diversity task: two pairs of clips of one prompt; which pair is more diverse (MISSION.md §4)."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django import forms
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet

from formats import DIVERSITY_CHOICES, DIVERSITY_COLUMNS

from .. import plain_sql
from ..errors import ImportFailed, ServiceError
from ..forms import TaskAnswerForm, radio_choices
from ..models import (
    CheckItem,
    Clip,
    DiversityComparison,
    DiversityJudgement,
    Prompt,
    Rater,
    Study,
    Task,
    TaskStatus,
    Variant,
)
from .base import ImportRow, KindWords, Slot, Submission, TaskKind, expected_range, whole_number

LABELS = ("A1", "A2", "B1", "B2")
# Shown from "A much more" to "B much more", the order of the scale −2 … +2.
NO_CHOICE = "Choose which pair is more diverse."
SCALE = [(choice, label) for choice, label in sorted(DIVERSITY_CHOICES.items())]


@dataclass
class DiversitySubmission(Submission):
    choice: int | None = None  # −2 (A much more diverse) … +2 (B much more diverse)


class DiversityJudgementForm(TaskAnswerForm):
    """The 5-point answer (−2 A much more diverse … +2 B much more) plus listening evidence of A1, A2, B1, B2."""

    @classmethod
    def build_fields(cls, labels: tuple[str, ...]) -> dict[str, forms.Field]:
        choice = forms.TypedChoiceField(
            choices=SCALE,
            coerce=int,
            required=False,
            empty_value=None,
            widget=forms.RadioSelect,
            error_messages={
                "invalid_choice": "Choose an answer from -2 (A much more diverse) to +2 (B much more)."
            },
        )
        return {"choice": choice, **super().build_fields(labels)}

    def submission(self) -> DiversitySubmission:
        return DiversitySubmission(choice=self.cleaned_data.get("choice"), listening=self.listening())


def two_samples(prompt: Prompt, variant: Variant, rng: random.Random) -> list[int]:
    ids = list(Clip.objects.filter(prompt=prompt, variant=variant).values_list("id", flat=True))
    if len(ids) < 2:
        raise ServiceError(
            f"variant {variant.name} has {len(ids)} sample(s) for prompt {prompt.external_id}; a diversity "
            "comparison needs 2"
        )
    return rng.sample(ids, 2)


def _two_clips(variant: str) -> Exists:
    """The comparison's prompt has at least two clips of its `variant` ("variant_x" or "variant_y")."""
    clips = Clip.objects.filter(prompt=OuterRef("prompt"), variant=OuterRef(variant))
    return Exists(clips.values("prompt").annotate(n=Count("pk")).filter(n__gte=2))


def comparisons_open(study: Study) -> QuerySet[DiversityComparison]:
    """Comparisons with a free rater slot that raters can be shown: two clips of each variant. One made
    by import_ratings from judgements collected elsewhere may lack them, and is then never handed out."""
    return DiversityComparison.objects.filter(
        _two_clips("variant_x"), _two_clips("variant_y"), study=study, slots_taken__lt=study.raters_per_prompt
    )


class DiversityKind(TaskKind):
    name = "diversity"
    export_file = "diversity.csv"
    columns = DIVERSITY_COLUMNS
    words = KindWords(
        rows="diversity judgements",
        answers="answers",
        submit="Submit answer",
        hint=(
            "Two pairs of clips were made for this text. Listen to all four clips to the end, then say which "
            "pair is more diverse: whose two clips differ more from each other. Keys: 1–5 choose the answer, "
            "from A much more (1) to B much more (5)."
        ),
    )
    detail_model = DiversityJudgement

    def claimable(self, rater: Rater) -> QuerySet[DiversityComparison]:
        return comparisons_open(rater.study).exclude(tasks__rater=rater).order_by("slots_taken", "id")

    def open_items(self, study: Study) -> set[int]:
        return set(comparisons_open(study).values_list("id", flat=True))

    def item_of(self, task: Task) -> int | None:
        return task.comparison_id

    def claim(self, rater: Rater) -> Task | None:
        limit = rater.study.raters_per_prompt
        rng = random.SystemRandom()
        for comparison_id in self.claimable(rater).values_list("id", flat=True):
            claimed = DiversityComparison.objects.filter(pk=comparison_id, slots_taken__lt=limit).update(
                slots_taken=F("slots_taken") + 1
            )
            if claimed:
                comparison = DiversityComparison.objects.select_related(
                    "prompt", "variant_x", "variant_y"
                ).get(pk=comparison_id)
                variant_a, variant_b = rng.sample([comparison.variant_x, comparison.variant_y], 2)
                clips = [
                    *two_samples(comparison.prompt, variant_a, rng),
                    *two_samples(comparison.prompt, variant_b, rng),
                ]
                return plain_sql.create(  # a plain INSERT (ratings/plain_sql.py): every claim writes one
                    Task(
                        rater=rater,
                        kind=self.name,
                        prompt=comparison.prompt,
                        comparison=comparison,
                        clips=clips,
                    )
                )
        return None

    def slot(self, task: Task) -> Slot | None:
        if task.comparison_id is None:
            return None
        return Slot(DiversityComparison.objects.filter(pk=task.comparison_id), "slots_taken")

    def attention_item(self, rater: Rater, rng: random.Random) -> CheckItem | None:
        """A comparison in which one pair is the same clip twice: the other pair must be judged more diverse."""
        comparisons = list(self.claimable(rater).select_related("prompt")[:20])
        if not comparisons:
            return None
        comparison = rng.choice(comparisons)
        same, other = rng.sample([comparison.variant_x, comparison.variant_y], 2)
        twin = rng.choice(
            list(Clip.objects.filter(prompt=comparison.prompt, variant=same).values_list("id", flat=True))
        )
        pairs = {"A": [twin, twin], "B": two_samples(comparison.prompt, other, rng)}
        expected = [1, 2]  # B more diverse
        if rng.random() < 0.5:
            pairs = {"A": pairs["B"], "B": pairs["A"]}
            expected = [-2, -1]
        return CheckItem.objects.create(
            study_id=rater.study_id,
            kind=self.name,
            source=CheckItem.Source.ATTENTION,
            prompt=comparison.prompt,
            clips=pairs,
            expected={"choice": expected},
            note=f"identical clips as one pair of {comparison}",
        )

    def check_task(self, rater: Rater, item: CheckItem, rng: random.Random) -> Task:
        return Task.objects.create(
            rater=rater,
            kind=self.name,
            prompt=item.prompt,
            clips=[*item.clips["A"], *item.clips["B"]],
            check_item=item,
            holds_slot=False,
        )

    def gold_item(self, study: Study, expected: Mapping[str, Any], clips: Mapping[str, list[int]]) -> tuple:
        layout = {"A": list(clips.get("A", [])), "B": list(clips.get("B", []))}
        if len(layout["A"]) != 2 or len(layout["B"]) != 2:
            raise ServiceError("a diversity gold item needs exactly two clips in each pair")
        if set(expected) != {"choice"}:
            raise ServiceError('a diversity gold item expects {"choice": [low, high]}')
        return layout, {"choice": expected_range(expected["choice"], range(-2, 3), "choice")}

    def check_passed(self, task: Task) -> bool:
        low, high = task.check_item.expected["choice"]
        return low <= task.judgement.choice <= high

    def labels(self, task: Task) -> list[str]:
        return list(LABELS)

    def form(self, labels: list[str], data: Mapping | None = None) -> DiversityJudgementForm:
        return DiversityJudgementForm(data, labels=LABELS)

    def page_context(self, form: forms.Form, labelled: list[tuple[str, Clip]]) -> dict:
        pairs = [
            {
                "name": name,
                "clips": [
                    {"label": label, "clip": clip, **form.listening_inputs(label)}
                    for label, clip in labelled
                    if label.startswith(name)
                ],
            }
            for name in ("A", "B")
        ]
        missing = form.is_bound and form["choice"].value() in (None, "")
        return {
            "pairs": pairs,
            "choice": radio_choices(form["choice"]),
            "choice_missing": missing,
            "scale": SCALE,
        }

    def problems_in_place(self, form: forms.Form) -> list[str]:
        return [NO_CHOICE] if form.is_bound and form["choice"].value() in (None, "") else []

    def problems(self, labelled: list[tuple[str, Clip]], submission: Submission) -> list[str]:
        assert isinstance(submission, DiversitySubmission)
        if submission.choice is None:
            return [NO_CHOICE]
        if not -2 <= submission.choice <= 2:
            return [f"The answer must be between -2 and +2, not {submission.choice}."]
        return []

    def store(
        self, task: Task, labelled: list[tuple[str, Clip]], submission: Submission, now: datetime
    ) -> plain_sql.Statement:
        assert isinstance(submission, DiversitySubmission)
        clips = dict(labelled)
        return plain_sql.insert_statement(
            DiversityJudgement,
            ["task", "variant_a", "variant_b", "choice"],
            [(task.pk, clips["A1"].variant_id, clips["B1"].variant_id, submission.choice)],
        )

    def answer_values(self, tasks: QuerySet[Task]) -> dict[int, list[float]]:
        judged = DiversityJudgement.objects.filter(task__in=tasks).values_list("task_id", "choice")
        return {task_id: [choice] for task_id, choice in judged}

    def export_rows(self, study: Study) -> list[dict]:
        judged = (
            DiversityJudgement.objects.filter(
                task__prompt__study=study, task__check_item__isnull=True, task__status=TaskStatus.SUBMITTED
            )
            .select_related("task__rater", "task__prompt", "variant_a", "variant_b")
            .order_by(
                "task__rater__external_id", "task__prompt__external_id", "variant_a__name", "variant_b__name"
            )
        )
        return [
            {
                "rater_id": judgement.task.rater.external_id,
                "prompt_id": judgement.task.prompt.external_id,
                "variant_a": judgement.variant_a.name,
                "variant_b": judgement.variant_b.name,
                "choice": judgement.choice,
                "created_at": judgement.task.submitted_at.isoformat(),
            }
            for judgement in judged
        ]

    def import_row(self, found: ImportRow, state: dict) -> None:
        row, where, prompt, rater = found.row, found.where, found.prompt, found.rater
        study = prompt.study
        variants = state.setdefault("variants", {v.name: v for v in study.variants.all()})
        for column in ("variant_a", "variant_b"):
            if row[column] not in variants:
                raise ImportFailed(f"{where}: {column} {row[column]!r} is not in study {study.slug}")
        if row["variant_a"] == row["variant_b"]:
            raise ImportFailed(f"{where}: variant_a and variant_b are both {row['variant_a']!r}")
        choice = whole_number(row["choice"], "choice", where)
        if not -2 <= choice <= 2:
            raise ImportFailed(f"{where}: choice {choice} is outside -2..+2")
        key = (row["rater_id"], row["prompt_id"], frozenset((row["variant_a"], row["variant_b"])))
        seen = state.setdefault("seen", {})
        if key in seen:
            raise ImportFailed(
                f"{where}: duplicate judgement of {row['prompt_id']} {row['variant_a']}/{row['variant_b']} by "
                f"{row['rater_id']}, first on line {seen[key]}"
            )
        seen[key] = found.line
        variant_a, variant_b = variants[row["variant_a"]], variants[row["variant_b"]]
        x, y = sorted((variant_a, variant_b), key=lambda v: v.pk)
        comparison, _ = DiversityComparison.objects.get_or_create(
            study=study, prompt=prompt, variant_x=x, variant_y=y
        )
        if Task.objects.filter(rater=rater, comparison=comparison).exists():
            raise ImportFailed(f"{where}: study {study.slug} already has this judgement by {row['rater_id']}")
        task = Task.objects.create(
            rater=rater,
            kind=self.name,
            prompt=prompt,
            comparison=comparison,
            clips=[],
            status=TaskStatus.SUBMITTED,
            submitted_at=found.created_at,
            listening={"imported_from": found.source.name},
        )
        self.slot(task).take()
        DiversityJudgement.objects.create(task=task, variant_a=variant_a, variant_b=variant_b, choice=choice)
        state["created"] = state.get("created", 0) + 1

    def import_finish(self, study: Study, state: dict) -> int:
        if state.get("created") and not study.diversity_part:
            study.diversity_part = True
            study.save(update_fields=["diversity_part"])
        return state.get("created", 0)

    def coverage(self, study: Study) -> list[dict]:
        valid = Q(tasks__status=TaskStatus.SUBMITTED, tasks__holds_slot=True)
        comparisons = (
            study.diversity_comparisons.select_related("prompt", "variant_x", "variant_y")
            .annotate(submitted=Count("tasks", filter=valid))
            .order_by("prompt__external_id", "variant_x__name", "variant_y__name")
        )
        return [
            {
                "prompt_id": c.prompt.external_id,
                "item": f"{c.variant_x.name} vs {c.variant_y.name}",
                "variants": (c.variant_x.name, c.variant_y.name),
                "submitted": c.submitted,
                "slots_taken": c.slots_taken,
            }
            for c in comparisons
        ]
