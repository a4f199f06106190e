"""Rater screening and exclusion flags: computed, shown, reversible; nothing deleted; prompts go back to the pool."""

import csv
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from ratings import selectors, services
from ratings.models import DiversityJudgement, QualityRating, RaterFlag, Task, TaskStatus

from .factories import answer, full_submission, make_diversity_study, make_raters, make_study

pytestmark = pytest.mark.django_db


def _take_time(assignment, minutes=5):
    """Pretend the rater spent a while on the item, as a careful listener does."""
    type(assignment).objects.filter(pk=assignment.pk).update(
        created_at=F("created_at") - timedelta(minutes=minutes)
    )


def _work(rater, scores=(4,), choices=(1,), slowly=True, limit=None):
    done = 0
    while (limit is None or done < limit) and (assignment := services.task_next(rater=rater)) is not None:
        if slowly:
            _take_time(assignment)
        answer(assignment, score=scores[done % len(scores)], choice=choices[done % len(choices)])
        done += 1
    return done


def _reasons(rater):
    return {flag.reason for flag in rater.flags.filter(active=True)}


def test_a_careful_varied_rater_is_not_flagged(tmp_path):
    study = make_diversity_study(tmp_path, prompts=3, variants=("a", "b"))
    (rater,) = make_raters(study, 1)
    _work(rater, scores=(1, 3, 5), choices=(-2, 0, 2))
    assert services.raters_screen(study=study) == [] and not rater.flags.exists()


def test_straight_lining_on_quality_scores_is_flagged(tmp_path):
    study = make_study(tmp_path, prompts=4)
    steady, varied = make_raters(study, 2)
    _work(steady, scores=(4,))
    _work(varied, scores=(2, 5))
    flagged = services.raters_screen(study=study)
    assert [(f.rater, f.reason) for f in flagged] == [(steady, RaterFlag.Reason.STRAIGHT_LINING)]
    assert "quality scores vary by 0.00 over 4 items" in flagged[0].detail


def test_straight_lining_on_diversity_answers_is_flagged(tmp_path):
    study = make_diversity_study(tmp_path, prompts=3, variants=("a", "b"), quality_part=False)
    (rater,) = make_raters(study, 1)
    _work(rater, choices=(0,))
    services.raters_screen(study=study)
    assert _reasons(rater) == {RaterFlag.Reason.STRAIGHT_LINING}
    assert "diversity answers vary by 0.00" in rater.flags.get().detail


def test_straight_lining_is_not_judged_on_too_few_items(tmp_path):
    study = make_study(tmp_path, prompts=2)
    (rater,) = make_raters(study, 1)
    _work(rater, scores=(4,))
    assert services.raters_screen(study=study) == []


def test_submitting_faster_than_the_clips_play_is_flagged(tmp_path):
    study = make_study(tmp_path, prompts=3, seconds=2.0)
    hasty, careful = make_raters(study, 2)
    _work(hasty, scores=(1, 5), slowly=False)
    _work(careful, scores=(1, 5), slowly=True)
    services.raters_screen(study=study)
    assert _reasons(hasty) == {RaterFlag.Reason.TOO_FAST} and _reasons(careful) == set()
    assert "3 item(s) submitted faster than their clips play" in hasty.flags.get().detail
    assert "for 6.0 s of audio" in hasty.flags.get().detail


def test_a_rater_who_stopped_after_too_few_items_is_flagged_once_idle(tmp_path):
    study = make_study(tmp_path, prompts=5)
    quitter, active = make_raters(study, 2)
    _work(quitter, scores=(2, 4), limit=1)
    _work(active, scores=(2, 4), limit=1)
    long_ago = timezone.now() - timedelta(hours=2)
    Task.objects.filter(kind="quality").filter(rater=quitter).update(
        created_at=long_ago - timedelta(minutes=5), submitted_at=long_ago
    )
    services.raters_screen(study=study)
    assert _reasons(quitter) == {RaterFlag.Reason.TOO_FEW_ITEMS} and _reasons(active) == set()
    assert "stopped after 1 item(s); the study asks for at least 3" in quitter.flags.get().detail


