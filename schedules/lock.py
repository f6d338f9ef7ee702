"""The Beat lock: a Redis key holding the leader's token, renewed each tick; compare-and-set in Lua."""

from __future__ import annotations

import secrets

import redis

# Renew or release only if we still hold it: a leader that stalled past the TTL must not extend or
# delete the lock a standby has taken since.
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class BeatLock:
    """Leadership among Beat processes sharing one Redis."""

    def __init__(self, client: redis.Redis, key: str, ttl_seconds: float) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = int(ttl_seconds * 1000)
        self.token = secrets.token_hex(16)
        self.held = False

    def acquire_or_renew(self) -> bool:
        """True while this process is the leader."""
        # Renew by token even when we think we lost it: after a Redis error the key may still be ours,
        # and SET NX alone would keep us (and everyone) out until it expires.
        self.held = bool(self.client.eval(_RENEW, 1, self.key, self.token, self.ttl_ms))
        if not self.held:
            self.held = bool(self.client.set(self.key, self.token, nx=True, px=self.ttl_ms))
        return self.held

    def release(self) -> None:
        if self.held:
            self.client.eval(_RELEASE, 1, self.key, self.token)
            self.held = False

    def holder(self) -> str | None:
        value = self.client.get(self.key)
        return value.decode() if value else None
