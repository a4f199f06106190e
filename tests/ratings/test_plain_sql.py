"""The rater's hot reads and writes in plain SQL (ratings/plain_sql.py) give what the ORM gives: the
same instances, the same claimable items in the same order, the same stored rows."""

import pytest
from django.db.models import Model

from ratings import selectors, services
from ratings.kinds import KINDS
from ratings.models import Prompt, QualityRating, Task

from .factories import answer, make_diversity_study, make_raters

pytestmark = pytest.mark.django_db


def _fields(instance: Model) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields}


@pytest.fixture
def study(tmp_path):
    """A study with both parts, some of its items taken by three raters, one item answered."""
    study = make_diversity_study(tmp_path, prompts=4, raters_per_prompt=2)
    raters = make_raters(study, 3)
    answer(services.quality_assignment_next(rater=raters[0]), score=2)
    services.diversity_assignment_next(rater=raters[0])
    services.quality_assignment_next(rater=raters[1])
    return study


def test_a_task_with_its_rater_study_and_prompt_reads_as_the_orms(study):
    for task in Task.objects.all():
        found = selectors.rater_task(task.rater.token, task.token)
        orm = Task.objects.select_related("rater__study", "prompt").get(pk=task.pk)
        assert _fields(found) == _fields(orm)
        assert _fields(found.rater) == _fields(orm.rater)
        assert _fields(found.rater.study) == _fields(orm.rater.study)
        assert _fields(found.prompt) == _fields(orm.prompt)
        assert isinstance(found.clips, list | dict) and found.clips  # JSON, converted as the ORM does
        assert selectors.rater_task("not-the-rater", task.token) is None


def test_a_task_for_its_audio_reads_what_the_audio_needs_as_the_orm_and_defers_the_rest(study):
    from ratings.selectors.task_clips import AUDIO_RATER_FIELDS, AUDIO_TASK_FIELDS

    for task in Task.objects.exclude(clips=[]).select_related("rater"):
        found = selectors.rater_task_at(
            task.rater.token, task.token, "A1" if task.kind == "diversity" else "A"
        )
        assert found is not None and found.pk == task.pk
        for name in AUDIO_TASK_FIELDS:
            attname = Task._meta.get_field(name).attname
            assert getattr(found, attname) == getattr(task, attname)
        assert all(getattr(found.rater, name) == getattr(task.rater, name) for name in AUDIO_RATER_FIELDS)
        assert "status" in found.get_deferred_fields() and "study_id" in found.rater.get_deferred_fields()
        assert found.status == task.status  # a deferred field is still read, on use
        assert selectors.rater_task_at("not-the-rater", task.token, "A") is None
        assert selectors.rater_task_at(task.rater.token, task.token, "Z9") is None


def test_a_rater_by_token_reads_as_the_orms(study):
    for rater in study.raters.all():
        found = selectors.rater_by_token(rater.token)
        assert _fields(found) == _fields(rater) and _fields(found.study) == _fields(rater.study)
    assert selectors.rater_by_token("nobody") is None


def test_the_quality_claimable_items_count_and_order_as_the_orms(study):
    quality = KINDS["quality"]
    for rater in study.raters.all():
        orm = list(quality.claimable(rater).values_list("id", flat=True))
        assert quality._claimable_ids(rater) == orm
        assert quality.claimable_count(rater) == len(orm)
    assert any(
        quality.claimable_count(rater) < Prompt.objects.filter(study=study).count()
        for rater in study.raters.all()
    )


def test_task_briefs_and_stored_ratings_keep_their_types(study):
    rater = study.raters.order_by("id").first()
    briefs = selectors.rater_task_briefs(rater)
    orm = list(rater.tasks.order_by("created_at", "id"))
    assert [brief.id for brief in briefs] == [task.id for task in orm]
    assert [brief.created_at for brief in briefs] == [task.created_at for task in orm]  # aware datetimes
    submitted = Task.objects.get(rater=rater, kind="quality")
    assert submitted.status == "submitted" and submitted.submitted_at is not None and submitted.listening
    scores = set(QualityRating.objects.filter(task=submitted).values_list("score", flat=True))
    assert scores == {2}


def test_a_studys_clip_stats_are_remembered_for_their_lifetime_and_a_study_without_clips_is_not(
    study, monkeypatch
):
    from ratings.models import Clip, Study

    first = selectors.study_clip_stats(study)
    Clip.objects.filter(prompt__study=study).update(duration_s=9.0)  # as another process might
    assert selectors.study_clip_stats(study) == first  # remembered
    monkeypatch.setattr("ratings.selectors.queue.CLIP_STATS_SECONDS", 0.0)
    assert selectors.study_clip_stats(study)[0] == pytest.approx(9.0)  # read again once expired

    monkeypatch.setattr("ratings.selectors.queue.CLIP_STATS_SECONDS", 60.0)
    empty = Study.objects.create(slug="empty")
    assert selectors.study_clip_stats(empty) == (None, 0)
    assert all(
        key[0] != empty.pk for key in __import__("ratings.selectors.queue").selectors.queue._clip_stats
    )


