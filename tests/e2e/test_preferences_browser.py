"""A real browser (headless Chromium) as a learner: the sign-in link from an email opens their feed, the
feed links to their settings, and a change made there with the page's own controls is saved."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest

from cohorts import services
from core import clock
from notifications.models import Channel, Preference, QuietHours
from notifications.signin import make_token
from programs.services import program_load
from tests.e2e.test_admin_browser import PROGRAM, browser  # noqa: F401 - the headless Chromium fixture

pytestmark = pytest.mark.e2e
SHOTS = os.environ.get("NEXUS_SCREENSHOTS", "")  # a folder: keep the page's screenshot there


def test_a_learner_changes_their_settings_in_a_browser(browser, live_server, transactional_db):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    # given a learner in Kolkata, in a Lagos cohort starting next Monday (the real clock)
    program = program_load(data=PROGRAM, source="browser.yaml").program
    today = clock.now().date()
    start = today + timedelta(days=7 - today.weekday())
    cohort = services.cohort_create(program=program, name="Lagos", start_date=start, timezone="Africa/Lagos")
    kim = services.enrollment_create(cohort=cohort, email="kim@example.com", timezone="Asia/Kolkata")

    # when she follows the sign-in link of an email, then "Choose what you receive"
    browser.get(f"{live_server.url}/feed/signin/{make_token(user_id=kim.user_id)}/")
    browser.find_element(By.ID, "preferences").click()
    WebDriverWait(browser, 30).until(lambda b: b.current_url.endswith("/feed/preferences/"))
    assert "Quiet hours, in your time zone (Asia/Kolkata)" in browser.find_element(By.TAG_NAME, "body").text
    if SHOTS:
        browser.save_screenshot(os.path.join(SHOTS, "feed-preferences.png"))
        browser.execute_script("window.scrollTo(0, document.body.scrollHeight)")
        browser.save_screenshot(os.path.join(SHOTS, "feed-preferences-bottom.png"))

    # and takes reminders by email in the digest, turns quiet hours off and saves
    Select(browser.find_element(By.NAME, f"e{kim.pk}-reminder__email")).select_by_visible_text(
        "In the daily digest"
    )
    browser.find_element(By.NAME, f"e{kim.pk}-quiet_on").click()
    browser.find_element(By.CSS_SELECTOR, f"#enrollment-{kim.pk} button[type=submit]").click()

    # then the page says so, and her choices are stored
    WebDriverWait(browser, 30).until(lambda b: "Saved:" in b.find_element(By.TAG_NAME, "body").text)
    assert "Saved: 2 settings changed for Lagos" in browser.find_element(By.CLASS_NAME, "messages").text
    assert Preference.objects.get(enrollment=kim, kind="reminder", channel=Channel.EMAIL).mode == "digest"
    assert QuietHours.objects.get(enrollment=kim).enabled is False
    if SHOTS:
        browser.save_screenshot(os.path.join(SHOTS, "feed-preferences-saved.png"))
    # and the page fits a phone-sized window as well as a desktop one
    browser.set_window_size(400, 900)
    width, shown = browser.execute_script(
        "const e = document.documentElement; return [e.scrollWidth, e.clientWidth]"
    )
    assert width <= shown, f"the settings page is {width} px wide in {shown} px"