def test_a_rater_who_did_everything_there_was_is_never_too_few(tmp_path):
    study = make_study(tmp_path, prompts=2)
    (rater,) = make_raters(study, 1)
    _work(rater, scores=(2, 4))
    Task.objects.filter(kind="quality").update(created_at=timezone.now() - timedelta(hours=3))
    Task.objects.filter(kind="quality").update(submitted_at=timezone.now() - timedelta(hours=2))
    assert services.raters_screen(study=study) == []


def test_an_excluded_raters_prompts_go_back_to_the_pool_and_still_reach_n_valid_raters(tmp_path):
    study = make_study(tmp_path, prompts=2, raters_per_prompt=2)
    first, second, third = make_raters(study, 3)
    _work(first, scores=(4,), slowly=False)
    _work(second, scores=(1, 5))
    assert services.task_next(rater=third) is None  # both prompts full
    services.raters_screen(study=study)
    assert _reasons(first) == {RaterFlag.Reason.TOO_FAST}
    assert set(study.prompts.values_list("quality_slots_taken", flat=True)) == {1}
    assert selectors.study_coverage(study) == {"p000": 1, "p001": 1}
    assert _work(third, scores=(2, 3)) == 2
    assert selectors.study_coverage(study) == {"p000": 2, "p001": 2}
    assert QualityRating.objects.filter(task__rater=first).count() == 2 * 3 * 3  # nothing deleted


def test_an_excluded_rater_cannot_continue(client, tmp_path):
    study = make_diversity_study(tmp_path, prompts=2, variants=("a", "b"), quality_part=False)
    (rater,) = make_raters(study, 1)
    open_item = services.task_next(rater=rater)
    services.rater_flag(rater=rater, reason=RaterFlag.Reason.MANUAL, detail="seen cheating")
    open_item.refresh_from_db()
    assert open_item.status == TaskStatus.WITHDRAWN and not open_item.holds_slot
    assert set(study.diversity_comparisons.values_list("slots_taken", flat=True)) == {0}
    assert services.task_next(rater=rater) is None
    with pytest.raises(services.RaterExcluded):
        services.task_submit(task=open_item, submission=None)
    for url in (
        reverse("ratings:rater_home", args=[rater.token]),
        reverse("ratings:rater_next", args=[rater.token]),
        reverse("ratings:task", args=[rater.token, "diversity", open_item.token]),
        reverse("ratings:rater_done", args=[rater.token]),
    ):
        response = client.get(url)
        assert response.status_code == 403 and "You can no longer take part" in response.content.decode()
    response = client.post(
        reverse("ratings:task", args=[rater.token, "diversity", open_item.token]), {"choice": "1"}
    )
    assert response.status_code == 403
    assert not DiversityJudgement.objects.exists()


def test_lifting_a_flag_lets_the_rater_count_and_continue_and_screening_leaves_it_lifted(tmp_path):
    study = make_study(tmp_path, prompts=3, raters_per_prompt=1)
    (rater,) = make_raters(study, 1)
    _work(rater, scores=(3,), limit=2, slowly=False)
    (flag,) = services.raters_screen(study=study)
    assert selectors.study_coverage(study) == {"p000": 0, "p001": 0, "p002": 0}
    services.rater_flag_lift(flag=flag, by="alice")
    flag.refresh_from_db()
    assert not flag.active and flag.lifted_by == "alice" and flag.lifted_at is not None
    assert sum(selectors.study_coverage(study).values()) == 2
    assert services.raters_screen(study=study) == [] and not selectors.rater_is_excluded(rater)
    assert services.task_next(rater=rater) is not None


def test_a_rater_with_two_flags_stays_excluded_until_both_are_lifted(tmp_path):
    study = make_study(tmp_path, prompts=3)
    (rater,) = make_raters(study, 1)
    _work(rater, scores=(3,), slowly=False)
    flags = services.raters_screen(study=study)
    assert {f.reason for f in flags} == {RaterFlag.Reason.TOO_FAST, RaterFlag.Reason.STRAIGHT_LINING}
    services.rater_flag_lift(flag=flags[0])
    assert selectors.rater_is_excluded(rater) and sum(selectors.study_coverage(study).values()) == 0
    services.rater_flag_lift(flag=flags[1])
    assert not selectors.rater_is_excluded(rater) and sum(selectors.study_coverage(study).values()) == 3


