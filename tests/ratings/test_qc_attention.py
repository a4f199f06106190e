"""Attention items and gold items: mixed into the queue, indistinguishable, scored, never exported."""

import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from ratings import selectors, services
from ratings.models import CheckItem, RaterFlag, Study, Task

from .factories import answer, full_judgement, full_submission, make_diversity_study, make_raters, make_study

pytestmark = pytest.mark.django_db


def _quality_study(tmp_path, **settings):
    study = make_study(tmp_path, prompts=4, raters_per_prompt=3)
    for name, value in settings.items():
        setattr(study, name, value)
    study.save()
    return study


def _strict_diversity_study(tmp_path):
    """A diversity-only study where every item is a check and a single miss excludes."""
    return make_diversity_study(
        tmp_path,
        prompts=2,
        variants=("a", "b"),
        quality_part=False,
        attention_rate=1.0,
        attention_failures_allowed=0,
    )


def _submit_quality(assignment, text_adherence):
    submission = full_submission(assignment, score=3)
    for label, _ in selectors.task_clips_in_order(assignment):
        submission.scores[(label, "text_adherence")] = text_adherence
    return services.task_submit(task=assignment, submission=submission)


def test_no_attention_items_at_the_default_rate(tmp_path):
    study = make_study(tmp_path, prompts=3)
    (rater,) = make_raters(study, 1)
    while (assignment := services.task_next(rater=rater)) is not None:
        answer(assignment)
    assert not CheckItem.objects.exists() and Task.objects.filter(kind="quality").count() == 3


def test_attention_items_come_at_the_configured_rate(tmp_path):
    study = make_study(tmp_path, prompts=8, variants=("base",), raters_per_prompt=3)
    study.attention_rate = 0.5
    study.save()
    (rater,) = make_raters(study, 1)
    sequence, totals = [], set()
    while (assignment := services.task_next(rater=rater)) is not None:
        totals.add(selectors.rater_progress(rater).total)
        sequence.append("check" if assignment.check_item_id else "item")
        _submit_quality(assignment, text_adherence=1)
    # One check per two ordinary items: checks < floor(rate × (ordinary items + 1)).
    assert sequence[:5] == ["item", "check", "item", "item", "check"]
    # Each check shows a prompt the rater could have rated, so the rater meets 8 items in all, as announced.
    assert len(sequence) == 8 and totals == {8}
    assert selectors.rater_progress(rater).finished


def test_a_quality_attention_item_shows_clips_with_the_text_of_another_prompt(tmp_path):
    study = _quality_study(tmp_path, attention_rate=1.0)
    (rater,) = make_raters(study, 1)
    check = services.task_next(rater=rater)
    assert check.check_item.source == CheckItem.Source.ATTENTION
    clips = [clip for _, clip in selectors.task_clips_in_order(check)]
    assert len(clips) == 3 and len({clip.variant_id for clip in clips}) == 3
    assert {clip.prompt_id for clip in clips} != {check.prompt_id}
    assert len({clip.prompt_id for clip in clips}) == 1
    assert check.check_item.expected == {"text_adherence": [1, 2]} and not check.holds_slot


def _skeleton(page: str) -> str:
    """A task page with what differs between any two items taken out: texts, tokens, counters."""
    page = re.sub(r'<h1 class="prompt">.*?</h1>', "", page)
    page = re.sub(r'(src|value|data-task)="[^"]*"', "", page)
    return re.sub(r"Item \d+ of \d+", "", page)


def test_an_attention_item_looks_exactly_like_an_ordinary_one(client, tmp_path):
    study = _quality_study(tmp_path, attention_rate=1.0)
    (rater,) = make_raters(study, 1)
    check = services.task_next(rater=rater)
    check_page = client.get(
        reverse("ratings:task", args=[rater.token, "quality", check.token])
    ).content.decode()
    _submit_quality(check, text_adherence=1)
    ordinary = services.task_next(rater=rater)
    assert ordinary.check_item_id is None
    page = client.get(reverse("ratings:task", args=[rater.token, "quality", ordinary.token])).content.decode()
    assert _skeleton(check_page) == _skeleton(page)


