"""The interface every task kind implements, and what the kinds share.

A kind is one module (ratings/kinds/quality.py, diversity.py) with one subclass of TaskKind,
registered in ratings/kinds/__init__.py. The claim queue, the submission, the task page, screening,
the dashboard, import/export and the admin reach a kind only through these methods.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django import forms
from django.db.models import F, QuerySet

from .. import plain_sql
from ..clip_rows import clips_by_id
from ..errors import ImportFailed, ServiceError
from ..listening import ClipListening
from ..models import CheckItem, Clip, Prompt, Rater, Study, Task


@dataclass(frozen=True)
class KindWords:
    """What the pages and messages call a kind's things."""

    rows: str  # its exported rows ("2 of 4 ratings")
    answers: str  # its answers, in the straight-lining rule ("quality scores vary by …")
    hint: str  # above the clips
    submit: str  # the submit button


@dataclass
class Submission:
    """A rater's answer to one task: the kind's answer and the listening evidence per clip label."""

    listening: Mapping[str, ClipListening] = field(default_factory=dict)


@dataclass
class ImportRow:
    """One row of an imported file, its checks common to every kind done: where it is, its prompt,
    its rater (created if new) and when it was answered."""

    line: int
    where: str
    row: dict[str, str]
    prompt: Prompt
    rater: Rater
    created_at: datetime
    source: Path


@dataclass
class Slot:
    """The counter a task holds a slot of: the row (prompt or comparison) and its field."""

    queryset: QuerySet
    counter: str

    def take(self) -> None:
        self.queryset.update(**{self.counter: F(self.counter) + 1})

    def take_if_free(self, limit: int) -> bool:
        """Take a slot only while fewer than `limit` are taken (a conditional UPDATE); whether it was."""
        free = self.queryset.filter(**{f"{self.counter}__lt": limit})
        return bool(free.update(**{self.counter: F(self.counter) + 1}))

    def give_back(self) -> None:
        self.queryset.update(**{self.counter: F(self.counter) - 1})


