"""The rater's player and scales in real headless Chromium: drafts across a reload, keyboard-only rating,
unanswered scales marked in place, no speed control, and the page at laptop and phone width."""

import time

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from ratings.models import QualityRating, Task, TaskStatus

from .browser import chromium_driver, needs_chromium, screenshot
from .factories import make_raters, make_study

pytestmark = [pytest.mark.browser, needs_chromium]
CRITERIA = ("acoustic_quality", "text_adherence", "musicality")


@pytest.fixture
def driver():
    driver = chromium_driver(width=1280, height=900)
    yield driver
    driver.quit()


def _open_first_item(driver, live_server, tmp_path, prompts=1):
    study = make_study(tmp_path, prompts=prompts, raters_per_prompt=1, seconds=1.0)
    (rater,) = make_raters(study, 1)
    driver.get(f"{live_server.url}/r/{rater.token}/next/")
    WebDriverWait(driver, 10).until(lambda d: "Item 1 of" in d.page_source)
    return rater


def _labels(driver):
    return [s.get_attribute("data-label") for s in driver.find_elements(By.CSS_SELECTOR, "section.clip")]


def _ended(driver, label):
    return driver.find_element(By.NAME, f"ended_{label}").get_attribute("value") == "True"


def _play(driver, label):
    driver.find_element(By.CSS_SELECTOR, f"section.clip[data-label='{label}'] button.play").click()
    WebDriverWait(driver, 20).until(lambda d: _ended(d, label))


def _radio(driver, label, criterion, score):
    return driver.find_element(By.CSS_SELECTOR, f"input[name='score_{label}_{criterion}'][value='{score}']")


def test_a_rater_who_reloads_mid_item_finds_their_scores_and_the_clips_they_played(
    live_server, driver, tmp_path
):
    rater = _open_first_item(driver, live_server, tmp_path)
    task = Task.objects.get(rater=rater)
    _play(driver, "A")
    for criterion, score in zip(CRITERIA, (5, 3, 1), strict=True):
        _radio(driver, "A", criterion, score).click()
    _radio(driver, "B", "musicality", 2).click()

    driver.refresh()
    WebDriverWait(driver, 10).until(lambda d: "Item 1 of" in d.page_source)
    assert [_radio(driver, "A", c, s).is_selected() for c, s in zip(CRITERIA, (5, 3, 1), strict=True)] == [
        True
    ] * 3
    assert _radio(driver, "B", "musicality", 2).is_selected()
    assert _ended(driver, "A") and not _ended(driver, "B")
    assert "played to the end" in driver.find_element(By.ID, "heard-A").text
    assert driver.find_element(By.ID, "submit").get_attribute("disabled")  # B and C are still unheard

    for label in ("B", "C"):
        _play(driver, label)
        for criterion in CRITERIA:
            _radio(driver, label, criterion, 4).click()
    driver.find_element(By.ID, "submit").click()
    WebDriverWait(driver, 10).until(lambda d: "Thank you" in d.page_source)

    task.refresh_from_db()
    assert task.status == TaskStatus.SUBMITTED
    assert (
        task.listening["A"]["ended"]
        and task.listening["A"]["plays"] == 1
        and task.listening["A"]["seconds"] >= 0.9
    )
    scores = {(r.clip_id, r.criterion): r.score for r in QualityRating.objects.filter(task=task)}
    clip_a = task.clips[0]
    assert [scores[(clip_a, c)] for c in CRITERIA] == [5, 3, 1]
    # The draft is gone once the item is submitted.
    assert driver.execute_script(f"return localStorage.getItem('counterpoint-draft:{task.token}')") is None


def test_a_whole_item_can_be_rated_with_the_keyboard_only(live_server, driver, tmp_path):
    rater = _open_first_item(driver, live_server, tmp_path)
    labels = _labels(driver)
    keys = ActionChains(driver)
    visited = []
    for _ in range(40):
        keys.send_keys(Keys.TAB).perform()
        focused = driver.switch_to.active_element
        assert focused.tag_name != "audio"
        if focused.get_attribute("id") == "submit":
            visited.append("submit")
            break
        if "play" in (focused.get_attribute("class") or ""):
            label = focused.find_element(By.XPATH, "ancestor::section").get_attribute("data-label")
            visited.append(f"play {label}")
            keys.send_keys(Keys.ENTER).perform()
            WebDriverWait(driver, 20).until(lambda d, label=label: _ended(d, label))
        elif focused.get_attribute("type") == "radio":
            name = focused.get_attribute("name")
            visited.append(name)
            keys.send_keys("2").perform()
            assert driver.find_element(By.CSS_SELECTOR, f"input[name='{name}'][value='2']").is_selected()
            # The arrow keys still move within the scale, and Tab then leaves it for the next one.
    expected = []
    for label in labels:
        expected += [f"play {label}", *[f"score_{label}_{c}" for c in CRITERIA]]
    assert visited == [*expected, "submit"], visited
    keys.send_keys(Keys.ENTER).perform()
    WebDriverWait(driver, 10).until(lambda d: "Thank you" in d.page_source)
    assert sorted(QualityRating.objects.filter(task__rater=rater).values_list("score", flat=True)) == [2] * 9


