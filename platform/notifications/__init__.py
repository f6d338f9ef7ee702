"""Notifications: the outbox every effect writes to; delivery reads it."""
