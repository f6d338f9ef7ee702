"""The Beat lock on a real Redis: one holder, renewal by token, takeover after expiry."""

import time

from schedules.lock import BeatLock


def test_one_holder_and_takeover_after_expiry(redis_client):
    leader = BeatLock(redis_client, "test:beat:lock", ttl_seconds=0.5)
    standby = BeatLock(redis_client, "test:beat:lock", ttl_seconds=0.5)
    assert leader.acquire_or_renew() is True
    assert standby.acquire_or_renew() is False
    # renewal keeps it past the first TTL
    time.sleep(0.3)
    assert leader.acquire_or_renew() is True
    time.sleep(0.3)
    assert standby.acquire_or_renew() is False
    # a leader that stops renewing loses it once the TTL runs out
    time.sleep(0.6)
    assert standby.acquire_or_renew() is True
    # and the old leader cannot renew or release what is now the standby's
    assert leader.acquire_or_renew() is False
    leader.release()
    assert standby.holder() == standby.token


def test_a_leader_that_lost_track_after_an_error_gets_its_own_lock_back(redis_client):
    lock = BeatLock(redis_client, "test:beat:lock", ttl_seconds=15)
    other = BeatLock(redis_client, "test:beat:lock", ttl_seconds=15)
    assert lock.acquire_or_renew() is True
    lock.held = False  # what the scheduler sets when a Redis call failed mid-tick
    # the key still holds our token: we renew it instead of waiting out the TTL
    assert lock.acquire_or_renew() is True
    assert other.acquire_or_renew() is False
    lock.release()
    assert other.acquire_or_renew() is True
