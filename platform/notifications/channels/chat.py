"""The chat channel: one Slack- and Discord-compatible JSON post per row to a webhook, through one session."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from urllib.parse import urlsplit

import requests
from django.conf import settings

from core import clock
from core.http import DEFAULT_TIMEOUT, UnsafeURL, check_public_url, make_session, retry_after_seconds
from notifications.channels.base import Channel, Outcome, Result
from notifications.models import Channel as ChannelName
from notifications.models import Notification
from notifications.render import Rendered, render

# Discord refuses content over 2,000 characters (400); Slack shows far more, but a chat line is short.
MAX_CHARS = 2000
# How much of an error answer's body goes into the row's last_error.
EXCERPT_CHARS = 300
# An answer's body is read up to this (then its connection goes back to the pool); a longer one is cut.
READ_BYTES = 64 * 1024
# A Retry-After is honoured up to a day: a peer asking for longer is asked again then (and answers 429).
MAX_RETRY_AFTER = 24 * 3600.0
# Answers to a request the URL or payload makes wrong: the same post will never succeed.
PERMANENT_ERRORS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidHeader,
)


def webhook_url(row: Notification) -> str:
    """A learner's row goes to their own webhook; an announcement (no learner) to the cohort's."""
    if row.enrollment_id is not None:
        return row.enrollment.chat_webhook_url
    return row.cohort.chat_webhook_url


def _slack_escape(text: str) -> str:
    # Slack reads <...> as links and mentions (<!channel>); its documented escape is these three.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int = MAX_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def payload(rendered: Rendered) -> dict[str, str]:
    """One body both accept: Slack incoming webhooks read `text` (mrkdwn), Discord reads `content`
    (markdown); each ignores the other's key. The subject is the bold first line."""
    body = rendered.text.strip()
    return {
        "text": _clip(f"*{_slack_escape(rendered.subject)}*\n{_slack_escape(body)}"),
        "content": _clip(f"**{rendered.subject}**\n{body}"),
    }


def _read(response: requests.Response) -> bytes:
    """An answer's body, read to its end (so the connection is reused) unless it is over READ_BYTES."""
    body = b""
    try:
        for chunk in response.iter_content(8192):
            body += chunk
            if len(body) >= READ_BYTES:
                break  # a peer sending megabytes: its connection is dropped, not drained
    except requests.RequestException:
        pass  # the status is what counts; a body cut short only shortens the excerpt
    return body


def _excerpt(response: requests.Response, body: bytes) -> str:
    text = body[: EXCERPT_CHARS * 4].decode(response.encoding or "utf-8", errors="replace")
    return " ".join(text.split())[:EXCERPT_CHARS]


