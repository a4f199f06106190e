"""Texts a researcher reads: counted nouns, no command-line syntax in web pages or help."""

import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from ratings.selectors import study_answers_fingerprint
from reports.models import StoredReport
from tests.ratings.factories import make_study


def test_the_generation_help_has_no_restructuredtext_markup():
    shown = subprocess.run(
        [sys.executable, "-m", "generation", "--help"], capture_output=True, text=True, check=True
    )
    assert "``" not in shown.stdout and "SUBCOMMAND has --help" in shown.stdout.replace("\n", " ")


def test_the_laptop_broker_address_names_a_host_so_kombu_does_not_warn(monkeypatch):
    from kombu import Connection, connection

    from evalsite import settings as site_settings

    warnings = []  # kombu's own logger: a Celery worker started by other tests may stop its propagation
    monkeypatch.setattr(connection.logger, "warning", lambda message, *args: warnings.append(message % args))
    assert site_settings.CELERY_BROKER_URL.startswith("filesystem://")  # the laptop default
    Connection(site_settings.CELERY_BROKER_URL).info()
    assert warnings == []
    Connection("filesystem://").info()  # the address it replaced
    assert warnings == ["No hostname was supplied. Reverting to default 'localhost'"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("n_raters", "left_out", "sentence", "include_link"),
    [(1, 0, "by 1 rater on", False), (2, 1, "1 excluded rater left out (3 rows)", True)],
)
def test_the_report_counts_in_words_and_offers_to_include_raters_only_when_some_are_excluded(
    client, tmp_path, n_raters, left_out, sentence, include_link
):
    study = make_study(tmp_path, slug="texts", prompts=1, variants=("base",))
    meta = {
        "n_ratings": 3,
        "n_raters": n_raters,
        "n_prompts": 1,
        "n_judgements": 0,
        "n_diversity_prompts": 0,
        "excluded_raters": {"left_out": left_out, "rows_left_out": 3 * left_out, "flagged": left_out},
    }
    StoredReport.objects.create(
        study=study,
        include_excluded=False,
        fingerprint=study_answers_fingerprint(study),
        computed_at=timezone.now(),
        content={"summary": {"meta": meta}},
    )
    client.force_login(get_user_model().objects.create_user("alice", password="pw", is_staff=True))
    page = " ".join(client.get(reverse("reports:report", args=[study.slug])).content.decode().split())
    assert sentence in page and " 1 raters" not in page
    assert ("Include them" in page) is include_link