def test_a_claim_and_a_submit_read_exclusion_again_under_the_lock(study):
    rater = study.raters.order_by("id").last()  # read before the exclusion below
    task = services.quality_assignment_next(rater=rater)
    stale_task = Task.objects.select_related("rater__study").get(pk=task.pk)
    services.rater_flag(rater=Task.objects.get(pk=task.pk).rater, reason="manual", detail="test")
    assert not rater.excluded  # this copy was read before the flag
    assert services.task_next(rater=rater) is None  # the claim reads exclusion again: no new work
    with pytest.raises(services.RaterExcluded):
        answer(stale_task)
    assert stale_task.status == "open"  # the caller's copy is left as it was read


def test_a_created_task_and_judgement_read_back_as_the_orm_saves_them(study):
    from ratings import plain_sql
    from ratings.models import DiversityJudgement

    source = Task.objects.filter(kind="quality").select_related("rater", "prompt").first()
    unmet = Prompt.objects.filter(study=study).exclude(tasks__rater=source.rater).first()
    fresh = Task(
        rater=source.rater,
        kind="quality",
        prompt=unmet,
        clips=[3, 1, 2],
        holds_slot=False,
        status="withdrawn",
    )
    created = plain_sql.create(fresh)
    assert created.pk and not created._state.adding
    stored = Task.objects.get(pk=created.pk)
    assert _fields(stored) == _fields(created)  # token, created_at and the defaults as save() would make
    assert stored.clips == [3, 1, 2] and stored.holds_slot is False and stored.created_at is not None
    diversity = Task.objects.filter(kind="diversity").first()
    variant = study.variants.first()
    judgement = plain_sql.create(
        DiversityJudgement(task=diversity, variant_a=variant, variant_b=variant, choice=-2)
    )
    assert _fields(DiversityJudgement.objects.get(pk=diversity.pk)) == _fields(judgement)


def test_a_database_without_returning_gives_the_new_key_from_its_rowid(study, monkeypatch):
    from django.db import connection

    from ratings import plain_sql

    if connection.vendor != "sqlite":
        pytest.skip("SQLite before 3.35 is the database without RETURNING")
    monkeypatch.setattr(connection.features, "can_return_columns_from_insert", False)
    source = Task.objects.filter(kind="quality").select_related("rater").first()
    unmet = Prompt.objects.filter(study=study).exclude(tasks__rater=source.rater).first()
    created = plain_sql.create(
        Task(rater=source.rater, kind="quality", prompt=unmet, clips=[1], status="withdrawn")
    )
    assert Task.objects.get(pk=created.pk).prompt_id == unmet.pk


@pytest.mark.postgres  # also on PostgreSQL, whose claim is one statement of its own (create_from)
@pytest.mark.parametrize("returning", [True, False], ids=["one statement", "without RETURNING"])
def test_a_quality_claim_takes_the_least_covered_prompt_and_its_slot(study, monkeypatch, returning):
    from django.db import connection

    if not returning and connection.vendor != "sqlite":
        pytest.skip("SQLite before 3.35 is the database without RETURNING")
    from ratings.kinds.quality import prompt_quality_clip_ids

    quality = KINDS["quality"]
    monkeypatch.setattr(connection.features, "can_return_columns_from_insert", returning)
    rater = make_raters(study, 1)[0]
    services.rater_consent(rater=rater)
    expected = quality._claimable_ids(rater)[0]
    slots = Prompt.objects.get(pk=expected).quality_slots_taken
    task = quality.claim(rater)
    assert task.prompt_id == expected and Task.objects.get(pk=task.pk).rater_id == rater.pk
    assert Prompt.objects.get(pk=expected).quality_slots_taken == slots + 1
    assert expected not in quality._claimable_ids(rater)  # met now
    assert _fields(Task.objects.get(pk=task.pk)) == _fields(task)  # as stored, whichever statement made it
    assert sorted(task.clips) == prompt_quality_clip_ids(expected)  # one clip of each variant


@pytest.mark.postgres
def test_briefs_with_progress_in_one_statement_read_as_the_two_reads_apart(study):
    """rater_briefs_and_progress folds the quality part's claimable count into the briefs' statement
    (the diversity part counts apart): the same briefs and progress as rater_task_briefs and
    rater_progress, for raters with tasks and one with none."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    (fresh,) = make_raters(study, 1)
    for rater in study.raters.select_related("study").order_by("id"):
        apart = (selectors.rater_task_briefs(rater), selectors.rater_progress(rater))
        with CaptureQueriesContext(connection) as captured:
            together = selectors.rater_briefs_and_progress(rater)
        assert together == apart
        counted_apart = [query for query in captured if query["sql"].startswith("SELECT COUNT(*) FROM")]
        assert counted_apart == [] and len(captured) <= 2  # the diversity part's count, on its own
    assert selectors.rater_briefs_and_progress(fresh)[0] == []
    assert selectors.rater_briefs_and_progress(fresh)[1].total > 0
