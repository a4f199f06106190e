from collections import Counter

import pytest

from ratings import selectors, services
from ratings.models import Clip, Prompt, QualityRating, Study, Task, TaskStatus

from .factories import full_submission, make_raters, make_study

pytestmark = pytest.mark.django_db


def _rate_everything(rater):
    taken = []
    while (assignment := services.quality_assignment_next(rater=rater)) is not None:
        services.task_submit(task=assignment, submission=full_submission(assignment))
        taken.append(assignment.prompt.external_id)
    return taken


def test_each_prompt_reaches_exactly_n_distinct_raters_and_no_rater_gets_a_prompt_twice(tmp_path):
    study = make_study(tmp_path, prompts=5, raters_per_prompt=3)
    taken_by = {rater.external_id: _rate_everything(rater) for rater in make_raters(study, 7)}

    coverage = Counter(prompt for prompts in taken_by.values() for prompt in prompts)
    assert coverage == {f"p{p:03d}": 3 for p in range(5)}
    for prompts in taken_by.values():
        assert len(prompts) == len(set(prompts))
    assert selectors.study_coverage(study) == {f"p{p:03d}": 3 for p in range(5)}


def test_next_prompt_is_the_least_covered_one_the_rater_has_not_rated(tmp_path):
    study = make_study(tmp_path, prompts=3, raters_per_prompt=3)
    first, second, third = make_raters(study, 3)
    a1 = services.quality_assignment_next(rater=first)
    a2 = services.quality_assignment_next(rater=second)
    a3 = services.quality_assignment_next(rater=third)
    # Three raters asking at once spread over the three uncovered prompts.
    assert len({a1.prompt_id, a2.prompt_id, a3.prompt_id}) == 3
    services.task_submit(task=a1, submission=full_submission(a1))
    # The first rater's next prompt is one of the two it has not had, never its own again.
    assert services.quality_assignment_next(rater=first).prompt_id in {a2.prompt_id, a3.prompt_id}


def test_a_rater_holds_one_open_assignment_and_asking_again_returns_it(tmp_path):
    study = make_study(tmp_path, prompts=3)
    (rater,) = make_raters(study, 1)
    first = services.quality_assignment_next(rater=rater)
    assert services.quality_assignment_next(rater=rater) == first
    assert Task.objects.filter(kind="quality").filter(rater=rater, status=TaskStatus.OPEN).count() == 1


def test_nothing_left_returns_none(tmp_path):
    study = make_study(tmp_path, prompts=2, raters_per_prompt=1)
    first, second = make_raters(study, 2)
    assert _rate_everything(first) == ["p000", "p001"]
    assert services.quality_assignment_next(rater=second) is None
    assert selectors.rater_progress(second).total == 0


@pytest.mark.postgres  # also on PostgreSQL, whose claims draw the order in their statement (random())
def test_clip_order_is_random_per_assignment_and_fixed_once_made(tmp_path):
    study = make_study(tmp_path, prompts=1, variants=[f"v{i}" for i in range(6)], raters_per_prompt=30)
    orders = set()
    for rater in make_raters(study, 30):
        assignment = services.quality_assignment_next(rater=rater)
        assert sorted(assignment.clips) == sorted(
            c.pk for c in selectors.prompt_quality_clips(assignment.prompt)
        )
        assert services.quality_assignment_next(rater=rater).clips == assignment.clips
        orders.add(tuple(assignment.clips))
    assert len(orders) > 10  # 720 orders possible: 30 raters sharing ≤10 of them would not be random


def test_quality_clips_are_one_per_variant_with_the_lowest_sample_index(tmp_path):
    from .factories import clip_rows, write_manifest

    services.clips_import(
        # imported last first: the lowest sample index is each variant's newest clip, its highest id
        study_slug="s",
        manifest=write_manifest(tmp_path, clip_rows(tmp_path, 1, ["a", "b"], 3)[::-1]),
    )
    clips = selectors.prompt_quality_clips(Prompt.objects.get())
    assert sorted((c.variant.name, c.sample_index) for c in clips) == [("a", 0), ("b", 0)]