def _read(path):
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_export_leaves_excluded_raters_out_unless_asked_and_lists_the_flags(tmp_path):
    study = make_diversity_study(tmp_path, prompts=2, variants=("a", "b"), raters_per_prompt=2)
    kept, dropped = make_raters(study, 2)
    _work(kept, scores=(1, 5), choices=(-2, 2))
    _work(dropped, scores=(1, 5), choices=(-2, 2))
    services.rater_flag(rater=dropped, reason=RaterFlag.Reason.MANUAL, detail="asked to be removed")
    assert selectors.study_excluded_rater_ids(study) == {dropped.external_id}
    assert {r["rater_id"] for r in selectors.study_quality_rows(study)} == {
        kept.external_id,
        dropped.external_id,
    }

    call_command("export_results", "--study", study.slug, "--out", str(tmp_path / "out"))
    assert {r["rater_id"] for r in _read(tmp_path / "out" / "ratings.csv")} == {kept.external_id}
    assert {r["rater_id"] for r in _read(tmp_path / "out" / "diversity.csv")} == {kept.external_id}
    (flag,) = _read(tmp_path / "out" / "rater_flags.csv")
    assert flag["rater_id"] == dropped.external_id and flag["reason"] == "manual" and flag["active"] == "True"

    call_command(
        "export_results", "--study", study.slug, "--out", str(tmp_path / "all"), "--include-excluded"
    )
    assert len({r["rater_id"] for r in _read(tmp_path / "all" / "ratings.csv")}) == 2
    assert len({r["rater_id"] for r in _read(tmp_path / "all" / "diversity.csv")}) == 2


def test_screen_raters_command_prints_the_new_flags(tmp_path, capsys):
    study = make_study(tmp_path, prompts=3)
    (rater,) = make_raters(study, 1)
    _work(rater, scores=(1, 5), slowly=False)
    call_command("screen_raters", "--study", study.slug)
    out = capsys.readouterr().out
    assert f"{rater.external_id}\ttoo_fast\t" in out and "1 rater(s) excluded" in out


def test_reopening_an_abandoned_item_frees_its_slot_for_another_rater(tmp_path):
    study = make_study(tmp_path, prompts=1, raters_per_prompt=1)
    leaver, newcomer = make_raters(study, 2)
    abandoned = services.task_next(rater=leaver)
    assert services.task_next(rater=newcomer) is None
    assert services.task_reopen(task=abandoned) is True
    assert services.task_reopen(task=abandoned) is False
    abandoned.refresh_from_db()
    assert abandoned.status == TaskStatus.WITHDRAWN
    replacement = services.task_next(rater=newcomer)
    assert replacement.prompt == abandoned.prompt
    with pytest.raises(services.SubmissionRejected, match="withdrawn"):
        services.task_submit(task=abandoned, submission=full_submission(abandoned))


@pytest.mark.parametrize("raters", [2, 8])
def test_screening_a_study_reads_it_in_a_bounded_number_of_queries_however_many_raters_and_items(
    tmp_path, django_assert_max_num_queries, raters
):
    study = make_diversity_study(
        tmp_path, prompts=4, raters_per_prompt=raters, attention_rate=0.2, attention_failures_allowed=10
    )
    for rater in make_raters(study, raters):
        for _ in range(6):
            task = services.task_next(rater=rater)
            if task is not None:
                answer(task, score=3, choice=0)  # the same answer every time: straight-lining
    services.raters_screen(study=study)
    with django_assert_max_num_queries(12):
        findings = selectors.study_screening_findings(study)
    reasons = {reason for found in findings.values() for reason, _ in found}
    assert {RaterFlag.Reason.STRAIGHT_LINING, RaterFlag.Reason.TOO_FAST} <= reasons
    with django_assert_max_num_queries(14):
        assert services.raters_screen(study=study) == []  # flagged already: nothing new, nothing written
