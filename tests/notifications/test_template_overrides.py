"""Staff's template overrides: checked when saved in the admin (a syntax error or an unknown variable is a
form error with its line), used when rendering, previewed for a sample learner, and never a reason for a
message not to go out."""

import logging
from datetime import UTC, datetime

import pytest
from django.core import mail

from notifications import effects as notification_effects
from notifications.models import Channel, Notification, TemplateOverride
from notifications.overrides import overrides_changed
from notifications.render import render
from notifications.services import outbox_sweep

pytestmark = pytest.mark.django_db

Kind = Notification.Kind
URL = "/admin/notifications/templateoverride/"


@pytest.fixture(autouse=True)
def _fresh_override_cache():
    """Overrides are cached for a few seconds per process: each test starts and ends without them."""
    overrides_changed()
    yield
    overrides_changed()


def unlock(cohort):
    notification_effects.notify(cohort, cohort.events.get(key="unlock:week-0"))
    return Notification.objects.filter(cohort=cohort, channel="email").select_related("enrollment__cohort")


def form(**fields):
    return {
        "kind": Kind.UNIT_UNLOCKED,
        "channel": Channel.EMAIL,
        "subject": "",
        "text": "",
        "html": "",
    } | fields


def test_an_override_saved_in_the_admin_is_what_learners_get(make_cohort, admin_client):
    # given staff's own wording for unlocks by email
    response = admin_client.post(
        URL + "add/",
        form(
            subject="New this week: {{ title }}",
            text="Hi {{ email }}! {{ title }} opened {{ when }}.",
            html="<p>Hi <b>{{ email }}</b>: {{ title }} opened {{ when }}.</p>",
        ),
    )
    assert response.status_code == 302, response.content.decode()[:2000]

    # when a rehearsal cohort's unlock is rendered for a learner
    cohort = make_cohort(learners=("ada@example.com",), speed=60)
    [row] = unlock(cohort)
    shown = render(row)

    # then it says what staff wrote, in her zone, and still says it is a rehearsal
    assert shown.subject == "[Rehearsal] New this week: Week 0"
    assert shown.text == "Hi ada@example.com! Week 0 opened Mon 04 Jan 2027 09:00 WAT (Africa/Lagos)."
    assert (
        shown.html
        == "<p>Hi <b>ada@example.com</b>: Week 0 opened Mon 04 Jan 2027 09:00 WAT (Africa/Lagos).</p>"
    )
    # and another channel keeps its built-in wording
    row.channel = Channel.INAPP
    assert render(row).text.startswith("[Rehearsal] Week 0 is unlocked")


def test_an_override_with_no_html_gets_its_text_escaped_in_the_built_in_layout(make_cohort):
    TemplateOverride.objects.create(kind=Kind.UNIT_UNLOCKED, text="<script>{{ title }}</script> & more")
    [row] = unlock(make_cohort(learners=("ada@example.com",)))
    shown = render(row)
    assert shown.subject == "Week 0 is unlocked"  # the built-in subject
    assert "&lt;script&gt;Week 0&lt;/script&gt; &amp; more" in shown.html
    assert "Times are in Africa/Lagos" in shown.html


@pytest.mark.parametrize(
    ("field", "source", "says"),
    [
        ("text", "Hello {{ email }},\n{% if title %}\n{{ title }} is out.\n", "Line 2"),
        ("text", "Hello,\n\n{{ title }} {% endfor %}", "Line 3"),
        ("html", "<p>\n{{ title|nosuchfilter }}</p>", "Line 2"),
        ("subject", "{{ titel }} is out", "Line 1"),
        ("text", "Hello\n{{ email }}\n{{ learner.name }}", "Line 3"),
    ],
)
def test_a_broken_override_is_refused_with_the_field_and_the_line(
    admin_client, settings, field, source, says
):
    # given DEBUG off, as in production
    settings.DEBUG = False
    fields = form(text="{{ title }}") | {field: source}

    # when staff save it
    response = admin_client.post(URL + "add/", fields)

    # then the form comes back with the error on that field, naming the line; nothing is stored
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field]
    assert says in errors[field][0]
    assert not TemplateOverride.objects.exists()


def test_an_unknown_variable_is_named_in_the_error(admin_client):
    response = admin_client.post(URL + "add/", form(text="Hi\n{{ titel }}"))
    assert "Line 2" in response.context["adminform"].form.errors["text"][0]
    assert "unknown variable 'titel'" in response.context["adminform"].form.errors["text"][0]


def test_a_variable_of_another_kind_is_refused_for_this_kind_but_optional_ones_pass(admin_client):
    # "changes" exists for every kind (empty but for date_changed); "unsubscribe_url" may be empty
    ok = admin_client.post(
        URL + "add/",
        form(
            kind=Kind.DATE_CHANGED,
            text="{% for c in changes %}{{ c.what }}: {{ c.new }} (was {{ c.old }})\n{% endfor %}"
            "{% if unsubscribe_url %}{{ unsubscribe_url }}{% endif %}",
        ),
    )
    assert ok.status_code == 302
    refused = admin_client.post(URL + "add/", form(kind=Kind.CI_FAILED, text="{{ sha.nope }}"))
    assert "unknown variable" in refused.context["adminform"].form.errors["text"][0]