@pytest.mark.postgres  # also on PostgreSQL, whose claims choose the clips in their statement
def test_a_claimed_task_shows_each_variants_lowest_sample_index(tmp_path):
    from .factories import clip_rows, write_manifest

    services.clips_import(
        # imported last first: the lowest sample index is each variant's newest clip, its highest id
        study_slug="s",
        manifest=write_manifest(tmp_path, clip_rows(tmp_path, 1, ["a", "b"], 3)[::-1]),
    )
    (rater,) = make_raters(Study.objects.get(slug="s"), 1)
    task = services.quality_assignment_next(rater=rater)
    shown = Clip.objects.filter(pk__in=task.clips).select_related("variant")
    assert sorted((c.variant.name, c.sample_index) for c in shown) == [("a", 0), ("b", 0)]


def test_complete_submission_stores_three_scores_per_clip_once(tmp_path):
    study = make_study(tmp_path, prompts=1)
    (rater,) = make_raters(study, 1)
    assignment = services.quality_assignment_next(rater=rater)
    result = services.task_submit(task=assignment, submission=full_submission(assignment, score=5))
    assert not result.already_submitted
    assert QualityRating.objects.filter(task=assignment, score=5).count() == 3 * 3
    assignment.refresh_from_db()
    assert assignment.status == TaskStatus.SUBMITTED
    assert set(assignment.listening) == {"A", "B", "C"} and assignment.listening["A"]["ended"] is True


def test_second_submission_is_idempotent_and_changes_nothing(tmp_path):
    study = make_study(tmp_path, prompts=1)
    (rater,) = make_raters(study, 1)
    assignment = services.quality_assignment_next(rater=rater)
    services.task_submit(task=assignment, submission=full_submission(assignment, score=2))
    again = services.task_submit(task=assignment, submission=full_submission(assignment, score=5))
    assert again.already_submitted
    assert set(QualityRating.objects.values_list("score", flat=True)) == {2}


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda s: s.scores.pop(("B", "musicality")), "Clip B: choose a score for musicality"),
        (lambda s: s.scores.update({("A", "text_adherence"): 6}), "between 1 and 5, not 6"),
        (lambda s: s.scores.update({("A", "acoustic_quality"): 0}), "between 1 and 5, not 0"),
        (lambda s: s.listening["C"].__setattr__("ended", False), "Clip C: play it to the end"),
        (lambda s: s.listening["A"].__setattr__("seconds", 0.2), "Clip A: play it to the end"),
        (lambda s: s.scores.update({("Z", "musicality"): 3}), "Z are not part of this task"),
    ],
)
def test_incomplete_or_out_of_range_submission_is_rejected_and_nothing_is_saved(tmp_path, spoil, message):
    study = make_study(tmp_path, prompts=1)
    (rater,) = make_raters(study, 1)
    assignment = services.quality_assignment_next(rater=rater)
    submission = full_submission(assignment)
    spoil(submission)
    with pytest.raises(services.SubmissionRejected) as rejected:
        services.task_submit(task=assignment, submission=submission)
    assert any(message in problem for problem in rejected.value.problems)
    assert not QualityRating.objects.exists()
    assignment.refresh_from_db()
    assert assignment.status == TaskStatus.OPEN


def test_score_outside_1_to_5_is_refused_by_the_database_too(tmp_path):
    from django.db import IntegrityError, transaction

    study = make_study(tmp_path, prompts=1)
    (rater,) = make_raters(study, 1)
    assignment = services.quality_assignment_next(rater=rater)
    clip = selectors.prompt_quality_clips(assignment.prompt)[0]
    with pytest.raises(IntegrityError), transaction.atomic():
        QualityRating.objects.create(
            task=assignment,
            clip=clip,
            criterion="musicality",
            score=9,
            created_at=assignment.created_at,
        )


def test_a_second_rating_of_the_same_clip_and_criterion_is_refused_by_the_database(tmp_path):
    from django.db import IntegrityError, transaction

    study = make_study(tmp_path, prompts=1)
    (rater,) = make_raters(study, 1)
    assignment = services.quality_assignment_next(rater=rater)
    services.task_submit(task=assignment, submission=full_submission(assignment))
    rating = QualityRating.objects.first()
    with pytest.raises(IntegrityError), transaction.atomic():
        QualityRating.objects.create(
            task=assignment,
            clip=rating.clip,
            criterion=rating.criterion,
            score=1,
            created_at=rating.created_at,
        )
