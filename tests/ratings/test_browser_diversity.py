"""A rater in real headless Chromium: consent, instructions, headphone check, two diversity comparisons,
one quality item and an attention item; then the researcher's dashboard. Screenshots go to test-artifacts/."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from ratings.models import Rater, Task, TaskStatus

from .browser import chromium_driver, needs_chromium, screenshot
from .factories import make_diversity_study, make_raters

pytestmark = [pytest.mark.browser, needs_chromium]


@pytest.fixture
def driver():
    driver = chromium_driver()
    yield driver
    driver.quit()


def _wait_for(driver, text, seconds=10):
    WebDriverWait(driver, seconds).until(lambda d: text in d.page_source)


def _play_every_clip(driver):
    for section in driver.find_elements(By.CSS_SELECTOR, "section.clip"):
        label = section.get_attribute("data-label")
        driver.execute_script("arguments[0].play()", section.find_element(By.TAG_NAME, "audio"))
        WebDriverWait(driver, 20).until(
            lambda d, label=label: d.find_element(By.NAME, f"ended_{label}").get_attribute("value") == "True"
        )


def _open_item(rater):
    return (
        Task.objects.filter(kind="quality").filter(rater=rater, status=TaskStatus.OPEN).first()
        or Task.objects.filter(kind="diversity").filter(rater=rater, status=TaskStatus.OPEN).first()
    )


def _pass_onboarding(driver, rater):
    driver.find_element(By.CSS_SELECTOR, "button.primary").click()
    _wait_for(driver, "Before you start")
    screenshot(driver, "consent.png")
    driver.find_element(By.NAME, "agree").click()
    driver.find_element(By.ID, "agree").click()
    _wait_for(driver, "How this study works")
    assert "Comparing pairs" in driver.page_source and "Rating clips" in driver.page_source
    screenshot(driver, "instructions.png")
    driver.find_element(By.ID, "continue").click()
    _wait_for(driver, "Headphone check</h1>")
    trials = Rater.objects.get(pk=rater.pk).headphone_trials
    for number, trial in enumerate(trials):
        driver.find_element(
            By.CSS_SELECTOR, f"input[name='trial_{number}'][value='{trial['quiet']}']"
        ).click()
    screenshot(driver, "headphone-check.png")
    driver.find_element(By.ID, "submit").click()


def test_rater_passes_the_headphone_check_and_does_both_parts_meeting_an_attention_item(
    live_server, driver, tmp_path
):
    # Two prompts, two variants, N=1: two quality items and two comparisons. At this rate a check comes
    # after the second ordinary item; it spends the last free quality prompt, so the rater does one
    # quality item, two comparisons and one attention item.
    study = make_diversity_study(
        tmp_path,
        slug="browser",
        prompts=2,
        variants=("secret-a", "secret-b"),
        raters_per_prompt=1,
        onboarding_required=True,
        attention_rate=0.34,
        completion_code="DONE-7F3A",
        seconds=0.5,
    )
    (rater,) = make_raters(study, 1)
    driver.get(f"{live_server.url}/r/{rater.token}/")
    _pass_onboarding(driver, rater)

    seen = []
    for position in range(1, 5):
        _wait_for(driver, f"Item {position} of 4")
        item = _open_item(rater)
        kind = "diversity" if item.kind == "diversity" else "quality"
        seen.append((kind, item.check_item_id is not None))
        assert f"/{kind}/" in driver.current_url and "secret" not in driver.page_source
        submit = driver.find_element(By.ID, "submit")
        assert not submit.is_enabled()
        _play_every_clip(driver)
        if kind == "diversity":
            assert [
                s.get_attribute("data-label") for s in driver.find_elements(By.CSS_SELECTOR, "section.clip")
            ] == [
                "A1",
                "A2",
                "B1",
                "B2",
            ]
            driver.find_element(By.CSS_SELECTOR, "input[name='choice'][value='-1']").click()
            if not any(k == "diversity" for k, _ in seen[:-1]):
                screenshot(driver, "diversity-page.png")
        else:
            text_adherence = 1 if item.check_item_id else 4
            for section in driver.find_elements(By.CSS_SELECTOR, "section.clip"):
                label = section.get_attribute("data-label")
                for criterion, score in (
                    ("acoustic_quality", 3),
                    ("text_adherence", text_adherence),
                    ("musicality", 4),
                ):
                    driver.find_element(
                        By.CSS_SELECTOR, f"input[name='score_{label}_{criterion}'][value='{score}']"
                    ).click()
        assert submit.is_enabled()
        submit.click()

    _wait_for(driver, "Thank you")
    assert "DONE-7F3A" in driver.page_source
    screenshot(driver, "thank-you.png")
    assert sorted(seen) == [("diversity", False), ("diversity", False), ("quality", False), ("quality", True)]
    judgements = Task.objects.filter(kind="diversity").filter(rater=rater, status=TaskStatus.SUBMITTED)
    assert [j.judgement.choice for j in judgements] == [-1, -1]
    assert all(clip["ended"] and clip["seconds"] >= 0.45 for j in judgements for clip in j.listening.values())
    for clip in (clip for j in judgements for clip in j.listening.values()):
        assert [event for event, _ in clip["events"]][0] == "play" and clip["events"][-1][0] == "ended"
    check = Task.objects.filter(kind="quality").get(rater=rater, check_item__isnull=False)
    assert check.check_passed is True and not rater.flags.exists()

    # The researcher's dashboard, logged in as staff.
    staff = get_user_model().objects.create_user("researcher", password="pw", is_staff=True)
    client = Client()
    client.force_login(staff)
    driver.get(f"{live_server.url}/dashboard/browser/")
    driver.add_cookie({"name": "sessionid", "value": client.cookies["sessionid"].value, "path": "/"})
    driver.get(f"{live_server.url}/dashboard/browser/")
    _wait_for(driver, "Raters")
    assert "rater-0001" in driver.page_source and "secret-a vs secret-b" in driver.page_source
    screenshot(driver, "dashboard.png")


def test_the_diversity_page_fits_a_phone_screen(live_server, tmp_path):
    study = make_diversity_study(tmp_path, slug="phone", prompts=1, variants=("a", "b"), quality_part=False)
    (rater,) = make_raters(study, 1)
    phone = chromium_driver(width=390, height=844)
    try:
        phone.get(f"{live_server.url}/r/{rater.token}/next/")
        _wait_for(phone, "Item 1 of 1")
        assert phone.execute_script("return document.documentElement.scrollWidth - window.innerWidth") <= 0
        screenshot(phone, "diversity-page-phone.png")
    finally:
        phone.quit()