def test_an_incomplete_submission_marks_each_unrated_scale_and_scrolls_to_the_first(
    live_server, driver, tmp_path
):
    rater = _open_first_item(driver, live_server, tmp_path)
    labels = _labels(driver)
    for label in labels:
        _play(driver, label)
    for label in labels:
        for criterion in CRITERIA:
            if (label, criterion) not in {("B", "text_adherence"), ("C", "musicality")}:
                _radio(driver, label, criterion, 3).click()
    driver.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    driver.find_element(By.ID, "submit").click()

    invalid = driver.find_elements(By.CSS_SELECTOR, "fieldset[aria-invalid='true']")
    assert [f.get_attribute("id") for f in invalid] == ["scale-B-text_adherence", "scale-C-musicality"]
    notes = [f.find_element(By.CSS_SELECTOR, "p.missing") for f in invalid]
    assert [n.text for n in notes] == [
        "Clip B: choose a score for text adherence.",
        "Clip C: choose a score for musicality.",
    ]
    assert all(n.is_displayed() for n in notes)
    top = driver.execute_script("return arguments[0].getBoundingClientRect().top", invalid[0])
    assert 0 <= top <= driver.execute_script("return window.innerHeight")
    assert not Task.objects.filter(rater=rater, status=TaskStatus.SUBMITTED).exists()
    screenshot(driver, "rating-page-missing-1280.png")

    # Answering a marked scale clears its mark.
    _radio(driver, "B", "text_adherence", 4).click()
    assert invalid[0].get_attribute("aria-invalid") is None and not notes[0].is_displayed()


def test_the_player_has_no_speed_or_download_control_and_a_clip_set_to_8x_plays_at_normal_speed(
    live_server, driver, tmp_path
):
    _open_first_item(driver, live_server, tmp_path)
    assert not driver.find_elements(By.CSS_SELECTOR, "audio[controls]")
    audio = driver.find_element(By.CSS_SELECTOR, "section.clip[data-label='A'] audio")
    started = time.monotonic()
    driver.execute_script("arguments[0].playbackRate = 8; arguments[0].play()", audio)
    WebDriverWait(driver, 20).until(lambda d: _ended(d, "A"))
    assert time.monotonic() - started >= 0.8
    assert driver.execute_script("return arguments[0].playbackRate", audio) == 1


@pytest.mark.parametrize("width", [1280, 390])
def test_the_rating_page_reads_at_laptop_and_phone_width(live_server, tmp_path, width):
    study = make_study(tmp_path, prompts=1, raters_per_prompt=1)
    (rater,) = make_raters(study, 1)
    browser = chromium_driver(width=width, height=900)
    try:
        browser.get(f"{live_server.url}/r/{rater.token}/")
        assert "This session has 1 item: about 1 minute of listening" in browser.page_source
        screenshot(browser, f"rater-home-{width}.png")
        browser.find_element(By.CSS_SELECTOR, "button.primary").click()
        WebDriverWait(browser, 10).until(lambda d: "Item 1 of 1" in d.page_source)
        browser.find_element(By.ID, "submit").click()  # disabled: nothing happens
        browser.execute_script("document.getElementById('submit').disabled = false")
        browser.find_element(By.ID, "submit").click()  # every scale is marked
        assert len(browser.find_elements(By.CSS_SELECTOR, "fieldset[aria-invalid='true']")) == 9
        assert browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth") <= 0
        about = browser.find_elements(By.CSS_SELECTOR, "dl.criteria dd")
        assert len(about) == 3 and all(a.is_displayed() and a.text for a in about)
        screenshot(browser, f"rating-page-{width}.png")
    finally:
        browser.quit()