def test_clips_an_attention_item_borrows_are_heard_at_addresses_of_their_own(client, tmp_path):
    study = _quality_study(tmp_path, attention_rate=0.5)
    (rater,) = make_raters(study, 1)
    sources = {}
    while (assignment := services.task_next(rater=rater)) is not None:
        url = reverse("ratings:task", args=[rater.token, "quality", assignment.token])
        page = client.get(url).content.decode()
        for (_, clip), source in zip(
            selectors.task_clips_in_order(assignment),
            re.findall(r'<audio[^>]* src="([^"]+)"', page),
            strict=True,
        ):
            assert clip.token not in page
            sources.setdefault(clip.pk, set()).add(source)
        _submit_quality(assignment, text_adherence=1)
    borrowed = [clip for clip, addresses in sources.items() if len(addresses) > 1]
    assert borrowed  # the rater met the same clips in an ordinary item and in an attention item


def test_passing_an_attention_item_is_recorded_and_changes_nothing_else(tmp_path):
    study = _quality_study(tmp_path, attention_rate=1.0)
    (rater,) = make_raters(study, 1)
    check = services.task_next(rater=rater)
    _submit_quality(check, text_adherence=2)
    check.refresh_from_db()
    assert check.check_passed is True and not selectors.rater_is_excluded(rater)


def test_a_study_allows_one_missed_check_by_default():
    assert Study().attention_failures_allowed == 1


def test_failing_an_attention_item_with_no_miss_allowed_excludes_the_rater_at_once(client, tmp_path):
    study = _quality_study(tmp_path, attention_rate=1.0, attention_failures_allowed=0)
    (rater,) = make_raters(study, 1)
    check = services.task_next(rater=rater)
    _submit_quality(check, text_adherence=4)
    check.refresh_from_db()
    assert check.check_passed is False
    (flag,) = RaterFlag.objects.filter(rater=rater)
    assert flag.reason == RaterFlag.Reason.ATTENTION and flag.active and "failed 1 of 1" in flag.detail
    assert services.task_next(rater=rater) is None
    response = client.post(reverse("ratings:rater_next", args=[rater.token]))
    assert response.status_code == 403 and "You can no longer take part" in response.content.decode()


def test_failures_up_to_the_allowance_are_tolerated(tmp_path):
    study = _quality_study(tmp_path, attention_rate=1.0, attention_failures_allowed=1)
    (rater,) = make_raters(study, 1)
    _submit_quality(services.task_next(rater=rater), text_adherence=5)
    assert not selectors.rater_is_excluded(rater)
    answer(services.task_next(rater=rater))  # an ordinary item
    second_check = services.task_next(rater=rater)
    assert second_check.check_item_id is not None
    _submit_quality(second_check, text_adherence=5)
    assert selectors.rater_is_excluded(rater)


def test_attention_items_never_reach_exports_or_coverage(tmp_path):
    study = _quality_study(tmp_path, attention_rate=1.0)
    (rater,) = make_raters(study, 1)
    while (assignment := services.task_next(rater=rater)) is not None:
        _submit_quality(assignment, text_adherence=1)
    checks = Task.objects.filter(kind="quality").filter(check_item__isnull=False)
    assert checks.exists()
    rows = selectors.study_quality_rows(study)
    regular = Task.objects.filter(kind="quality").filter(check_item__isnull=True)
    assert {r["prompt_id"] for r in rows} == {a.prompt.external_id for a in regular}
    assert len(rows) == regular.count() * 3 * 3
    assert sum(selectors.study_coverage(study).values()) == regular.count()


def test_a_diversity_attention_item_pairs_one_clip_with_itself_behind_two_different_addresses(
    client, tmp_path
):
    study = make_diversity_study(
        tmp_path, prompts=2, variants=("a", "b"), quality_part=False, attention_rate=1.0
    )
    (rater,) = make_raters(study, 1)
    check = services.task_next(rater=rater)
    assert check.kind == "diversity" and check.comparison is None
    twin_is_a = check.clips[0] == check.clips[1]
    twin, other = (check.clips[:2], check.clips[2:]) if twin_is_a else (check.clips[2:], check.clips[:2])
    assert twin[0] == twin[1] and other[0] != other[1]
    expected = [1, 2] if twin_is_a else [-2, -1]
    assert check.check_item.expected == {"choice": expected}
    page = client.get(reverse("ratings:task", args=[rater.token, "diversity", check.token])).content.decode()
    sources = re.findall(r'<audio[^>]* src="([^"]+)"', page)
    assert len(set(sources)) == 4


