"""A real browser (headless Chromium at 1,400 px) on the GitHub admin lists staff use: deliveries, learners'
repositories and commit checks, filled with realistic rows, fit the screen without scrolling sideways."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model

from cohorts import services
from core import clock
from programs.services import program_load
from submissions.models import CommitCheck, LearnerRepository
from tests.e2e.test_admin_browser import PROGRAM, browser, log_in  # noqa: F401 - fixture
from webhooks.models import Delivery

pytestmark = pytest.mark.e2e

PAGES = (
    "/admin/webhooks/delivery/",
    "/admin/submissions/learnerrepository/",
    "/admin/submissions/commitcheck/",
)
SHOTS = os.environ.get("NEXUS_SCREENSHOTS", "")  # a folder: keep each page's screenshot there


def test_the_github_admin_lists_fit_1400_px(browser, live_server, transactional_db):  # noqa: F811
    from selenium.webdriver.common.by import By

    # given a cohort whose learners have long e-mails, logins and repository names, long errors and checks
    get_user_model().objects.create_superuser("staff", "staff@example.com", "a long test password")
    program = program_load(data=PROGRAM, source="browser.yaml").program
    today = clock.now().date()
    start = today + timedelta(days=7 - today.weekday())  # a Monday
    cohort = services.cohort_create(program=program, name="Lagos", start_date=start, timezone="Africa/Lagos")
    project = program.projects.get(key="p0")
    now = clock.now()
    for n in range(3):
        learner = services.enrollment_create(
            cohort=cohort, email=f"a.very.long.learner.name{n}@university.example.org"
        )
        learner.github_login = f"a-rather-long-github-login-{n}"
        learner.save()
        full_name = f"prodev-backend-cohort-2027/p0-a-rather-long-github-login-{n}"
        LearnerRepository.objects.create(
            enrollment=learner,
            project=project,
            full_name=full_name,
            html_url=f"https://github.com/{full_name}",
            state=LearnerRepository.State.FAILED,
            last_error="POST /repos/prodev/template/generate: 422 Repository creation failed: name already "
            "exists on this account, and the token may not read it (check the organisation's settings)",
        )
        Delivery.objects.create(
            delivery_id=f"72d3162e-cc78-11e3-81ab-4c9367dc095{n}",
            event="workflow_job",
            action="completed",
            repository=full_name,
            received_at=now,
            payload={},
            state=Delivery.State.FAILED,
            error="KeyError: 'head_sha' while handling the delivery; the payload had no workflow_job.head_sha",
        )
        CommitCheck.objects.create(
            repository=full_name,
            sha="a" * 40,
            source=CommitCheck.Source.WORKFLOW_JOB,
            name="Autograding tests / run-autograding-tests (ubuntu-latest, 3.12)",
            external_id=str(n),
            state="failure",
            conclusion="startup_failure",
            updated_at=now,
            received_at=now,
        )
    log_in(browser, live_server.url, "/admin/")
    for page in PAGES:
        # when staff open the list in a 1,400 px window
        browser.get(live_server.url + page)
        assert browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr"), page
        if SHOTS:
            browser.save_screenshot(os.path.join(SHOTS, page.strip("/").replace("/", "-") + ".png"))
        # then nothing needs a sideways scroll, and the times carry their zone
        # (the admin wraps the list in a box that scrolls on its own: the page alone never overflows)
        for selector in ("document.documentElement", "document.querySelector('#changelist .results')"):
            width, shown = browser.execute_script(
                f"const e = {selector}; return [e.scrollWidth, e.clientWidth]"
            )
            assert width <= shown, f"{page}: {selector} is {width} px wide in {shown} px"
        header = browser.find_element(By.CSS_SELECTOR, "#result_list thead").text.lower()
        assert "utc" in header or "zone" in header, (page, header)


def test_staff_link_a_learners_repository_in_the_admin(browser, live_server, transactional_db):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    # given a cohort whose project has no template: learners bring their own repositories
    get_user_model().objects.create_superuser("staff", "staff@example.com", "a long test password")
    program = program_load(data=PROGRAM, source="browser.yaml").program
    today = clock.now().date()
    start = today + timedelta(days=7 - today.weekday())  # a Monday
    cohort = services.cohort_create(program=program, name="Lagos", start_date=start, timezone="Africa/Lagos")
    ada = services.enrollment_create(cohort=cohort, email="ada@example.com")
    project = program.projects.get(key="p0")

    # when staff open "Add learner repository", pick ada by typing her address, and give her repository's URL
    log_in(browser, live_server.url, "/admin/submissions/learnerrepository/add/")
    browser.find_element(By.CSS_SELECTOR, ".field-enrollment .select2-selection").click()
    search = browser.find_element(By.CSS_SELECTOR, ".select2-search__field")
    search.send_keys("ada@")
    WebDriverWait(browser, 30).until(
        lambda b: "ada@example.com" in b.find_element(By.CSS_SELECTOR, ".select2-results").text
    )
    search.send_keys(Keys.ENTER)
    Select(browser.find_element(By.NAME, "project")).select_by_value(str(project.pk))
    browser.find_element(By.NAME, "full_name").send_keys("https://github.com/ada-lovelace/backend-p0")
    if SHOTS:
        browser.save_screenshot(os.path.join(SHOTS, "admin-link-repository.png"))
    browser.find_element(By.NAME, "_save").click()

    # then the list shows her repository, ready, linked to GitHub
    WebDriverWait(browser, 30).until(
        lambda b: b.current_url.endswith("/admin/submissions/learnerrepository/")
    )
    row = browser.find_element(By.CSS_SELECTOR, "#result_list tbody tr").text
    for shown in ("ada@example.com", "ada-lovelace/backend-p0", "Ready"):
        assert shown in row, row
    repository = LearnerRepository.objects.get(enrollment=ada)
    assert (repository.full_name, repository.state) == (
        "ada-lovelace/backend-p0",
        LearnerRepository.State.READY,
    )
