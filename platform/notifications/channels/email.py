"""The email channel: one SMTP connection per batch, a plain-text and an HTML part per message, each
message's result reported as soon as the server accepted it."""

from __future__ import annotations

import hashlib
import smtplib
import socket
from collections.abc import Iterator, Sequence

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

from notifications.channels.base import Channel, Outcome, Result
from notifications.models import Notification
from notifications.render import render
from notifications.unsubscribe import unsubscribe_url


def message_id(row: Notification) -> str:
    """The same Message-ID every time this notification is sent, so a resend is recognisably the same."""
    key = f"{row.kind}|{row.enrollment_id}|{row.subject}|{row.effective_at.isoformat()}|{row.channel}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return f"<notification-{row.pk}.{digest}@{settings.NEXUS_EMAIL_DOMAIN}>"


def unsubscribe_headers(row: Notification) -> dict[str, str]:
    """RFC 8058 one-click unsubscribe (large mailbox providers require it of bulk senders)."""
    url = unsubscribe_url(row)
    if not url:
        return {}
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def classify(exc: BaseException) -> Outcome:
    """Transient (try again later): SMTP 4xx, timeouts, a dropped or refused connection; else permanent."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return Outcome.RETRY if codes and all(400 <= code < 500 for code in codes) else Outcome.FAILED
    if isinstance(exc, smtplib.SMTPResponseException):
        return Outcome.RETRY if 400 <= exc.smtp_code < 500 else Outcome.FAILED
    if isinstance(exc, smtplib.SMTPServerDisconnected | socket.timeout | TimeoutError | ConnectionError):
        return Outcome.RETRY
    if isinstance(exc, smtplib.SMTPException):  # e.g. the server lacks a required feature
        return Outcome.FAILED
    if isinstance(exc, OSError):  # unreachable host, DNS failure: the network, not the message
        return Outcome.RETRY
    return Outcome.FAILED


def connection_lost(exc: BaseException) -> bool:
    """An error after which this connection carries nothing more (smtplib's errors are OSErrors too)."""
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    return isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException)


def describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"{rcpt}: {code} {msg.decode(errors='replace') if isinstance(msg, bytes) else msg}"
            for rcpt, (code, msg) in exc.recipients.items()
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        err = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        return f"{exc.smtp_code} {err}"
    return f"{type(exc).__name__}: {exc}"


class EmailChannel(Channel):
    """Django's email backend (SMTP in production): a batch goes over one connection, one message per row."""

    name = "email"

    def send_batch(self, rows: Sequence[Notification]) -> Iterator[Result]:
        connection = get_connection(fail_silently=False)
        try:
            connection.open()
        except Exception as exc:  # noqa: BLE001 - every row of the batch gets the connection's error
            for row in rows:
                yield Result(row.pk, classify(exc), describe(exc)[:2000])
            return
        try:
            for index, row in enumerate(rows):
                try:
                    text = render(row)
                except Exception as exc:  # noqa: BLE001 - a broken template fails its row, not the batch
                    yield Result(row.pk, Outcome.FAILED, f"cannot render: {type(exc).__name__}: {exc}"[:2000])
                    continue
                message = self._message(row, text, connection)
                try:
                    connection.send_messages([message])
                except Exception as exc:  # noqa: BLE001 - one row's error is that row's result
                    yield self._result(row, text, exc)
                    if connection_lost(exc):
                        # The connection is gone: the rest of the batch waits for the next attempt.
                        for rest in rows[index + 1 :]:
                            yield Result(rest.pk, classify(exc), describe(exc)[:2000])
                        return
                else:
                    yield Result(row.pk, Outcome.SENT, "", text.subject, text.text)
        finally:
            try:
                connection.close()
            except Exception:  # noqa: BLE001, S110 - closing a broken connection must not lose the results
                pass

    @staticmethod
    def _result(row: Notification, text, exc: BaseException) -> Result:
        return Result(row.pk, classify(exc), describe(exc)[:2000], text.subject, text.text)

    @staticmethod
    def _message(row: Notification, text, connection) -> EmailMultiAlternatives:
        message = EmailMultiAlternatives(
            subject=text.subject,
            body=text.text,
            to=[row.enrollment.email],
            connection=connection,
            headers={"Message-ID": message_id(row), **unsubscribe_headers(row)},
        )
        message.attach_alternative(text.html, "text/html")
        return message