class ChatChannel(Channel):
    """Posts each row to its chat webhook over one pooled session (per channel instance, i.e. per batch).

    2xx: sent. 5xx, 408, timeouts, connection errors: try again later. 429: again later, not before its
    Retry-After. Any other answer (4xx, a redirect that could lead anywhere): failed, with the status and
    the start of the body. The URL is checked again right before each post, after DNS resolution: a
    stored URL that became unsafe fails the row without any request. The connection itself is refused
    when the address it reached is not public (a DNS answer that changed after the check), before a byte
    of the post is sent.

    A batch stays well inside its claim's lease, so no other sender reclaims (and posts again) rows still
    in hand: after a 429 the batch's other rows for that webhook wait as long, after a timeout or a
    connection error those for that host are tried again later without waiting out more timeouts, and
    once the batch has used half the lease the rows left are put back for the next attempt.
    """

    name = ChannelName.CHAT
    timeout: tuple[float, float] = DEFAULT_TIMEOUT

    def __init__(self) -> None:
        self.session = make_session(
            user_agent="Nexus chat notifications", timeout=self.timeout, public_only=True
        )

    def send_batch(self, rows: Sequence[Notification]) -> Iterator[Result]:
        """Each row's Result as soon as its post is answered (the caller records it before the next
        post: channels/base.py); the session is closed when the batch ends or the caller stops."""
        try:
            yield from self.send_each(rows)
        finally:
            self.close()

    def close(self) -> None:
        self.session.close()

    def send_each(self, rows: Sequence[Notification]) -> Iterator[Result]:
        """One Result per row, yielded as soon as that row's post is answered (the caller may record
        each at once, then close())."""
        deadline = time.monotonic() + settings.NEXUS_NOTIFY_LEASE / 2
        refused: dict[str, str] = {}  # URL -> why: checked (and resolved) once per URL per batch
        waiting: dict[str, Result] = {}  # URL -> the 429 it answered: its other rows wait as long
        down: dict[str, Result] = {}  # host -> the timeout or connection error it gave
        for row in rows:
            try:
                rendered = render(row)
            except Exception as exc:  # noqa: BLE001 - a row that cannot be rendered fails alone
                yield Result(row.pk, Outcome.FAILED, f"cannot render the message: {exc}"[:2000])
                continue
            url = webhook_url(row)
            if not url:
                who = row.enrollment.email if row.enrollment_id else f"cohort {row.cohort}"
                yield self._result(row, rendered, Outcome.FAILED, f"{who} has no chat webhook URL")
                continue
            if url not in refused:
                refused[url] = self._check(url)
            if refused[url]:
                yield self._result(row, rendered, Outcome.FAILED, refused[url])
                continue
            host = urlsplit(url).netloc.lower()
            earlier = waiting.get(url) or down.get(host)
            if earlier is not None:
                yield self._result(row, rendered, Outcome.RETRY, earlier.error, earlier.retry_after)
                continue
            if time.monotonic() > deadline:
                why = "not tried: this batch used half its lease; it goes with the next one"
                yield self._result(row, rendered, Outcome.RETRY, why)
                continue
            result, unreachable = self._post(row, rendered, url)
            if unreachable:
                down[host] = result
            elif result.outcome == Outcome.RETRY and result.retry_after is not None:
                waiting[url] = result
            yield result

    @staticmethod
    def _check(url: str) -> str:
        try:
            check_public_url(url)
        except UnsafeURL as exc:
            return f"chat webhook URL refused: {exc}"
        return ""

    def _post(self, row: Notification, rendered: Rendered, url: str) -> tuple[Result, bool]:
        """The row's Result, and whether the host gave no answer at all (a timeout, a connection error)."""
        try:
            # No redirects: a 3xx could send the post on to an address the check never saw.
            response = self.session.post(url, json=payload(rendered), allow_redirects=False, stream=True)
        except PERMANENT_ERRORS as exc:
            return self._result(row, rendered, Outcome.FAILED, f"{type(exc).__name__}: {exc}"), False
        except UnsafeURL as exc:  # the connection reached a non-public address (DNS changed after the check)
            return self._result(row, rendered, Outcome.FAILED, f"chat webhook URL refused: {exc}"), False
        except requests.RequestException as exc:  # timeouts, refused or dropped connections, DNS
            return self._result(row, rendered, Outcome.RETRY, f"{type(exc).__name__}: {exc}"), True
        return self._answered(row, rendered, response), False

    def _answered(self, row: Notification, rendered: Rendered, response: requests.Response) -> Result:
        with response:
            body = _read(response)
            status = response.status_code
            if 200 <= status < 300:
                return self._result(row, rendered, Outcome.SENT, "")
            error = f"HTTP {status} {response.reason or ''}".rstrip()
            if 300 <= status < 400:
                location = response.headers.get("Location", "")
                error += f" (redirects to {location!r}; give the webhook's final URL)"
            excerpt = _excerpt(response, body)
            if excerpt:
                error += f": {excerpt}"
            if status in (408, 429) or status >= 500:
                wait = retry_after_seconds(response, now=clock.now())
                if wait is not None:
                    wait = min(wait, MAX_RETRY_AFTER)
                    error += f" (Retry-After {wait:.0f} s)"
                return self._result(row, rendered, Outcome.RETRY, error, wait)
            return self._result(row, rendered, Outcome.FAILED, error)

    @staticmethod
    def _result(
        row: Notification, rendered: Rendered, outcome: Outcome, error: str, retry_after: float | None = None
    ) -> Result:
        return Result(row.pk, outcome, error[:2000], rendered.subject, rendered.text, retry_after=retry_after)
