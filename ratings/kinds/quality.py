"""The quality task: one prompt, its clips side by side, each rated on three 1–5 scales (MISSION.md §4)."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from html import escape
from typing import Any

from django import forms
from django.db.models import Count, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils.safestring import mark_safe

from formats import ACR_LABELS, CRITERIA, CRITERIA_ABOUT, RATINGS_COLUMNS

from .. import plain_sql
from ..errors import ImportFailed, ServiceError
from ..forms import SCORE_CHOICES, TaskAnswerForm, radio_choices
from ..models import CheckItem, Clip, Criterion, Prompt, QualityRating, Rater, Study, Task, TaskStatus
from .base import ImportRow, KindWords, Slot, Submission, TaskKind, expected_range, whole_number

# The attention item of the quality study: a prompt the clips plainly do not match.
ATTENTION_EXPECTED = {Criterion.TEXT_ADHERENCE.value: [1, 2]}


@dataclass
class QualitySubmission(Submission):
    scores: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (clip label, criterion) → 1..5


class QualityRatingForm(TaskAnswerForm):
    """Three 1–5 scales per clip label plus what the player saw of each clip.

    Every field is optional here so that a partial submission comes back with what was entered;
    the service decides what is missing and says so.
    """

    @classmethod
    def build_fields(cls, labels: tuple[str, ...]) -> dict[str, forms.Field]:
        fields: dict[str, forms.Field] = {}
        for label in labels:
            for criterion in Criterion:
                fields[cls.score_field(label, criterion)] = forms.TypedChoiceField(
                    choices=SCORE_CHOICES,
                    coerce=int,
                    required=False,
                    label=criterion.label,
                    widget=forms.RadioSelect,
                    empty_value=None,
                    error_messages={"invalid_choice": "Choose a score from 1 (Bad) to 5 (Excellent)."},
                )
        return {**fields, **super().build_fields(labels)}

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


def missing_score(label: str, criterion: str) -> str:
    """The message beside a scale left without a score (and in the service's list of problems)."""
    return f"Clip {label}: choose a score for {CRITERIA[criterion].lower()}."


def clip_label(position: int) -> str:
    """A, B, … Z, AA, AB, …"""
    letters = ""
    position += 1
    while position:
        position, remainder = divmod(position - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def prompt_quality_clip_ids(prompt_id: int) -> list[int]:
    """The clips a quality task shows, by id: one per variant, its lowest sample index (one query)."""
    # A plain statement (ratings/plain_sql.py): the claims that did not choose their clips in their own
    # statement read it (SQLite; on PostgreSQL a claim whose candidates were all held by others).
    rows = plain_sql.tuples(
        f"SELECT variant_id, sample_index, id FROM {plain_sql.table(Clip)} WHERE prompt_id = %s", [prompt_id]
    )
    return _first_sample_per_variant(rows)


def _first_sample_per_variant(rows: Iterable[Sequence[int]]) -> list[int]:
    """From (variant id, sample index, clip id) rows of one prompt: the clip ids of each variant's lowest
    sample index, sorted."""
    first: dict[int, tuple[int, int]] = {}
    for variant_id, sample_index, clip_id in rows:
        if variant_id not in first or sample_index < first[variant_id][0]:
            first[variant_id] = (sample_index, clip_id)
    return sorted(clip_id for _, clip_id in first.values())


def prompt_quality_clips(prompt: Prompt) -> list[Clip]:
    """The clips a quality task shows, with their variants."""
    return list(Clip.objects.filter(pk__in=prompt_quality_clip_ids(prompt.pk)).select_related("variant"))


def scale_fieldset(form: QualityRatingForm, label: str, criterion: Criterion) -> str:
    """One clip's scale for one criterion: its legend, its five radios and the message shown beside it
    when a submitted form left it unanswered (then marked aria-invalid). Written here rather than in
    the template, as radio_choices writes the radios: the page's nine scales cost its template most of
    its rendering time (benchmarks/request_cpu.py)."""
    if not form.is_bound:
        return _unbound_scale_fieldset(label, criterion)
    return _scale_fieldset(form, label, criterion)


def _scale_fieldset(form: QualityRatingForm, label: str, criterion: Criterion) -> str:
    field = form[form.score_field(label, criterion)]
    missing = form.is_bound and not field.value()
    name, value = escape(label), escape(criterion.value)
    described = f"about-{value}" + (f" missing-{name}-{value}" if missing else "")
    invalid = ' aria-invalid="true"' if missing else ""
    hidden = "" if missing else " hidden"
    return (
        f'<fieldset class="scale" data-scale data-keys="value" id="scale-{name}-{value}"{invalid} '
        f'aria-describedby="{described}">\n'
        f"      <legend>{escape(str(criterion.label))}</legend>\n"
        f'      <div class="choices">{radio_choices(field)}</div>\n'
        f'      <p class="missing" id="missing-{name}-{value}"{hidden}>{escape(missing_score(label, criterion.value))}</p>\n'
        "    </fieldset>"
    )


@cache
def _unbound_scale_fieldset(label: str, criterion: Criterion) -> str:
    """A scale with no answer yet: the same on every page that shows a clip of this label."""
    return _scale_fieldset(QualityRatingForm(labels=[label]), label, criterion)


def _words(text: str) -> set[str]:
    return {word for word in re.findall(r"[a-z]+", text.lower()) if len(word) > 2}


class QualityKind(TaskKind):
    name = "quality"
    export_file = "ratings.csv"
    columns = RATINGS_COLUMNS
    words = KindWords(
        rows="ratings",
        answers="scores",
        submit="Submit ratings",
        hint=(
            "Listen to every clip to the end, then rate each one. 5 Excellent · 4 Good · 3 Fair · 2 Poor · 1 Bad. "
            "Keys: Tab moves from scale to scale, 1–5 sets the score, Enter submits."
        ),
    )
    detail_model = QualityRating
    # A quality check shows a prompt the rater has not met, which they then cannot rate (rater_progress).
    check_spends_an_item = True

    def claimable(self, rater: Rater) -> QuerySet[Prompt]:
        """Prompts of the study with clips and a free slot that the rater has not met, least covered
        first. The rule is written once, in plain SQL (_claimable_sql), which the claim and the task
        page's count run as it is (ratings/plain_sql.py)."""
        if not rater.study.quality_part:
            return Prompt.objects.none()
        ids = RawSQL(f"SELECT p.id {self._claimable_sql()}", self._claimable_params(rater))
        return Prompt.objects.filter(pk__in=ids).order_by("quality_slots_taken", "id")

    def _claimable_sql(self) -> str:
        """FROM and WHERE of claimable(); its parameters: _claimable_params. EXISTS rather than a join
        on clips: no DISTINCT, so counting it needs no subquery around it."""
        return (
            f"FROM {plain_sql.table(Prompt)} p WHERE p.study_id = %s AND p.quality_slots_taken < %s "
            f"AND EXISTS (SELECT 1 FROM {plain_sql.table(Clip)} c WHERE c.prompt_id = p.id) "
            f"AND p.id NOT IN (SELECT t.prompt_id FROM {plain_sql.table(Task)} t WHERE t.rater_id = %s AND t.kind = %s)"
        )

    def _claimable_params(self, rater: Rater) -> list:
        return [rater.study_id, rater.study.raters_per_prompt, rater.pk, self.name]

    def _claimable_ids_sql(self) -> str:
        """claimable(rater)'s ids in its order: least covered first (parameters: _claimable_params)."""
        return f"SELECT p.id {self._claimable_sql()} ORDER BY p.quality_slots_taken, p.id"

    def _claimable_ids(self, rater: Rater) -> list[int]:
        """claimable(rater)'s ids in its order."""
        return [id_ for (id_,) in plain_sql.tuples(self._claimable_ids_sql(), self._claimable_params(rater))]

    def _take_sql(self, prompt: str) -> str:
        """Take one slot of the prompt `prompt` names, if it has one free: a conditional UPDATE, its
        condition checked again on the row as it is once locked (the free-slot limit: its last %s)."""
        return (
            f"UPDATE {plain_sql.table(Prompt)} SET quality_slots_taken = quality_slots_taken + 1 "
            f"WHERE id = {prompt} AND quality_slots_taken < %s"
        )

    def _pick_first_unheld_sql(self, rater: Rater) -> tuple[str, list]:
        """The UPDATE that picks the least-covered claimable prompt that no other transaction holds
        (``SKIP LOCKED`` on PostgreSQL, so raters arriving together spread over prompts instead of
        queueing on one row) and takes its slot, returning its id; and its parameters."""
        pick = f"{self._claimable_ids_sql()} LIMIT 1" + plain_sql.for_update(skip_locked=True, of="p")
        params = [*self._claimable_params(rater), rater.study.raters_per_prompt]
        return f"{self._take_sql(f'({pick})')} RETURNING id", params

    def _claim_first_unheld(self, rater: Rater) -> Task | None:
        """What most claims do on PostgreSQL, in one statement: the slot taken as
        _pick_first_unheld_sql takes it (in a WITH clause), and the task inserted from the taken
        prompt's row, showing one clip of each variant (its lowest sample index) in an order drawn by
        the database (``random()``: an order the rater cannot foresee, which is all it needs to be).
        None when no prompt was taken: none left, or every candidate held by another claim."""
        take, params = self._pick_first_unheld_sql(rater)
        shown = (
            f"SELECT DISTINCT ON (c.variant_id) c.id FROM {plain_sql.table(Clip)} c "
            "JOIN taken ON c.prompt_id = taken.id ORDER BY c.variant_id, c.sample_index"
        )
        return plain_sql.create_from(
            Task(rater=rater, kind=self.name, clips=[]),
            with_clause=f"WITH taken AS ({take}), shown AS ({shown})",
            source="taken",
            computed={"prompt": "taken.id", "clips": "(SELECT jsonb_agg(id ORDER BY random()) FROM shown)"},
            params=params,
        )

    def _take_first_unheld(self, rater: Rater) -> int | None:
        """The slot taken as _pick_first_unheld_sql takes it, on a database that returns an UPDATE's
        rows but has no WITH clause to write in (SQLite from 3.35): the prompt's id, or None when none
        was taken, or where the database cannot return an UPDATE's rows (SQLite before 3.35)."""
        if not plain_sql.returns_rows():
            return None
        taken = plain_sql.tuples(*self._pick_first_unheld_sql(rater))
        return taken[0][0] if taken else None

    def all_items(self, study: Study) -> set[int]:
        return set(study.prompts.filter(clips__isnull=False).values_list("id", flat=True))

    def open_items(self, study: Study) -> set[int]:
        return set(
            study.prompts.filter(quality_slots_taken__lt=study.raters_per_prompt, clips__isnull=False)
            .distinct()
            .values_list("id", flat=True)
        )

    def item_of(self, task: Task) -> int | None:
        return task.prompt_id

    def claim(self, rater: Rater) -> Task | None:
        """The claimable prompt least covered, its slot taken with a conditional UPDATE. Plain
        statements (ratings/plain_sql.py): every quality claim runs them; on PostgreSQL one
        (_claim_first_unheld). Only when every candidate was held by another claim (or on a database
        without RETURNING) are they tried one by one in order, waiting on each; SQLite serialises
        writers."""
        if not rater.study.quality_part:
            return None
        if plain_sql.writes_in_with():
            task = self._claim_first_unheld(rater)
            if task is not None:
                return task
            prompt_id = None
        else:
            prompt_id = self._take_first_unheld(rater)
        if prompt_id is None:
            limit = rater.study.raters_per_prompt
            take = self._take_sql("%s")
            prompt_id = next(
                (each for each in self._claimable_ids(rater) if plain_sql.execute(take, [each, limit])),
                None,
            )
        if prompt_id is None:
            return None
        clip_ids = prompt_quality_clip_ids(prompt_id)
        random.SystemRandom().shuffle(clip_ids)
        return plain_sql.create(Task(rater=rater, kind=self.name, prompt_id=prompt_id, clips=clip_ids))

    def claimable_count(self, rater: Rater) -> int:
        statement = self.claimable_count_statement(rater)
        ((count,),) = plain_sql.tuples(statement.sql, statement.params)
        return count

    def claimable_count_statement(self, rater: Rater) -> plain_sql.Statement:
        # a plain statement (ratings/plain_sql.py): every task page counts them
        if not rater.study.quality_part:
            return plain_sql.Statement("SELECT 0", [])
        return plain_sql.Statement(f"SELECT COUNT(*) {self._claimable_sql()}", self._claimable_params(rater))

    def slot(self, task: Task) -> Slot | None:
        if task.check_item_id is not None:
            return None
        return Slot(Prompt.objects.filter(pk=task.prompt_id), "quality_slots_taken")

    def attention_item(self, rater: Rater, rng: random.Random) -> CheckItem | None:
        """Clips of one prompt shown with the text of another, the one sharing the fewest words with it."""
        sources = list(Prompt.objects.filter(study_id=rater.study_id, clips__isnull=False).distinct())
        seen = set(rater.tasks.filter(kind=self.name).values_list("prompt_id", flat=True))
        unseen = [p for p in sources if p.pk not in seen]
        # A prompt the rater could still rate would be spent on the check: prefer one already covered.
        claimable = set(self.claimable(rater).values_list("id", flat=True))
        shown_candidates = [p for p in unseen if p.pk not in claimable] or unseen
        if not shown_candidates:
            return None
        shown = rng.choice(shown_candidates)
        others = [p for p in sources if p.pk != shown.pk]
        if not others:
            return None
        rng.shuffle(others)
        source = min(others, key=lambda p: len(_words(p.text) & _words(shown.text)))
        return CheckItem.objects.create(
            study_id=rater.study_id,
            kind=self.name,
            source=CheckItem.Source.ATTENTION,
            prompt=shown,
            clips=[clip.pk for clip in prompt_quality_clips(source)],
            expected=ATTENTION_EXPECTED,
            note=f"clips of {source.external_id} shown with the text of {shown.external_id}",
        )

    def check_task(self, rater: Rater, item: CheckItem, rng: random.Random) -> Task:
        clip_order = list(item.clips)
        rng.shuffle(clip_order)
        return Task.objects.create(
            rater=rater,
            kind=self.name,
            prompt=item.prompt,
            clips=clip_order,
            check_item=item,
            holds_slot=False,
        )

    def gold_item(self, study: Study, expected: Mapping[str, Any], clips: Mapping[str, list[int]]) -> tuple:
        layout = list(clips.get("clips", []))
        if not layout:
            raise ServiceError("a quality gold item needs at least one clip")
        unknown = sorted(set(expected) - set(CRITERIA))
        if unknown or not expected:
            raise ServiceError(f"expected criteria must be among {', '.join(CRITERIA)}")
        return layout, {c: expected_range(v, range(1, 6), c) for c, v in expected.items()}

    def check_passed(self, task: Task) -> bool:
        expected = task.check_item.expected
        return all(
            expected[rating.criterion][0] <= rating.score <= expected[rating.criterion][1]
            for rating in task.ratings.all()
            if rating.criterion in expected
        )

    def labels(self, task: Task) -> list[str]:
        return [clip_label(position) for position in range(len(task.clips))]

    def form(self, labels: list[str], data: Mapping | None = None) -> QualityRatingForm:
        return QualityRatingForm(data, labels=labels)

    def page_context(self, form: forms.Form, labelled: list[tuple[str, Clip]]) -> dict:
        clips = [
            {
                "label": label,
                "clip": clip,
                "scales": mark_safe(  # noqa: S308 (scale_fieldset escapes every piece)
                    "\n    ".join(scale_fieldset(form, label, criterion) for criterion in Criterion)
                ),
                **form.listening_inputs(label),
            }
            for label, clip in labelled
        ]
        criteria = [
            {"value": value, "label": label, "about": CRITERIA_ABOUT[value]}
            for value, label in CRITERIA.items()
        ]
        return {"clips": clips, "criteria": criteria, "acr_labels": sorted(ACR_LABELS.items(), reverse=True)}

    def problems_in_place(self, form: forms.Form) -> list[str]:
        return [
            missing_score(label, criterion.value)
            for label in form.labels
            for criterion in Criterion
            if form.is_bound and not form[form.score_field(label, criterion)].value()
        ]

    def problems(self, labelled: list[tuple[str, Clip]], submission: Submission) -> list[str]:
        assert isinstance(submission, QualitySubmission)
        problems = []
        labels = {label for label, _ in labelled}
        unknown = sorted({label for label, _ in submission.scores} - labels)
        if unknown:
            problems.append(f"Clip(s) {', '.join(unknown)} are not part of this task.")
        for label, _clip in labelled:
            for criterion, name in CRITERIA.items():
                score = submission.scores.get((label, criterion))
                if score is None:
                    problems.append(missing_score(label, criterion))
                elif not 1 <= score <= 5:
                    problems.append(f"Clip {label}: {name.lower()} must be between 1 and 5, not {score}.")
        return problems

    def store(
        self, task: Task, labelled: list[tuple[str, Clip]], submission: Submission, now: datetime
    ) -> plain_sql.Statement:
        assert isinstance(submission, QualitySubmission)
        return plain_sql.insert_statement(
            QualityRating,
            ["task", "clip", "criterion", "score", "created_at"],
            [
                (task.pk, clip.pk, criterion, submission.scores[(label, criterion)], now)
                for label, clip in labelled
                for criterion in CRITERIA
            ],
        )

    def answer_values(self, tasks: QuerySet[Task]) -> dict[int, list[float]]:
        values: dict[int, list[float]] = {}
        for task_id, score in QualityRating.objects.filter(task__in=tasks).values_list("task_id", "score"):
            values.setdefault(task_id, []).append(score)
        return values

    def export_rows(self, study: Study) -> list[dict]:
        ratings = (
            QualityRating.objects.filter(task__prompt__study=study, task__check_item__isnull=True)
            .select_related("task__rater", "task__prompt", "clip__variant")
            .order_by(
                "task__rater__external_id", "task__prompt__external_id", "clip__variant__name", "criterion"
            )
        )
        return [
            {
                "rater_id": rating.task.rater.external_id,
                "prompt_id": rating.task.prompt.external_id,
                "variant": rating.clip.variant.name,
                "criterion": rating.criterion,
                "score": rating.score,
                "created_at": rating.created_at.isoformat(),
            }
            for rating in ratings
        ]

    def import_row(self, found: ImportRow, state: dict) -> None:
        row, where, prompt, rater = found.row, found.where, found.prompt, found.rater
        study = prompt.study
        if row["variant"] not in state.setdefault(
            "variants", set(study.variants.values_list("name", flat=True))
        ):
            raise ImportFailed(f"{where}: variant {row['variant']!r} is not in study {study.slug}")
        if row["criterion"] not in CRITERIA:
            raise ImportFailed(f"{where}: criterion {row['criterion']!r} is not one of {', '.join(CRITERIA)}")
        score = whole_number(row["score"], "score", where)
        if not 1 <= score <= 5:
            raise ImportFailed(f"{where}: score {score} is outside 1..5")
        key = (row["rater_id"], row["prompt_id"], row["variant"], row["criterion"])
        seen = state.setdefault("seen", {})
        if key in seen:
            raise ImportFailed(f"{where}: duplicate rating {key}, first on line {seen[key]}")
        seen[key] = found.line
        clips = state.setdefault("clips", {})
        if prompt.pk not in clips:
            clips[prompt.pk] = {c.variant.name: c for c in prompt_quality_clips(prompt)}
        clip = clips[prompt.pk].get(row["variant"])
        if clip is None:
            raise ImportFailed(
                f"{where}: variant {row['variant']!r} has no clip for prompt {row['prompt_id']}"
            )
        tasks = state.setdefault("tasks", {})
        task = tasks.get((rater.pk, prompt.pk))
        if task is None:
            task = tasks[(rater.pk, prompt.pk)] = self._imported_task(found, clips[prompt.pk].values())
        if QualityRating.objects.filter(task=task, clip=clip, criterion=row["criterion"]).exists():
            raise ImportFailed(f"{where}: study {study.slug} already has the rating {key}")
        state.setdefault("ratings", []).append(
            QualityRating(
                task=task, clip=clip, criterion=row["criterion"], score=score, created_at=found.created_at
            )
        )

    def _imported_task(self, found: ImportRow, clips) -> Task:
        task = Task.objects.filter(rater=found.rater, prompt=found.prompt, kind=self.name).first()
        row = found.row
        if task is not None and task.check_item_id is not None:
            raise ImportFailed(
                f"{found.where}: rater {row['rater_id']} met prompt {row['prompt_id']} as an attention item"
            )
        if task is not None and task.status != TaskStatus.SUBMITTED:
            # Ratings added to an open item would make the rater's own submission collide later.
            raise ImportFailed(
                f"{found.where}: rater {row['rater_id']} holds prompt {row['prompt_id']} {task.status} on the "
                "platform; import their ratings under another rater_id"
            )
        if task is None:
            task = Task.objects.create(
                rater=found.rater,
                kind=self.name,
                prompt=found.prompt,
                clips=[c.pk for c in clips],
                status=TaskStatus.SUBMITTED,
                submitted_at=found.created_at,
                listening={"imported_from": found.source.name},
            )
            self.slot(task).take()
        return task

    def import_finish(self, study: Study, state: dict) -> int:
        ratings = state.get("ratings", [])
        QualityRating.objects.bulk_create(ratings)
        return len(ratings)

    def coverage(self, study: Study) -> list[dict]:
        valid = Q(
            tasks__kind=self.name,
            tasks__status=TaskStatus.SUBMITTED,
            tasks__holds_slot=True,
            tasks__check_item__isnull=True,
        )
        prompts = (
            study.prompts.filter(clips__isnull=False)
            .distinct()
            .annotate(submitted=Count("tasks", filter=valid, distinct=True))
            .order_by("external_id")
        )
        return [
            {
                "prompt_id": p.external_id,
                "item": p.text,
                "submitted": p.submitted,
                "slots_taken": p.quality_slots_taken,
            }
            for p in prompts
        ]
