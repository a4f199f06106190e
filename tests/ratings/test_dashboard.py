"""The researcher's dashboard: staff only, coverage, raters, flags, re-opening items, refreshing itself."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from ratings import services
from ratings.models import RaterFlag, TaskStatus

from .factories import answer, make_diversity_study, make_raters

pytestmark = pytest.mark.django_db


@pytest.fixture
def study(tmp_path):
    return make_diversity_study(
        tmp_path, slug="dash", prompts=2, variants=("base", "cfg"), raters_per_prompt=2
    )


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_user("alice", password="pw", is_staff=True)
    client.force_login(user)
    return client


def _dashboard(study):
    return reverse("ratings:study_dashboard", args=[study.slug])


def test_the_dashboard_is_for_staff_only(client, study):
    response = client.get(_dashboard(study))
    assert response.status_code == 302 and "/admin/login/" in response.url
    client.force_login(get_user_model().objects.create_user("bob", password="pw"))
    assert client.get(_dashboard(study)).status_code == 302
    (rater,) = make_raters(study, 1)
    assert (
        client.post(reverse("ratings:dashboard_rater_exclude", args=[study.slug, rater.pk])).status_code
        == 302
    )
    assert not RaterFlag.objects.exists()


def test_the_dashboard_shows_coverage_raters_progress_time_and_flags(staff, study):
    worker, idle, flagged = make_raters(study, 3)
    for _ in range(3):
        answer(services.task_next(rater=worker))
    services.task_next(rater=idle)
    answer(services.task_next(rater=flagged))
    services.rater_flag(rater=flagged, reason=RaterFlag.Reason.MANUAL, detail="listened on a phone speaker")
    response = staff.get(_dashboard(study))
    page = response.content.decode()
    assert response.status_code == 200
    assert '<meta http-equiv="refresh" content="15">' in page
    assert re.search(r"<td>p000</td><td>Prompt number 0</td><td>\d / 2</td>", page)
    assert re.search(r"<td>p001</td><td>base vs cfg</td><td>\d / 2</td>", page)
    assert (
        "Quality:</strong> 2 of 4 ratings" in page
        and "Diversity:</strong> 1 of 4 diversity judgements" in page
    )
    rows = dict(re.findall(r"<tr class=\"[^\"]*\">\s*<td>(rater-\d+)</td>(.*?)</tr>", page, re.S))
    assert "3 / " in rows[worker.external_id] and "0 / " in rows[idle.external_id]
    assert "re-open" in rows[idle.external_id]
    assert "Excluded by a researcher" in rows[flagged.external_id] and "lift" in rows[flagged.external_id]
    assert re.search(r"<td>\d+ s</td>", rows[worker.external_id])


def test_reopening_an_item_from_the_dashboard_gives_it_back_to_the_pool(staff, study):
    (rater,) = make_raters(study, 1)
    item = services.task_next(rater=rater)
    url = reverse("ratings:dashboard_reopen", args=[study.slug, "quality", item.token])
    response = staff.post(url, follow=True)
    assert "Re-opened an item of rater-0001" in response.content.decode()
    item.refresh_from_db()
    assert item.status == TaskStatus.WITHDRAWN
    assert "no longer open" in staff.post(url, follow=True).content.decode()
    assert (
        staff.post(reverse("ratings:dashboard_reopen", args=[study.slug, "other", item.token])).status_code
        == 404
    )


def test_screening_excluding_and_lifting_from_the_dashboard(staff, study):
    rater, other = make_raters(study, 2)
    for _ in range(3):
        answer(services.task_next(rater=rater))  # instantly: too fast
    page = staff.post(reverse("ratings:dashboard_screen", args=[study.slug]), follow=True).content.decode()
    assert "Screening done: 1 new exclusion flag(s)." in page and "Implausibly fast" in page
    flag = RaterFlag.objects.get(rater=rater)
    staff.post(reverse("ratings:dashboard_flag_lift", args=[study.slug, flag.pk]))
    flag.refresh_from_db()
    assert not flag.active and flag.lifted_by == "alice"
    staff.post(reverse("ratings:dashboard_rater_exclude", args=[study.slug, other.pk]))
    assert RaterFlag.objects.get(rater=other).reason == RaterFlag.Reason.MANUAL


def test_dashboard_actions_need_a_csrf_token(study):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(get_user_model().objects.create_user("carol", password="pw", is_staff=True))
    (rater,) = make_raters(study, 1)
    assert (
        strict.post(reverse("ratings:dashboard_rater_exclude", args=[study.slug, rater.pk])).status_code
        == 403
    )
    assert not RaterFlag.objects.exists()


def test_the_index_lists_every_study_with_its_parts(staff, study, client):
    page = staff.get(reverse("ratings:dashboard_index")).content.decode()
    assert f'href="{_dashboard(study)}"' in page and "quality + diversity" in page
    client.logout()
    assert client.get(reverse("ratings:dashboard_index")).status_code == 302


def test_the_dashboards_bulk_progress_agrees_with_each_raters_own(tmp_path, django_assert_max_num_queries):
    from ratings import selectors

    study = make_diversity_study(
        tmp_path, slug="bulk", prompts=3, variants=("a", "b", "c"), raters_per_prompt=2, attention_rate=0.3
    )
    raters = make_raters(study, 12)
    for number, rater in enumerate(raters):
        for _ in range(number % 4):
            if (assignment := services.task_next(rater=rater)) is not None:
                answer(assignment)
    services.task_next(rater=raters[0])
    services.rater_flag(rater=raters[5], reason=RaterFlag.Reason.MANUAL, detail="test")
    with django_assert_max_num_queries(15):  # however many raters
        board = selectors.study_dashboard(study)
    assert [row.progress for row in board.raters] == [selectors.rater_progress(r) for r in raters]


def test_each_variant_shows_its_automatic_metrics_beside_the_valid_human_scores(staff, study):
    from ratings.models import QualityRating, Variant
    from ratings.selectors import study_variants_summary

    Variant.objects.filter(study=study, name="cfg").update(
        provenance={"metrics": {"text_adherence": 0.4321, "diversity_heldout": 0.25}}
    )
    kept, excluded = make_raters(study, 2)
    answer(services.task_next(rater=kept, kinds=("quality",)), score=5)
    answer(services.task_next(rater=excluded, kinds=("quality",)), score=1)
    services.rater_flag(rater=excluded, reason=RaterFlag.Reason.MANUAL, detail="asleep")
    rows = {row.variant.name: row for row in study_variants_summary(study)}
    valid = QualityRating.objects.filter(task__rater=kept, clip__variant__name="cfg", criterion="musicality")
    assert rows["cfg"].metrics == [0.4321, None, 0.25]
    assert valid.count() == 1 and rows["cfg"].human == [5.0, 5.0, 5.0]  # the excluded rater's 1s left out
    assert rows["cfg"].ratings == 3
    assert rows["base"].metrics == [None, None, None]
    page = staff.get(_dashboard(study)).content.decode()
    assert re.search(
        r"<td>cfg</td><td>Imported from elsewhere</td><td>0.432</td><td>–</td><td>0.250</td>", page
    )
