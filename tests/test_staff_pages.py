"""The staff side as one site: a home at /, one navigation on every staff page, invites and the export."""

import io
import zipfile

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from ratings.models import Rater
from tests.ratings.factories import make_raters, make_study

pytestmark = pytest.mark.django_db
NAVIGATION = ("/", "/dashboard/", "/staff/analysis/", "/staff/launches/", "/staff/jobs/", "/admin/")


@pytest.fixture
def staff(client):
    client.force_login(get_user_model().objects.create_user("alice", password="pw", is_staff=True))
    return client


@pytest.fixture
def study(tmp_path):
    return make_study(tmp_path, slug="pilot", prompts=2, variants=("base", "cfg"))


def staff_pages(study) -> list[str]:
    return [
        "/",
        reverse("ratings:dashboard_index"),
        reverse("ratings:study_dashboard", args=[study.slug]),
        reverse("reports:study_list"),
        reverse("reports:report", args=[study.slug]),
        reverse("launches:list"),
        reverse("jobs:jobs"),
    ]


def test_visitors_who_are_not_staff_go_from_the_home_to_the_admin_login(client):
    response = client.get("/")
    assert response.status_code == 302 and response.url.startswith("/admin/login/")
    client.force_login(get_user_model().objects.create_user("bob", password="pw"))
    assert client.get("/").url.startswith("/admin/login/")


def test_the_home_lists_each_study_with_its_state_and_every_page_of_it(staff, study):
    study.is_open = False
    study.save()
    page = staff.get("/").content.decode()
    assert "pilot" in page and "closed" in page
    for url in (
        reverse("ratings:study_dashboard", args=["pilot"]),
        reverse("reports:report", args=["pilot"]),
        "/staff/launches/?study=pilot",
        "/staff/jobs/?study=pilot",
        reverse("admin:ratings_study_change", args=[study.pk]),
    ):
        assert f'href="{url}"' in page, url


def test_every_staff_page_has_the_same_navigation_to_the_others(staff, study):
    for url in staff_pages(study):
        response = staff.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        assert 'nav aria-label="Staff pages"' in page, url
        for target in NAVIGATION:
            assert f'href="{target}"' in page, (url, target)


def test_inviting_from_the_dashboard_makes_that_many_links_each_with_a_copy_button(staff, study):
    (opened,) = make_raters(study, 1)
    opened.consented_at = opened.created_at
    opened.save()
    response = staff.post(reverse("ratings:dashboard_invite", args=[study.slug]), {"count": "3"}, follow=True)
    page = response.content.decode()
    assert "Made 3 invite links" in page
    fresh = Rater.objects.filter(study=study).exclude(pk=opened.pk)
    assert fresh.count() == 3
    for rater in fresh:
        assert f"http://testserver/r/{rater.token}/" in page
    assert opened.token not in page  # an opened link is not offered again
    assert page.count('class="secondary copy"') == 3


@pytest.mark.parametrize("count", ["0", "201", "x", ""])
def test_an_invite_count_out_of_range_makes_no_link_and_says_why(staff, study, count):
    response = staff.post(
        reverse("ratings:dashboard_invite", args=[study.slug]), {"count": count}, follow=True
    )
    assert "No invite links made: give a number from 1 to 200." in response.content.decode()
    assert not Rater.objects.exists()


def test_the_dashboard_links_to_the_report_and_the_export_zip(staff, study):
    page = staff.get(reverse("ratings:study_dashboard", args=[study.slug])).content.decode()
    assert f'href="{reverse("reports:report", args=[study.slug])}"' in page
    assert f'href="{reverse("reports:export", args=[study.slug])}"' in page


def test_the_export_zip_holds_what_export_results_writes(staff, study, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    response = staff.get(reverse("reports:export", args=[study.slug]))
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert 'filename="pilot-results.zip"' in response["Content-Disposition"]
    names = set(zipfile.ZipFile(io.BytesIO(response.content)).namelist())
    assert {"pilot/ratings.csv", "pilot/diversity.csv", "pilot/summary.json"} <= names


def test_the_export_zip_is_for_staff_only(client, study):
    response = client.get(reverse("reports:export", args=[study.slug]))
    assert response.status_code == 302 and "/admin/login/" in response.url