def test_the_preview_renders_an_override_for_a_chosen_learner(make_cohort, admin_client):
    # given an override and a learner in Kolkata in a rehearsal cohort
    override = TemplateOverride.objects.create(
        kind=Kind.REMINDER,
        subject="Due soon: {{ title }}",
        text="{{ title }} is due {{ due }} ({{ offset }} left)",
        html='<p onclick="x()">{{ title }} <script>alert(1)</script></p>',
    )
    cohort = make_cohort(learners=(), speed=60)
    from cohorts.services import enrollment_create

    kim = enrollment_create(cohort=cohort, email="kim@example.com", timezone="Asia/Kolkata")

    # when staff preview it for her
    response = admin_client.get(f"{URL}{override.pk}/preview/?enrollment={kim.pk}")

    # then subject, text and HTML are shown, rendered for her (her zone, her program's first project)
    page = response.content.decode()
    assert response.status_code == 200
    assert "[Rehearsal] Due soon: Project 0" in page
    assert "Project 0 is due" in page
    assert "IST (Asia/Kolkata) (1 day left)" in page
    # and the HTML sits escaped in a sandboxed frame: its script never runs in the admin's page
    assert '<iframe id="preview-html" sandbox=""' in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)</script>" not in page
    # and the override's change page links to the preview
    change = admin_client.get(f"{URL}{override.pk}/change/").content.decode()
    assert f"{URL}{override.pk}/preview/" in change


@pytest.mark.parametrize("kind", [k for k in Kind if k != Kind.DIGEST])
def test_the_built_in_templates_preview_for_a_made_up_learner(admin_client, kind):
    response = admin_client.get(f"{URL}preview/?kind={kind}&channel=email")
    page = response.content.decode()
    assert response.status_code == 200
    assert "learner@example.com" in page
    assert "Times are in Asia/Kolkata" in page
    assert 'id="preview-subject"' in page
    assert "errornote" not in page
    inapp = admin_client.get(f"{URL}preview/?kind={kind}&channel=inapp")
    assert inapp.status_code == 200
    assert 'id="preview-text"' in inapp.content.decode()


def test_a_preview_of_nonsense_is_a_404_not_a_500(admin_client):
    assert admin_client.get(f"{URL}preview/?kind=nope&channel=email").status_code == 404
    assert admin_client.get(f"{URL}999999/preview/").status_code == 404
    assert admin_client.get(f"{URL}preview/?kind=reminder&enrollment=abc").status_code == 200


@pytest.mark.parametrize(
    "text",
    ["Hi {{ nobody }}", "Hi {% if %}", "{{ title|date:'Y'|nosuch }}", "{% include 'no/such.txt' %}"],
)
def test_an_override_that_fails_at_send_time_falls_back_to_the_built_in(make_cohort, caplog, text):
    # given an override stored around the admin's check (e.g. by a data migration)
    TemplateOverride.objects.create(kind=Kind.UNIT_UNLOCKED, channel=Channel.EMAIL, text=text)
    unlock(make_cohort(learners=("ada@example.com", "bob@example.com")))

    # when the outbox is delivered
    with caplog.at_level(logging.WARNING, logger="notifications.render"):
        done = outbox_sweep()

    # then every learner still gets the built-in message, and the failure is logged
    assert (done.sent, done.failed) == (2, 0)
    assert len(mail.outbox) == 2
    for message in mail.outbox:
        assert message.subject == "Week 0 is unlocked"
        assert "Week 0 is unlocked as of Mon 04 Jan 2027 09:00 WAT (Africa/Lagos)" in message.body
    assert "override failed" in caplog.text
    assert Notification.objects.filter(status=Notification.Status.SENT, channel="email").count() == 2


def test_the_notification_page_shows_the_message_as_rendered(make_cohort, admin_client):
    # given a pending reminder for a learner in a rehearsal cohort
    cohort = make_cohort(learners=("ada@example.com",), speed=60)
    notification_effects.notify(cohort, cohort.events.get(key="remind:p0:1d"))
    row = Notification.objects.get(channel="email")

    # when staff open it in the admin
    page = admin_client.get(f"/admin/notifications/notification/{row.pk}/change/").content.decode()

    # then they read the subject, text and (sandboxed) HTML the learner gets
    assert "[Rehearsal] Reminder: Project 0 is due Fri 08 Jan 17:00 WAT" in page
    assert "Project 0 is due at Fri 08 Jan 2027 17:00 WAT (Africa/Lagos) (in 1 day)" in page
    assert '<iframe id="message-html" sandbox=""' in page
    assert 'srcdoc="&lt;html&gt;&lt;body&gt;' in page  # the HTML part, escaped into the frame
    assert datetime(2027, 1, 7, 16, 0, tzinfo=UTC) == row.effective_at


def test_the_override_pages_open_and_link_to_the_built_in_previews(admin_client):
    listing = admin_client.get(URL)
    assert listing.status_code == 200
    assert f'href="{URL}preview/"' in listing.content.decode()
    add = admin_client.get(URL + "add/")
    assert add.status_code == 200
    assert "unsubscribe_url" in add.content.decode()  # the variables are listed for staff
