"""The admin shows slot counters, statuses and slot holding, and changes them only through the services."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from ratings import services
from ratings.models import Prompt, RaterFlag, Task, TaskStatus

from .factories import answer, make_diversity_study, make_raters, make_study

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(get_user_model().objects.create_superuser("boss", "boss@example.org", "pw"))
    return client


def test_a_task_page_shows_its_kinds_answer_and_no_field_that_could_change_a_counter(admin_client, tmp_path):
    study = make_diversity_study(tmp_path, prompts=1, raters_per_prompt=2)
    (rater,) = make_raters(study, 1)
    quality, diversity = services.quality_assignment_next(rater=rater), None
    answer(quality, score=2)
    diversity = services.diversity_assignment_next(rater=rater)
    answer(diversity, choice=-1)
    for task, answer_field in ((quality, "criterion"), (diversity, "choice")):
        page = admin_client.get(reverse("admin:ratings_task_change", args=[task.pk])).content.decode()
        assert answer_field in page
        for locked in ("status", "holds_slot", "clips"):
            assert f'name="{locked}"' not in page
    prompt_page = admin_client.get(
        reverse("admin:ratings_prompt_change", args=[quality.prompt_id])
    ).content.decode()
    assert 'name="quality_slots_taken"' not in prompt_page


def test_reopening_from_the_admin_goes_through_the_service_and_frees_the_slot(admin_client, tmp_path):
    study = make_diversity_study(tmp_path, prompts=1, raters_per_prompt=2, diversity_part=False)
    (rater,) = make_raters(study, 1)
    task = services.task_next(rater=rater)
    assert Prompt.objects.get(pk=task.prompt_id).quality_slots_taken == 1
    response = admin_client.post(
        reverse("admin:ratings_task_changelist"), {"action": "reopen", "_selected_action": [task.pk]}
    )
    assert response.status_code == 302
    task.refresh_from_db()
    assert (task.status, task.holds_slot) == (TaskStatus.WITHDRAWN, False)
    assert Prompt.objects.get(pk=task.prompt_id).quality_slots_taken == 0


def test_excluding_and_lifting_from_the_admin_keep_the_rater_and_the_counters_in_step(admin_client, tmp_path):
    study = make_diversity_study(tmp_path, prompts=1, raters_per_prompt=2, diversity_part=False)
    (rater,) = make_raters(study, 1)
    answer(services.task_next(rater=rater))
    admin_client.post(
        reverse("admin:ratings_rater_changelist"),
        {"action": "exclude_raters", "_selected_action": [rater.pk]},
    )
    rater.refresh_from_db()
    assert rater.excluded and Prompt.objects.get().quality_slots_taken == 0
    flag = RaterFlag.objects.get(rater=rater)
    admin_client.post(
        reverse("admin:ratings_raterflag_changelist"), {"action": "lift", "_selected_action": [flag.pk]}
    )
    rater.refresh_from_db()
    assert not rater.excluded and Prompt.objects.get().quality_slots_taken == 1
    assert Task.objects.get().holds_slot


def test_the_study_page_shows_the_prolific_address_with_its_placeholder(admin_client, tmp_path):
    study = make_study(tmp_path, slug="prolific-help", prompts=1, variants=("base",))
    page = admin_client.get(reverse("admin:ratings_study_change", args=[study.pk])).content.decode()
    assert "Accepts Prolific raters" in page
    assert "/p/STUDY-SLUG/?PROLIFIC_PID=" in page and "/p//" not in page