class TaskKind(ABC):
    name: str
    # The export file and its columns (MISSION.md §5).
    export_file: str
    columns: tuple[str, ...]
    words: KindWords

    # The model of the answer beside the task (shown read-only by the admin).
    detail_model: type

    @property
    def label(self) -> str:
        return self.name.capitalize()

    @property
    def template(self) -> str:
        """The kind's block of ratings/task.html: the clips and the answer's inputs."""
        return f"ratings/kinds/{self.name}.html"

    @property
    def instructions_template(self) -> str:
        """The kind's paragraph of the instructions page."""
        return f"ratings/kinds/{self.name}_instructions.html"

    # Whether a check of this kind uses up an item the rater could have done (rater_progress).
    check_spends_an_item: bool = False

    # --- planning and claiming -------------------------------------------------------------------

    def part_of(self, study: Study) -> bool:
        """Whether the study has this part: its Study.<name>_part switch."""
        return getattr(study, f"{self.name}_part")

    def all_items(self, study: Study) -> set[int]:
        """Ids of every item a rater of the study could meet, claimable or not (only needed by kinds
        whose check spends an item)."""
        raise NotImplementedError

    @abstractmethod
    def claimable(self, rater: Rater) -> QuerySet:
        """The items (prompts, comparisons) with a free slot the rater has not had, least covered first."""

    def claimable_count(self, rater: Rater) -> int:
        """How many items claimable(rater) holds (the task page's progress asks on every page)."""
        return self.claimable(rater).count()

    def claimable_count_statement(self, rater: Rater) -> plain_sql.Statement | None:
        """claimable_count(rater) as a plain SELECT of one number, which a reader may fold into a
        statement of its own (selectors.rater_briefs_and_progress), or None for a kind that counts only
        through claimable_count."""
        return None

    @abstractmethod
    def open_items(self, study: Study) -> set[int]:
        """Ids of the study's items with a free slot (the dashboard's bulk form of claimable)."""

    @abstractmethod
    def item_of(self, task: Task) -> int | None:
        """The id of the item a task was claimed on (what claimable leaves out once met)."""

    @abstractmethod
    def claim(self, rater: Rater) -> Task | None:
        """Take a slot of the least-covered claimable item (a conditional UPDATE) and make the task."""

    @abstractmethod
    def slot(self, task: Task) -> Slot | None:
        """The counter the task holds a slot of, or None (checks, imported rows without a plan)."""

    # --- attention and gold items ----------------------------------------------------------------

    @abstractmethod
    def attention_item(self, rater: Rater, rng: random.Random) -> CheckItem | None:
        """A fresh item with a known answer, made for this rater, or None when none fits."""

    @abstractmethod
    def check_task(self, rater: Rater, item: CheckItem, rng: random.Random) -> Task:
        """The task that shows a check item to a rater."""

    @abstractmethod
    def gold_item(self, study: Study, expected: Mapping[str, Any], clips: Mapping[str, list[int]]) -> tuple:
        """(clip layout, expected answer) of a researcher's gold item, checked; ServiceError if wrong."""

    @abstractmethod
    def check_passed(self, task: Task) -> bool:
        """Whether the stored answer of a check task lies within the expected range."""

    # --- what the rater sees and answers ---------------------------------------------------------

    @abstractmethod
    def labels(self, task: Task) -> list[str]:
        """The positions of the task's clips, in order (A, B, C… or A1, A2, B1, B2)."""

    def clips_in_order(self, task: Task) -> list[tuple[str, Clip]]:
        # Read once per process (ratings/clip_rows.py): the task page and the submit both read them.
        clips = clips_by_id(task.clips)
        return [(label, clips[clip_id]) for label, clip_id in zip(self.labels(task), task.clips, strict=True)]

    @abstractmethod
    def form(self, labels: list[str], data: Mapping | None = None) -> forms.Form:
        """The task page's form: the answer and the listening evidence of each label."""

    @abstractmethod
    def page_context(self, form: forms.Form, labelled: list[tuple[str, Clip]]) -> dict:
        """What the kind's block of the page shows besides the prompt."""

    def problems_in_place(self, form: forms.Form) -> list[str]:
        """Of a submitted form, the problems the kind's block marks beside their inputs (unanswered
        scales), which the page's list at the top then leaves out."""
        return []

    @abstractmethod
    def problems(self, labelled: list[tuple[str, Clip]], submission: Submission) -> list[str]:
        """What is wrong with the answer itself (listening evidence is checked by the caller)."""

    @abstractmethod
    def store(
        self, task: Task, labelled: list[tuple[str, Clip]], submission: Submission, now: datetime
    ) -> plain_sql.Statement:
        """The INSERT of the answer's detail beside the task (ratings/plain_sql.py), which the caller
        runs with its UPDATE that marks the task submitted: one round trip for both on PostgreSQL."""

    # --- quality control, export, import ---------------------------------------------------------

    @abstractmethod
    def answer_values(self, tasks: QuerySet[Task]) -> dict[int, list[float]]:
        """Task id → its answers as numbers, for the straight-lining rule (one query for many tasks)."""

    @abstractmethod
    def export_rows(self, study: Study) -> list[dict]:
        """Every answer of the study in the kind's export format; checks never appear."""

    @abstractmethod
    def import_row(self, found: ImportRow, state: dict) -> None:
        """Check and store one imported row (ImportFailed naming the line); state lives for one file."""

    def import_finish(self, study: Study, state: dict) -> int:
        """After the last row: write what was gathered; the number of answers imported."""
        return state.get("created", 0)

    @abstractmethod
    def coverage(self, study: Study) -> list[dict]:
        """Per planned item: what it is, valid submitted tasks and slots taken (the dashboard)."""


def expected_range(low_high, scale: range, what: str) -> list[int]:
    """[low, high] of a check item's expected answer, refused unless it lies within the scale."""
    low, high = low_high
    if low > high or low not in scale or high not in scale:
        raise ServiceError(
            f"{what}: expected range {low}..{high} must lie within {scale.start}..{scale.stop - 1}"
        )
    return [low, high]


def whole_number(value: str, column: str, where: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ImportFailed(f"{where}: {column} {value!r} is not a whole number") from None
