"""A real browser (headless Chromium) shows staff what a learner was told: the Notification page with the
rendered subject and text, and the HTML part in a sandboxed frame; and a template preview for a learner."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model

from cohorts import services
from core import clock
from notifications import effects as notification_effects
from notifications.models import Notification, TemplateOverride
from notifications.overrides import overrides_changed
from notifications.services import outbox_sweep
from programs.services import program_load
from tests.e2e.test_admin_browser import PROGRAM, browser, log_in  # noqa: F401 - the headless Chromium fixture

pytestmark = pytest.mark.e2e
PASSWORD = "a long test password"


def test_staff_read_the_rendered_email_of_a_learner(browser, live_server, transactional_db):  # noqa: F811
    from selenium.webdriver.common.by import By

    # Given a rehearsal cohort starting next Monday (the real clock) and a learner living in Kolkata,
    # whose unlock message went out.
    get_user_model().objects.create_superuser("staff", "staff@example.com", PASSWORD)
    program = program_load(data=PROGRAM, source="browser.yaml").program
    today = clock.now().date()
    start = today + timedelta(days=7 - today.weekday())
    cohort = services.cohort_create(
        program=program, name="Lagos rehearsal", start_date=start, timezone="Africa/Lagos", speed=60
    )
    services.enrollment_create(cohort=cohort, email="kim@example.com", timezone="Asia/Kolkata")
    notification_effects.notify(cohort, cohort.events.get(key="unlock:week-0"))
    assert outbox_sweep().sent == 1
    row = Notification.objects.get(channel="email")

    # When staff open the notification in the admin,
    log_in(browser, live_server.url, f"/admin/notifications/notification/{row.pk}/change/")

    # then they read the subject and text as sent, in her zone, marked as a rehearsal,
    page = browser.find_element(By.ID, "content").text
    assert "[Rehearsal] Week 0 is unlocked" in page
    assert "(Asia/Kolkata)" in browser.find_element(By.ID, "message-text").text
    # and the HTML part renders inside a sandboxed frame.
    frame = browser.find_element(By.ID, "message-html")
    assert frame.get_attribute("sandbox") == ""
    browser.switch_to.frame(frame)
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "This is a rehearsal" in body
    assert "Week 0 is unlocked as of" in body
    assert "IST (Asia/Kolkata)" in body
    browser.switch_to.default_content()


def test_a_previewed_override_cannot_run_script_in_the_admin(browser, live_server, transactional_db):  # noqa: F811
    from selenium.webdriver.common.by import By

    # Given an override whose HTML carries a script (staff pasted it from somewhere)
    overrides_changed()
    get_user_model().objects.create_superuser("staff", "staff@example.com", PASSWORD)
    override = TemplateOverride.objects.create(
        kind=Notification.Kind.WINDOW_OPENED,
        text="{{ title }} is open",
        html="<h1 id='t'>{{ title }} is open</h1><script>parent.document.title = 'pwned';"
        "document.getElementById('t').textContent = 'pwned';</script>",
    )

    # When staff preview it for the made-up learner,
    log_in(browser, live_server.url, f"/admin/notifications/templateoverride/{override.pk}/preview/")

    # then the page shows it, and the script ran neither in the admin's page nor in the frame.
    assert browser.find_element(By.ID, "preview-subject").text.endswith("submissions are open")
    assert browser.title != "pwned"
    browser.switch_to.frame(browser.find_element(By.ID, "preview-html"))
    assert browser.find_element(By.ID, "t").text.endswith("is open")
    browser.switch_to.default_content()
    overrides_changed()
