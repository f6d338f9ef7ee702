"""Chat webhook URLs as staff save them (the cohort page, the learner page, the services): production
refuses a URL reaching inside our network or travelling in clear, with the reason on the field."""

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from cohorts import services
from cohorts.models import Cohort, Enrollment

pytestmark = pytest.mark.django_db

PUBLIC = "https://93.184.215.14/hooks/T000/B000/XXXX"  # a literal public address: no DNS needed


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_superuser("staff", "staff@example.com", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def production(settings):
    settings.NEXUS_HTTP_REQUIRE_HTTPS = True
    settings.NEXUS_HTTP_ALLOW_PRIVATE = False


def cohort_data(cohort, **changes):
    data = {
        "program": cohort.program_id,
        "name": cohort.name,
        "start_date": cohort.start_date.isoformat(),
        "timezone": cohort.timezone,
        "anchors": '{"demo_day": "2027-01-29"}',
        "speed": "1.0",
        "chat_webhook_url": cohort.chat_webhook_url,
        "enrollments-TOTAL_FORMS": "0",
        "enrollments-INITIAL_FORMS": "0",
        "enrollments-MIN_NUM_FORMS": "0",
        "enrollments-MAX_NUM_FORMS": "1000",
    }
    data.update(changes)
    return data


def learner_data(enrollment, **changes):
    data = {
        "email": enrollment.email,
        "timezone": enrollment.timezone,
        "github_login": enrollment.github_login,
        "group": enrollment.group,
        "chat_webhook_url": enrollment.chat_webhook_url,
    }
    data.update(changes)
    return data


def field_errors(response, name):
    assert response.status_code == 200, "the form should come back with errors"
    return " ".join(response.context["adminform"].form.errors.get(name, []))


REFUSED = [
    ("https://127.0.0.1/hook", "127.0.0.1 resolves to 127.0.0.1, a private, loopback or link-local address"),
    ("https://10.0.0.1/hook", "10.0.0.1 resolves to 10.0.0.1, a private, loopback or link-local address"),
    ("http://93.184.215.14/hook", "Only https:// URLs are allowed."),
]


@pytest.mark.usefixtures("production")
@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_the_cohort_page_refuses_an_unsafe_chat_url_with_the_reason(staff, make_cohort, url, reason):
    # given a cohort, in production settings
    cohort = make_cohort(learners=())
    # when staff give it a chat webhook pointing inside the network (or in clear)
    response = staff.post(
        f"/admin/cohorts/cohort/{cohort.pk}/change/", cohort_data(cohort, chat_webhook_url=url)
    )
    # then the page says why, on that field, and nothing is stored
    assert reason in field_errors(response, "chat_webhook_url")
    assert Cohort.objects.get().chat_webhook_url == ""


@pytest.mark.usefixtures("production")
@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_the_learner_page_refuses_an_unsafe_chat_url_with_the_reason(staff, make_cohort, url, reason):
    cohort = make_cohort(learners=("ada@example.com",))
    ada = cohort.enrollments.get()
    response = staff.post(
        f"/admin/cohorts/enrollment/{ada.pk}/change/", learner_data(ada, chat_webhook_url=url)
    )
    assert reason in field_errors(response, "chat_webhook_url")
    assert Enrollment.objects.get().chat_webhook_url == ""


@pytest.mark.usefixtures("production")
def test_a_public_https_url_is_saved_on_both_pages(staff, make_cohort):
    cohort = make_cohort(learners=("ada@example.com",))
    ada = cohort.enrollments.get()
    # the cohort page shows the field, and saves a public https URL
    assert (
        "chat_webhook_url"
        in staff.get(f"/admin/cohorts/cohort/{cohort.pk}/change/").context["adminform"].form.fields
    )
    response = staff.post(
        f"/admin/cohorts/cohort/{cohort.pk}/change/", cohort_data(cohort, chat_webhook_url=PUBLIC)
    )
    assert response.status_code == 302
    assert Cohort.objects.get().chat_webhook_url == PUBLIC
    # and so does the learner page (a URL typed without its scheme is read as https)
    response = staff.post(
        f"/admin/cohorts/enrollment/{ada.pk}/change/",
        learner_data(ada, chat_webhook_url=PUBLIC.removeprefix("https://")),
    )
    assert response.status_code == 302
    assert Enrollment.objects.get().chat_webhook_url == PUBLIC


def test_dev_and_test_settings_allow_a_loopback_webhook(staff, make_cohort):
    cohort = make_cohort(learners=())
    url = "http://127.0.0.1:8025/hooks/cohort"
    response = staff.post(
        f"/admin/cohorts/cohort/{cohort.pk}/change/", cohort_data(cohort, chat_webhook_url=url)
    )
    assert response.status_code == 302
    assert Cohort.objects.get().chat_webhook_url == url


@pytest.mark.usefixtures("production")
def test_an_unchanged_stored_url_does_not_block_other_edits(staff, make_cohort):
    # given a URL stored while it was allowed, that production now refuses
    cohort = make_cohort(learners=())
    Cohort.objects.filter(pk=cohort.pk).update(chat_webhook_url="http://10.0.0.1/hook")
    cohort.refresh_from_db()
    # when staff rename the cohort, leaving the URL as it is
    response = staff.post(f"/admin/cohorts/cohort/{cohort.pk}/change/", cohort_data(cohort, name="Lagos 2"))
    # then the rename is saved (sending checks the URL again and fails the message with the reason)
    assert response.status_code == 302
    assert Cohort.objects.get().name == "Lagos 2"


@pytest.mark.usefixtures("production")
def test_the_services_refuse_an_unsafe_chat_url_naming_the_field(make_cohort, small_program):
    # creating a cohort, enrolling a learner, editing either: the same check, on the same field
    with pytest.raises(ValidationError) as created:
        services.cohort_create(
            program=small_program,
            name="Abuja",
            start_date=make_cohort(learners=()).start_date,
            timezone="Africa/Lagos",
            anchors={"demo_day": "2027-01-29"},
            chat_webhook_url="https://10.0.0.1/hook",
        )
    assert "10.0.0.1" in created.value.message_dict["chat_webhook_url"][0]
    assert not Cohort.objects.filter(name="Abuja").exists()
    cohort = Cohort.objects.get()
    with pytest.raises(ValidationError) as updated:
        services.cohort_update(cohort=cohort, chat_webhook_url="https://127.0.0.1/hook")
    assert "127.0.0.1" in updated.value.message_dict["chat_webhook_url"][0]
    with pytest.raises(ValidationError) as enrolled:
        services.enrollment_create(
            cohort=cohort, email="kim@example.com", chat_webhook_url="http://x.example/"
        )
    assert enrolled.value.message_dict["chat_webhook_url"] == ["Only https:// URLs are allowed."]
    assert not cohort.enrollments.exists()
    ada = services.enrollment_create(cohort=cohort, email="ada@example.com", chat_webhook_url=PUBLIC)
    with pytest.raises(ValidationError) as edited:
        services.enrollment_update(enrollment=ada, chat_webhook_url="https://169.254.169.254/latest")
    assert "link-local" in edited.value.message_dict["chat_webhook_url"][0]
    # (an instance already carrying the new value, as an admin form's does, is checked against the row)
    ada.chat_webhook_url = "https://10.0.0.1/hook"
    with pytest.raises(ValidationError):
        services.enrollment_update(enrollment=ada, chat_webhook_url=ada.chat_webhook_url)
    ada.refresh_from_db()
    assert ada.chat_webhook_url == PUBLIC