@pytest.mark.parametrize(("twin_side_answer", "passed"), [(-2, False), (0, False), (1, True), (2, True)])
def test_the_pair_of_identical_clips_must_be_judged_less_diverse(tmp_path, twin_side_answer, passed):
    study = _strict_diversity_study(tmp_path)
    (rater,) = make_raters(study, 1)
    check = services.task_next(rater=rater)
    # twin_side_answer is written as if the identical pair were A; flip it when it is B.
    choice = twin_side_answer if check.clips[:2][0] == check.clips[:2][1] else -twin_side_answer
    services.task_submit(task=check, submission=full_judgement(check, choice))
    check.refresh_from_db()
    assert check.check_passed is passed
    assert selectors.rater_is_excluded(rater) is not passed
    assert selectors.study_diversity_rows(study) == []


def test_gold_items_of_the_researcher_come_before_made_up_attention_items(tmp_path):
    study = _quality_study(tmp_path, attention_rate=1.0)
    gold = services.gold_item_create(
        study=study,
        kind="quality",
        prompt_id="p000",
        clips=["p001:base:0", "p001:cfg:0"],
        expected={"text_adherence": [1, 2], "acoustic_quality": [3, 5]},
    )
    (rater,) = make_raters(study, 1)
    first = services.task_next(rater=rater)
    assert first.check_item == gold and first.prompt.external_id == "p000"
    _submit_quality(first, text_adherence=1)  # acoustic quality 3: inside 3..5
    first.refresh_from_db()
    assert first.check_passed is True
    answer(services.task_next(rater=rater))
    assert services.task_next(rater=rater).check_item.source == CheckItem.Source.ATTENTION


def test_a_diversity_gold_item_is_scored_against_its_expected_range(tmp_path):
    study = _strict_diversity_study(tmp_path)
    call_command(
        "add_gold_item", "--study", study.slug, "--kind", "diversity", "--prompt", "p001",
        "--pair-a", "p001:a:0,p001:a:0", "--pair-b", "p001:b:0,p001:b:1", "--expect", "choice=1..2",
    )  # fmt: skip
    (rater,) = make_raters(study, 1)
    check = services.task_next(rater=rater)
    assert check.check_item.source == CheckItem.Source.GOLD
    services.task_submit(task=check, submission=full_judgement(check, -1))
    check.refresh_from_db()
    assert check.check_passed is False and selectors.rater_is_excluded(rater)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--kind", "quality", "--prompt", "p000", "--clips", "p001:base:9", "--expect", "musicality=1..2"], "no clip 'p001:base:9'"),
        (["--kind", "quality", "--prompt", "p000", "--clips", "p001:base:0", "--expect", "musicality=0..2"], "must lie within 1..5"),
        (["--kind", "quality", "--prompt", "p000", "--clips", "p001:base:0", "--expect", "loudness=1..2"], "expected criteria must be among"),
        (["--kind", "quality", "--prompt", "nope", "--clips", "p001:base:0", "--expect", "musicality=1..2"], "prompt 'nope' is not in study"),
        (["--kind", "diversity", "--prompt", "p000", "--pair-a", "p000:base:0", "--pair-b", "p000:cfg:0,p000:cfg:0", "--expect", "choice=1..2"], "exactly two clips in each pair"),
        (["--kind", "diversity", "--prompt", "p000", "--pair-a", "p000:base:0,p000:base:0", "--pair-b", "p000:cfg:0,p000:cfg:0", "--expect", "choice=1..3"], "must lie within -2..2"),
    ],
)  # fmt: skip
def test_a_bad_gold_item_is_refused_with_a_one_line_reason(tmp_path, arguments, message):
    study = make_study(tmp_path, prompts=2)
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("add_gold_item", "--study", study.slug, *arguments)
    assert not CheckItem.objects.exists()
