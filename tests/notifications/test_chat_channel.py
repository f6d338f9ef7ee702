"""The chat channel against a real HTTP server on loopback: what a Slack/Discord webhook receives, and
how each answer (2xx, 5xx, 429 Retry-After, 4xx, a timeout, a redirect) becomes the row's state."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from notifications.channels.chat import ChatChannel
from notifications.models import Channel, Notification
from notifications.services import outbox_claim, outbox_deliver, outbox_sweep
from tests.conftest import PINNED_NOW
from tests.notifications.chat_sink import HANG, Answer, ChatSink
from tests.notifications.smtp import free_port

pytestmark = pytest.mark.django_db

Status = Notification.Status
UNLOCK_AT = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)  # week 0's unlock: Mon 09:00 in Lagos


@pytest.fixture
def chat_sink():
    """A webhook server on loopback for this test."""
    sink = ChatSink()
    yield sink
    sink.stop()


def chat_row(cohort, email=None, *, subject="week-0", title="Week 0"):
    """One chat notification of week 0's unlock: to a learner, or (no email) the cohort's announcement."""
    enrollment = cohort.enrollments.get(email=email) if email else None
    return Notification.objects.create(
        kind=Notification.Kind.UNIT_UNLOCKED,
        cohort=cohort,
        enrollment=enrollment,
        subject=subject,
        effective_at=UNLOCK_AT,
        channel=Channel.CHAT,
        payload={"title": title},
    )


def hook(cohort, email, url):
    cohort.enrollments.filter(email=email).update(chat_webhook_url=url)


def deliver():
    return outbox_deliver(ids=outbox_claim())


def test_a_post_carries_text_for_slack_and_content_for_discord(make_cohort, chat_sink):
    # given ada and bob each have a chat webhook on the same server
    cohort = make_cohort()
    hook(cohort, "ada@example.com", chat_sink.url("/hooks/ada"))
    hook(cohort, "bob@example.com", chat_sink.url("/hooks/bob"))
    ada, bob = chat_row(cohort, "ada@example.com"), chat_row(cohort, "bob@example.com")

    # when the outbox is delivered
    done = deliver()

    # then each webhook got one JSON post with both keys (and nothing else), the subject first
    assert (done.sent, done.retry, done.failed) == (2, 0, 0)
    [post] = chat_sink.to("/hooks/ada")
    assert post.headers["Content-Type"] == "application/json"
    assert set(post.json) == {"text", "content"}
    assert post.json["text"].startswith("*Week 0 is unlocked*\n")
    assert post.json["content"].startswith("**Week 0 is unlocked**\n")
    # and the time is the learner's local time, with the zone named
    assert "Mon 04 Jan 2027 09:00 WAT (Africa/Lagos)" in post.json["content"]
    assert "Mon 04 Jan 2027 09:00 WAT (Africa/Lagos)" in post.json["text"]
    assert len(chat_sink.to("/hooks/bob")) == 1
    # and both posts went over one connection (one session per batch)
    assert len({p.client for p in chat_sink.posts}) == 1
    # and each row says it went, when, and what it said
    for row in (ada, bob):
        row.refresh_from_db()
        assert (row.status, row.attempts, row.sent_at, row.last_error) == (Status.SENT, 1, PINNED_NOW, "")
        assert row.rendered_subject == "Week 0 is unlocked"
        assert "Mon 04 Jan 2027 09:00 WAT" in row.rendered_body
    # and nothing is posted twice
    assert outbox_sweep().sent == 0
    assert len(chat_sink.posts) == 2


def test_slack_markup_in_a_title_is_escaped_for_slack_only(make_cohort, chat_sink):
    cohort = make_cohort(learners=("ada@example.com",))
    hook(cohort, "ada@example.com", chat_sink.url("/hooks/ada"))
    chat_row(cohort, "ada@example.com", title="Q&A <!channel>")
    deliver()
    [post] = chat_sink.to("/hooks/ada")
    # Slack would read <!channel> as a mention of everyone; Discord shows the text as typed
    assert post.json["text"].startswith("*Q&amp;A &lt;!channel&gt; is unlocked*")
    assert post.json["content"].startswith("**Q&A <!channel> is unlocked**")


def test_an_announcement_goes_to_the_cohorts_webhook(make_cohort, chat_sink):
    # given the cohort's announcements webhook, and ada's own
    cohort = make_cohort()
    cohort.chat_webhook_url = chat_sink.url("/hooks/cohort")
    cohort.save(update_fields=["chat_webhook_url"])
    hook(cohort, "ada@example.com", chat_sink.url("/hooks/ada"))
    row = chat_row(cohort)  # no learner: the whole cohort

    # when it is delivered
    assert deliver().sent == 1

    # then the cohort's channel got it, in the cohort's zone; no learner's did
    [post] = chat_sink.posts
    assert post.path == "/hooks/cohort"
    assert post.json["content"].startswith("**Week 0 is unlocked**\n")
    assert "(Africa/Lagos)" in post.json["content"]
    row.refresh_from_db()
    assert row.status == Status.SENT


def test_a_5xx_is_retried_after_the_backoff_then_sent(make_cohort, chat_sink, settings):
    # given the webhook answers 500 once, then 200
    cohort = make_cohort(learners=("ada@example.com",))
    hook(cohort, "ada@example.com", chat_sink.url("/hooks/ada"))
    chat_sink.answer("/hooks/ada", Answer(500, "upstream broke"))
    row = chat_row(cohort, "ada@example.com")

    # when delivered
    assert deliver().retry == 1

    # then the row waits for its backoff, with the error
    row.refresh_from_db()
    assert row.status == Status.PENDING
    assert row.attempts == 1
    assert row.last_error == "HTTP 500 Internal Server Error: upstream broke"
    backoff = timedelta(seconds=settings.NEXUS_NOTIFY_RETRY_BASE)
    assert (
        PINNED_NOW + backoff
        <= row.not_before
        <= PINNED_NOW + backoff * (1 + settings.NEXUS_NOTIFY_RETRY_JITTER)
    )
    assert outbox_sweep().sent == 0  # not before then
    # and after it, it is sent, on the second attempt
    with time_machine.travel(row.not_before + timedelta(seconds=1), tick=False):
        assert outbox_sweep().sent == 1
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (Status.SENT, 2, "")
    assert len(chat_sink.to("/hooks/ada")) == 2


def test_a_429_waits_at_least_its_retry_after_for_every_row_to_that_webhook(make_cohort, chat_sink, settings):
    # given a team channel both learners post to, rate-limited for 120 s (longer than our backoff)
    settings.NEXUS_NOTIFY_RETRY_BASE = 10
    cohort = make_cohort()
    hook(cohort, "ada@example.com", chat_sink.url("/hooks/team"))
    hook(cohort, "bob@example.com", chat_sink.url("/hooks/team"))
    chat_sink.answer("/hooks/team", Answer(429, "rate limited", {"Retry-After": "120"}))
    rows = [chat_row(cohort, "ada@example.com"), chat_row(cohort, "bob@example.com")]

    # when delivered
    done = deliver()

    # then one post was tried; both rows wait until the Retry-After, not our 10 s backoff
    assert (done.sent, done.retry, done.failed) == (0, 2, 0)
    assert len(chat_sink.posts) == 1
    for row in rows:
        row.refresh_from_db()
        assert row.status == Status.PENDING
        assert row.not_before >= PINNED_NOW + timedelta(seconds=120)
        assert "HTTP 429" in row.last_error
        assert "Retry-After 120 s" in row.last_error
    # and a sweep before then posts nothing
    with time_machine.travel(PINNED_NOW + timedelta(seconds=119), tick=False):
        assert outbox_sweep().sent == 0
    assert len(chat_sink.posts) == 1
    # and one after it delivers both
    with time_machine.travel(PINNED_NOW + timedelta(seconds=121), tick=False):
        assert outbox_sweep().sent == 2
    assert len(chat_sink.posts) == 3


def test_a_404_fails_the_row_with_the_reason_and_is_not_retried(make_cohort, chat_sink):
    # given a webhook that was deleted on the chat's side
    cohort = make_cohort(learners=("ada@example.com",))
    hook(cohort, "ada@example.com", chat_sink.url("/hooks/ada"))
    chat_sink.answer("/hooks/ada", Answer(404, "no_service"))
    row = chat_row(cohort, "ada@example.com")

    # when delivered
    assert deliver().failed == 1

    # then the row failed, saying why, with what it would have said
    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert row.last_error == "HTTP 404 Not Found: no_service"
    assert row.rendered_subject == "Week 0 is unlocked"
    # and it is never tried again by itself
    with time_machine.travel(PINNED_NOW + timedelta(days=1), tick=False):
        assert outbox_sweep().sent == 0
    assert len(chat_sink.posts) == 1


def test_a_redirect_is_not_followed_and_fails_the_row(make_cohort, chat_sink):
    # given a webhook that redirects (possibly inside our network, which the URL check never saw)
    cohort = make_cohort(learners=("ada@example.com",))
    hook(cohort, "ada@example.com", chat_sink.url("/hooks/ada"))
    chat_sink.answer("/hooks/ada", Answer(307, "", {"Location": "http://10.0.0.1/admin"}))
    row = chat_row(cohort, "ada@example.com")
    assert deliver().failed == 1
    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert "HTTP 307" in row.last_error
    assert "http://10.0.0.1/admin" in row.last_error
    assert [p.path for p in chat_sink.posts] == ["/hooks/ada"]


def test_a_silent_webhook_times_out_and_is_retried(make_cohort, chat_sink, monkeypatch):
    # given a chat host that reads a post and never answers, and a short read timeout
    monkeypatch.setattr(ChatChannel, "timeout", (2.0, 0.5))
    cohort = make_cohort()
    hook(cohort, "ada@example.com", chat_sink.url("/hooks/ada"))
    hook(cohort, "bob@example.com", chat_sink.url("/hooks/bob"))
    chat_sink.answer("/hooks/ada", HANG)
    rows = [chat_row(cohort, "ada@example.com"), chat_row(cohort, "bob@example.com")]

    # when delivered
    assert deliver().retry == 2

    # then both rows are back to pending with the timeout as their error
    for row in rows:
        row.refresh_from_db()
        assert row.status == Status.PENDING
        assert row.attempts == 1
        assert "ReadTimeout" in row.last_error
        assert row.not_before > PINNED_NOW
    # and the batch did not wait out a second timeout on the same host: bob's was not posted yet
    assert [p.path for p in chat_sink.posts] == ["/hooks/ada"]
    # and the next attempt delivers both
    with time_machine.travel(PINNED_NOW + timedelta(hours=1), tick=False):
        assert outbox_sweep().sent == 2


def test_a_slow_batch_puts_its_remaining_rows_back_before_its_lease_runs_out(
    make_cohort, chat_sink, settings
):
    # given a 2-second lease, and a webhook that takes 1.2 s to answer ada's post
    settings.NEXUS_NOTIFY_LEASE = 2
    cohort = make_cohort()
    hook(cohort, "ada@example.com", chat_sink.url("/hooks/ada"))
    hook(cohort, "bob@example.com", chat_sink.url("/hooks/bob"))
    chat_sink.answer("/hooks/ada", Answer(delay=1.2))
    ada, bob = chat_row(cohort, "ada@example.com"), chat_row(cohort, "bob@example.com")

    # when the batch is delivered
    done = deliver()

    # then ada's went; bob's (past half the lease) was put back untried, to go with the next batch
    assert (done.sent, done.retry) == (1, 1)
    bob.refresh_from_db()
    assert bob.status == Status.PENDING
    assert bob.last_error.startswith("not tried: this batch used half its lease")
    assert [p.path for p in chat_sink.posts] == ["/hooks/ada"]
    with time_machine.travel(PINNED_NOW + timedelta(hours=1), tick=False):
        assert outbox_sweep().sent == 1
    assert [p.path for p in chat_sink.posts] == ["/hooks/ada", "/hooks/bob"]
    ada.refresh_from_db()
    assert ada.attempts == 1


def test_a_refused_connection_is_retried(make_cohort):
    cohort = make_cohort(learners=("ada@example.com",))
    hook(cohort, "ada@example.com", f"http://127.0.0.1:{free_port()}/hooks/ada")
    row = chat_row(cohort, "ada@example.com")
    assert deliver().retry == 1
    row.refresh_from_db()
    assert row.status == Status.PENDING
    assert "ConnectionError" in row.last_error


def test_a_learner_without_a_webhook_fails_with_the_reason(make_cohort, chat_sink):
    cohort = make_cohort(learners=("ada@example.com",))
    row = chat_row(cohort, "ada@example.com")
    assert deliver().failed == 1
    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert row.last_error == "ada@example.com has no chat webhook URL"
    assert chat_sink.posts == []


@pytest.mark.parametrize(
    ("require_https", "reason"),
    [
        (True, "Only https:// URLs are allowed."),
        (False, "127.0.0.1 resolves to 127.0.0.1, a private, loopback or link-local address"),
    ],
)
def test_a_stored_url_that_became_unsafe_fails_without_any_request(
    make_cohort, chat_sink, settings, require_https, reason
):
    # given a learner's webhook on loopback, stored while that was allowed (dev settings)
    cohort = make_cohort(learners=("ada@example.com",))
    hook(cohort, "ada@example.com", chat_sink.url("/hooks/ada"))
    row = chat_row(cohort, "ada@example.com")

    # when it is delivered under production settings
    settings.NEXUS_HTTP_REQUIRE_HTTPS = require_https
    settings.NEXUS_HTTP_ALLOW_PRIVATE = False
    assert deliver().failed == 1

    # then the row failed for good, saying why, and the webhook was never called
    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert row.last_error.startswith("chat webhook URL refused: ")
    assert reason in row.last_error
    assert chat_sink.posts == []
    with time_machine.travel(PINNED_NOW + timedelta(days=1), tick=False):
        assert outbox_sweep().failed == 0
    assert chat_sink.posts == []


def test_a_name_whose_dns_answer_changes_after_the_check_is_not_posted_to(
    make_cohort, chat_sink, settings, monkeypatch
):
    # given a learner's webhook on a name that resolves to a public address when checked, then to
    # loopback when the connection resolves it again (DNS rebinding; the resolver's answers are scripted,
    # the server on loopback is real)
    import socket

    real = socket.getaddrinfo
    answers = iter(("93.184.215.14", "127.0.0.1", "127.0.0.1", "127.0.0.1"))

    def rebinding(host, port, *args, **kwargs):
        if host != "hooks.rebind.example":
            return real(host, port, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (next(answers), int(port)))]

    cohort = make_cohort(learners=("ada@example.com",))
    url = chat_sink.url("/hooks/ada").replace("127.0.0.1", "hooks.rebind.example")
    hook(cohort, "ada@example.com", url)
    row = chat_row(cohort, "ada@example.com")
    settings.NEXUS_HTTP_REQUIRE_HTTPS = False
    settings.NEXUS_HTTP_ALLOW_PRIVATE = False
    monkeypatch.setattr(socket, "getaddrinfo", rebinding)

    # when it is delivered under production's address rules
    assert deliver().failed == 1

    # then the connection to loopback was dropped before a byte was sent, and the row failed saying why
    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert "hooks.rebind.example connected to 127.0.0.1" in row.last_error, row.last_error
    assert chat_sink.posts == []
