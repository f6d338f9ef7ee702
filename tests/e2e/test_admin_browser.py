"""A real browser (headless Chromium, Selenium) against a live server: staff log in, open a cohort's
calendar, move an event in the cohort's local time, and see its Beat entry's clocked time follow in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model

from cohorts import services
from core import clock
from programs.services import program_load

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PASSWORD = "a long test password"
# Debian's browser; no network, no updates, nothing downloaded (Selenium Manager is never asked).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,900",
)
PROGRAM = {
    "slug": "browser",
    "name": "Browser program",
    "defaults": {"reminders": ["1d"]},
    "units": [
        {
            "key": "week-0",
            "title": "Week 0",
            "unlock": "week 0 mon 09:00",
            "projects": [
                {
                    "key": "p0",
                    "title": "Project 0",
                    "opens": "week 0 mon 09:00",
                    "due": "week 0 fri 17:00",
                    "cutoff": "week 1 mon 09:00",
                }
            ],
        },
        {"key": "week-1", "title": "Week 1", "unlock": "week 1 mon 09:00"},
    ],
}


@pytest.fixture
def browser():
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.skip(
            f"{' and '.join(missing)} missing: run .ci/install-browser (Debian's chromium, chromium-driver)"
        )
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (pip install '.[dev]')"
    )
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def log_in(browser, url, path, password=PASSWORD):
    """Log staff in and wait until the admin has answered: a `browser.get` right after the click would race
    the login POST and land on the login page again (CI saw an empty list that way)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{url}/admin/login/?next={path}")
    browser.find_element(By.NAME, "username").send_keys("staff")
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(browser, 30).until(lambda b: "/admin/login/" not in b.current_url)
    assert browser.find_elements(By.ID, "user-tools"), f"not logged in: {browser.current_url}"


def test_staff_move_an_event_in_local_time_and_beat_follows_in_utc(browser, live_server, transactional_db):
    from selenium.webdriver.common.by import By

    # Given a Lagos cohort starting next Monday (the real clock: the server thread reads it too).
    get_user_model().objects.create_superuser("staff", "staff@example.com", "a long test password")
    program = program_load(data=PROGRAM, source="browser.yaml").program
    today = clock.now().date()
    start = today + timedelta(days=7 - today.weekday())
    cohort = services.cohort_create(program=program, name="Lagos", start_date=start, timezone="Africa/Lagos")
    event = cohort.events.get(key="due:p0")

    # When staff log in and open the cohort's calendar...
    calendar = f"/admin/cohorts/cohort/{cohort.pk}/calendar/"
    log_in(browser, live_server.url, calendar)
    row = browser.find_element(By.ID, f"event-{event.pk}")
    assert "17:00:00 WAT" in row.find_element(By.CLASS_NAME, "local").text

    # ... and move Friday's due to Thursday 10:15:30 in Lagos,
    row.find_element(By.CLASS_NAME, "move").click()
    assert "Africa/Lagos" in browser.find_element(By.CSS_SELECTOR, ".field-override_at").text
    thursday = start + timedelta(days=3)
    for name, value in (("override_at_0", thursday.isoformat()), ("override_at_1", "10:15:30")):
        box = browser.find_element(By.NAME, name)
        box.clear()
        box.send_keys(value)
    browser.find_element(By.NAME, "_save").click()

    # Then the calendar shows the new local time, and its Beat entry is clocked at the UTC instant.
    row = browser.find_element(By.ID, f"event-{event.pk}")
    assert row.find_element(By.CLASS_NAME, "local").text == "10:15:30 WAT"
    row.find_element(By.CLASS_NAME, "beat").click()
    expected = datetime.combine(thursday, time(10, 15, 30), tzinfo=ZoneInfo("Africa/Lagos")).astimezone(UTC)
    clocked = browser.find_element(By.CSS_SELECTOR, ".field-clocked_utc .readonly").text
    assert clocked == f"{expected:%Y-%m-%d %H:%M:%S} UTC"
    assert "overwritten by the next" in browser.find_element(By.ID, "overwritten-note").text
