"""A rater in real headless Chromium: invite link, play, rate, reload mid-way, resume, finish."""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from ratings.models import QualityRating, Task, TaskStatus

from .browser import chromium_driver, needs_chromium, screenshot
from .factories import make_raters, make_study

pytestmark = [pytest.mark.browser, needs_chromium]


@pytest.fixture
def driver():
    driver = chromium_driver()
    yield driver
    driver.quit()


def _play_every_clip(driver):
    """Play the clips one after another (starting one pauses the others), each to its end."""
    for section in driver.find_elements(By.CSS_SELECTOR, "section.clip"):
        label = section.get_attribute("data-label")
        driver.execute_script("arguments[0].play()", section.find_element(By.TAG_NAME, "audio"))
        WebDriverWait(driver, 20).until(
            lambda d, label=label: d.find_element(By.NAME, f"ended_{label}").get_attribute("value") == "True"
        )


def _rate(driver, labels, score):
    for label in labels:
        for criterion in ("acoustic_quality", "text_adherence", "musicality"):
            driver.find_element(
                By.CSS_SELECTOR, f"input[name='score_{label}_{criterion}'][value='{score}']"
            ).click()


def _labels(driver):
    return [s.get_attribute("data-label") for s in driver.find_elements(By.CSS_SELECTOR, "section.clip")]


def test_rater_plays_rates_reloads_resumes_and_finishes(live_server, driver, tmp_path):
    study = make_study(tmp_path, prompts=2, raters_per_prompt=1, seconds=1.0)
    (rater,) = make_raters(study, 1)

    driver.get(f"{live_server.url}/r/{rater.token}/")
    assert "rated 0 of 2 items" in driver.page_source
    driver.find_element(By.CSS_SELECTOR, "button.primary").click()

    # Item 1: Submit stays disabled until every clip has been played to the end.
    WebDriverWait(driver, 10).until(lambda d: "Item 1 of 2" in d.page_source)
    submit = driver.find_element(By.ID, "submit")
    assert not submit.is_enabled()
    labels = _labels(driver)
    assert labels == ["A", "B", "C"]
    _rate(driver, labels, 4)
    assert not submit.is_enabled()
    _play_every_clip(driver)
    assert submit.is_enabled()
    # Keyboard: focus a scale and move its choice with the arrow keys.
    first = driver.find_element(By.CSS_SELECTOR, "input[name='score_A_musicality'][value='4']")
    first.send_keys(Keys.ARROW_RIGHT)
    assert driver.find_element(By.CSS_SELECTOR, "input[name='score_A_musicality'][value='3']").is_selected()
    screenshot(driver, "rating-page.png")
    submit.click()

    # Item 2: rate half, reload (as after closing the browser), and resume where we were.
    WebDriverWait(driver, 10).until(lambda d: "Item 2 of 2" in d.page_source)
    task_url = driver.current_url
    _rate(driver, _labels(driver)[:1], 2)
    driver.get(f"{live_server.url}/r/{rater.token}/")
    assert "rated 1 of 2 items" in driver.page_source and "Continue" in driver.page_source
    driver.find_element(By.CSS_SELECTOR, "button.primary").click()
    WebDriverWait(driver, 10).until(lambda d: "Item 2 of 2" in d.page_source)
    assert driver.current_url == task_url
    driver.refresh()
    _play_every_clip(driver)
    _rate(driver, _labels(driver), 2)
    driver.find_element(By.ID, "submit").click()

    WebDriverWait(driver, 10).until(lambda d: "Thank you" in d.page_source)
    assert "rated 2 of 2 items" in driver.page_source
    assert Task.objects.filter(kind="quality").filter(rater=rater, status=TaskStatus.SUBMITTED).count() == 2
    scores = sorted(QualityRating.objects.values_list("score", flat=True))
    assert scores.count(3) == 1 and scores.count(4) == 8 and scores.count(2) == 9
    evidence = Task.objects.filter(kind="quality").filter(rater=rater).first().listening
    assert all(clip["ended"] and clip["plays"] >= 1 and clip["seconds"] >= 0.9 for clip in evidence.values())


def test_rating_page_fits_a_phone_screen(live_server, tmp_path):
    study = make_study(tmp_path, prompts=1, raters_per_prompt=1)
    (rater,) = make_raters(study, 1)
    phone = chromium_driver(width=390, height=844)
    try:
        phone.get(f"{live_server.url}/r/{rater.token}/next/")
        WebDriverWait(phone, 10).until(lambda d: "Item 1 of 1" in d.page_source)
        overflow = phone.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0
        screenshot(phone, "rating-page-phone.png")
    finally:
        phone.quit()
