"""The quality study's concurrency guarantees, for diversity comparisons and mixed studies, on PostgreSQL.

Run with DATABASE_URL=postgres://postgres@127.0.0.1:5432/counterpoint.
"""

import contextlib
from collections import Counter

import pytest
from django.db import connection

from ratings import services
from ratings.models import RaterFlag, Task, TaskStatus

from .factories import answer, make_diversity_study, make_raters
from .test_concurrency_postgres import _all_at_once

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs DATABASE_URL=postgres://… (make test sets it)"
    ),
]


def test_24_raters_judging_at_once_never_push_a_comparison_past_n(tmp_path):
    study = make_diversity_study(
        tmp_path, prompts=3, variants=("a", "b", "c"), raters_per_prompt=3, quality_part=False
    )
    raters = make_raters(study, 24)

    def judge_until_done(i: int) -> None:
        while (assignment := services.diversity_assignment_next(rater=raters[i])) is not None:
            answer(assignment, choice=i % 5 - 2)

    assert _all_at_once(24, judge_until_done) == []
    coverage = Counter(Task.objects.filter(kind="diversity").values_list("comparison_id", flat=True))
    assert len(coverage) == 9 and set(coverage.values()) == {3}
    pairs = list(Task.objects.filter(kind="diversity").values_list("rater_id", "comparison_id"))
    assert len(pairs) == len(set(pairs))
    assert set(study.diversity_comparisons.values_list("slots_taken", flat=True)) == {3}


def test_one_rater_asking_from_many_tabs_at_once_gets_one_open_comparison(tmp_path):
    study = make_diversity_study(tmp_path, prompts=4, variants=("a", "b"), quality_part=False)
    (rater,) = make_raters(study, 1)
    handed_out = []

    assert _all_at_once(16, lambda i: handed_out.append(services.task_next(rater=rater).pk)) == []
    assert len(set(handed_out)) == 1
    assert Task.objects.filter(kind="diversity").filter(rater=rater, status=TaskStatus.OPEN).count() == 1
    assert sum(study.diversity_comparisons.values_list("slots_taken", flat=True)) == 1


def test_raters_of_a_mixed_study_at_once_fill_both_parts_to_exactly_n(tmp_path):
    study = make_diversity_study(tmp_path, prompts=3, variants=("a", "b"), raters_per_prompt=2)
    raters = make_raters(study, 12)

    def work_until_done(i: int) -> None:
        while (assignment := services.task_next(rater=raters[i])) is not None:
            answer(assignment, score=1 + i % 5, choice=i % 5 - 2)

    assert _all_at_once(12, work_until_done) == []
    assert (
        Counter(Task.objects.filter(kind="quality").values_list("prompt_id", flat=True)).most_common()[-1][1]
        == 2
    )
    assert set(Counter(Task.objects.filter(kind="quality").values_list("prompt_id", flat=True)).values()) == {
        2
    }
    assert set(
        Counter(Task.objects.filter(kind="diversity").values_list("comparison_id", flat=True)).values()
    ) == {2}


def test_excluding_raters_while_others_work_still_gets_every_comparison_n_valid_raters(tmp_path):
    study = make_diversity_study(
        tmp_path, prompts=3, variants=("a", "b"), raters_per_prompt=2, quality_part=False
    )
    raters = make_raters(study, 8)
    bad = set(range(4))

    def work(i: int) -> None:
        while (assignment := services.diversity_assignment_next(rater=raters[i])) is not None:
            answer(assignment)
            if i in bad:
                services.rater_flag(rater=raters[i], reason=RaterFlag.Reason.MANUAL, detail="test")
                return

    assert _all_at_once(8, work) == []
    # Raters who were still working may now pick up what the excluded ones gave back.
    for i in sorted(set(range(8)) - bad):
        work(i)
    valid = (
        Task.objects.filter(kind="diversity")
        .filter(status=TaskStatus.SUBMITTED, holds_slot=True)
        .exclude(rater__flags__active=True)
    )
    assert set(Counter(valid.values_list("comparison_id", flat=True)).values()) == {2}
    assert set(study.diversity_comparisons.values_list("slots_taken", flat=True)) == {2}


def test_excluding_a_rater_while_they_fail_an_attention_item_never_deadlocks(tmp_path):
    study = make_diversity_study(
        tmp_path, prompts=2, variants=("a", "b"), raters_per_prompt=3, quality_part=False, attention_rate=1.0
    )
    raters = make_raters(study, 6)
    checks = [services.task_next(rater=rater) for rater in raters]
    assert all(check.check_item_id for check in checks)

    def race(i: int) -> None:
        rater, check = raters[i // 2], checks[i // 2]
        if i % 2:
            services.rater_flag(rater=rater, reason=RaterFlag.Reason.MANUAL, detail="race")
            return
        twin_is_a = check.clips[:2][0] == check.clips[:2][1]
        # The identical pair judged more diverse: a failure. If the exclusion came first, it is refused.
        with contextlib.suppress(services.RaterExcluded):
            answer(check, choice=-2 if twin_is_a else 2)

    assert _all_at_once(12, race) == []
    assert all(rater.flags.filter(active=True).exists() for rater in raters)
    assert not Task.objects.filter(kind="diversity").filter(status=TaskStatus.OPEN).exists()
