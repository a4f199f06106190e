"""Every staff page at phone width in real headless Chromium: no sideways scrolling, screenshots kept."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from jobs import services as job_services
from tests.ratings.browser import chromium_driver, needs_chromium, screenshot
from tests.ratings.factories import make_raters, make_study

pytestmark = [pytest.mark.browser, needs_chromium]
PHONE_WIDTH = 390


OVERFLOWING = """
return [...document.querySelectorAll("body *")]
  .filter((e) => e.getBoundingClientRect().right > innerWidth && !e.closest(".table-wrap, .scroll"))
  .slice(0, 5).map((e) => e.tagName + "." + e.className + " " + e.textContent.slice(0, 40) + " " + Math.round(e.getBoundingClientRect().right));
"""


def _overflowing(driver) -> list[str]:
    return driver.execute_script(OVERFLOWING)


@pytest.mark.django_db(transaction=True)
def test_every_staff_page_fits_a_phone_screen(live_server, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    study = make_study(tmp_path, slug="pilot-with-a-long-slug", prompts=3, variants=("base", "cfg"))
    make_raters(study, 3)
    job_services.job_enqueue(
        kind="pregenerate",
        study=study,
        variant_name="lerp-50",
        parameters={"checkpoint": "demo-distilled.pt", "merge_with": "demo-diverse.pt", "lam": 0.5},
    )
    client = Client()
    client.force_login(get_user_model().objects.create_user("researcher", password="pw", is_staff=True))
    pages = {
        "home": "/",
        "dashboards": "/dashboard/",
        "dashboard": f"/dashboard/{study.slug}/",
        "reports": "/staff/analysis/",
        "report": f"/staff/analysis/{study.slug}/",
        "launches": "/staff/launches/",
        "jobs": "/staff/jobs/",
    }
    phone = chromium_driver(width=PHONE_WIDTH, height=844)
    try:
        phone.get(f"{live_server.url}/healthz")
        phone.add_cookie({"name": "sessionid", "value": client.cookies["sessionid"].value, "path": "/"})
        for name, path in pages.items():
            phone.set_window_size(PHONE_WIDTH, 844)
            phone.get(f"{live_server.url}{path}")
            assert 'aria-label="Staff pages"' in phone.page_source, name
            width = phone.execute_script("return document.documentElement.scrollWidth")
            assert width <= PHONE_WIDTH, f"{name} is {width} px wide: {_overflowing(phone)}"
            screenshot(phone, f"staff-{name}-390.png")
    finally:
        phone.quit()
