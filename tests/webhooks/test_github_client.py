"""The GitHub REST client against a fake GitHub on loopback: ETags, rate limits, pagination, timeouts."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from webhooks import client as gh
from webhooks.client import Hook

REPO = "acme/p0-ada"
SHA = "a" * 40
STATUS_PATH = f"/repos/{REPO}/commits/{SHA}/status"
RUNS_PATH = f"/repos/{REPO}/commits/{SHA}/check-runs"


@pytest.fixture
def api(fake_github, pinned_now, redis_client):
    return gh.client()


def test_a_second_get_is_conditional_and_a_304_is_served_from_the_cache(api, fake_github):
    # given a commit with one status
    fake_github.statuses[(REPO, SHA)] = [{"context": "ci/test", "state": "success", "updated_at": "x"}]
    # when its combined status is asked for twice
    first = api.combined_status(REPO, SHA)
    before = fake_github.remaining
    second = api.combined_status(REPO, SHA)
    # then the second request sent the ETag, got a 304, and the cached body came back
    sent = fake_github.seen("GET", STATUS_PATH)
    assert "If-None-Match" not in sent[0].headers
    assert sent[1].headers["If-None-Match"]
    assert second == first
    assert second["state"] == "success"
    # and the 304 did not count against the budget
    assert fake_github.remaining == before


def test_a_changed_resource_is_fetched_again(api, fake_github):
    fake_github.statuses[(REPO, SHA)] = [{"context": "ci/test", "state": "pending", "updated_at": "x"}]
    assert api.combined_status(REPO, SHA)["state"] == "pending"
    fake_github.statuses[(REPO, SHA)] = [{"context": "ci/test", "state": "success", "updated_at": "y"}]
    assert api.combined_status(REPO, SHA)["state"] == "success"


def test_no_budget_left_is_a_typed_error_with_the_reset_and_no_request_until_then(api, fake_github):
    # given GitHub says no calls are left until an instant
    reset = datetime(2026, 12, 1, 12, 30, tzinfo=UTC)
    fake_github.remaining, fake_github.reset = 0, int(reset.timestamp())
    # when the client asks
    with pytest.raises(gh.RateLimited) as caught:
        api.combined_status(REPO, SHA)
    # then it is told when to come back
    assert caught.value.until == reset
    sent = len(fake_github.requests)
    # and until then it sends nothing at all
    with pytest.raises(gh.RateLimited):
        api.check_runs(REPO, SHA)
    assert len(fake_github.requests) == sent
    # when the reset has passed (GitHub has a fresh budget)
    fake_github.remaining = 5000
    with time_machine.travel(reset + timedelta(seconds=1), tick=False):
        assert api.check_runs(REPO, SHA) == []
    assert len(fake_github.requests) == sent + 1


def test_the_client_stops_before_using_the_last_calls(api, fake_github, settings):
    # given a budget at the floor the client keeps for itself
    fake_github.remaining = settings.NEXUS_GITHUB_RATE_FLOOR + 1
    fake_github.reset = int((datetime(2026, 12, 1, 13, tzinfo=UTC)).timestamp())
    # when one call brings it to the floor, the answer is still used
    assert api.combined_status(REPO, SHA)["state"] == "pending"
    # then the next call waits for the reset instead of spending the reserve
    with pytest.raises(gh.RateLimited) as caught:
        api.combined_status(REPO, "b" * 40)
    assert caught.value.until == datetime(2026, 12, 1, 13, tzinfo=UTC)
    assert len(fake_github.requests) == 1


def test_a_secondary_limit_with_retry_after_is_honoured(api, fake_github, pinned_now):
    # given GitHub answers a secondary limit: 403 and Retry-After 90
    fake_github.secondary_limit(90)
    with pytest.raises(gh.RateLimited) as caught:
        api.check_runs(REPO, SHA)
    assert caught.value.until == pinned_now + timedelta(seconds=90)
    assert caught.value.status == 403
    # then within those 90 s nothing is sent
    with time_machine.travel(pinned_now + timedelta(seconds=89), tick=False), pytest.raises(gh.RateLimited):
        api.check_runs(REPO, SHA)
    assert len(fake_github.requests) == 1
    # and after them the client asks again
    with time_machine.travel(pinned_now + timedelta(seconds=91), tick=False):
        assert api.check_runs(REPO, SHA) == []
    assert len(fake_github.requests) == 2


def test_a_429_with_retry_after_is_rate_limited_too(api, fake_github, pinned_now):
    fake_github.fail_next(429, headers={"Retry-After": "5"})
    with pytest.raises(gh.RateLimited) as caught:
        api.combined_status(REPO, SHA)
    assert caught.value.until == pinned_now + timedelta(seconds=5)


def test_check_runs_follow_every_page(api, fake_github):
    # given 230 check runs (three pages of 100)
    for n in range(230):
        fake_github.add_check_run(REPO, SHA, f"job-{n}")
    # when they are listed
    runs = api.check_runs(REPO, SHA)
    # then all of them come back, in three requests
    assert [r["name"] for r in runs] == [f"job-{n}" for n in range(230)]
    pages = fake_github.seen("GET", RUNS_PATH)
    assert [p.query.get("page", ["1"])[0] for p in pages] == ["1", "2", "3"]


def test_a_slow_github_is_a_transient_error_after_the_read_timeout(fake_github, settings, pinned_now):
    # given a client with a short read timeout and a GitHub slower than that
    settings.NEXUS_GITHUB_READ_TIMEOUT = 0.2
    gh.reset_client()
    fake_github.delay = 1.0
    # then the call fails fast, as a transient error (worth retrying)
    with pytest.raises(gh.Transient, match="timed out"):
        gh.client().combined_status(REPO, SHA)


def test_errors_are_typed(api, fake_github):
    fake_github.fail_next(502, body={"message": "Bad gateway"})
    with pytest.raises(gh.Transient) as transient:
        api.repository("acme/x")
    assert transient.value.status == 502
    with pytest.raises(gh.Permanent) as missing:
        api.repository("acme/missing")
    assert missing.value.status == 404
    fake_github.fail_next(403, body={"message": "Resource not accessible by integration"})
    with pytest.raises(gh.Permanent) as forbidden:
        api.repository("acme/x")
    assert not isinstance(forbidden.value, gh.RateLimited)


def test_a_wrong_token_is_permanent(api, fake_github):
    fake_github.token = "another"
    with pytest.raises(gh.Unauthorized) as caught:
        api.combined_status(REPO, SHA)
    assert caught.value.status == 401
    assert isinstance(caught.value, gh.Permanent)


def test_requests_carry_the_token_and_the_api_version(api, fake_github):
    api.combined_status(REPO, SHA)
    (sent,) = fake_github.requests
    assert sent.headers["Authorization"] == f"Bearer {fake_github.token}"
    assert sent.headers["X-GitHub-Api-Version"] == gh.API_VERSION


def test_hook_deliveries_and_redelivery_for_an_org_and_a_repo_hook(api, fake_github):
    fake_github.deliveries["/orgs/acme/hooks/7"] = [{"id": 1, "guid": "g1", "status_code": 500}]
    assert api.hook_deliveries(Hook("acme", 7)) == [{"id": 1, "guid": "g1", "status_code": 500}]
    api.redeliver(Hook("acme", 7), 1)
    api.redeliver(Hook("acme/capstone", 9), 2)
    assert fake_github.redelivered == [("/orgs/acme/hooks/7", 1), ("/repos/acme/capstone/hooks/9", 2)]


def test_generate_names_an_existing_repository_as_such(api, fake_github):
    fake_github.add_template("acme/template")
    created = api.generate("acme/template", owner="acme", name="p0-ada")
    assert created["full_name"] == "acme/p0-ada"
    assert created["private"] is True
    with pytest.raises(gh.AlreadyExists):
        api.generate("acme/template", owner="acme", name="p0-ada")
    assert api.add_collaborator("acme/p0-ada", "ada") == 201
    assert api.add_collaborator("acme/p0-ada", "ada") == 204


def test_map_runs_at_most_the_concurrency_at_once_and_stops_on_a_rate_limit(api, fake_github):
    shas = [f"{n:040x}" for n in range(12)]
    results = api.map(lambda sha: api.combined_status(REPO, sha), shas)
    assert [sha for sha, _ in results] == shas
    # given each answer takes a while, and the first one sent is a secondary limit
    fake_github.delay = 0.05
    fake_github.secondary_limit(30)
    with pytest.raises(gh.PartialRateLimited):
        api.map(lambda sha: api.check_runs(REPO, sha), shas)
    # then only the requests in flight around the limit went out, not the whole batch
    runs = [r for r in fake_github.seen("GET") if r.path.endswith("/check-runs")]
    assert len(runs) <= 2 * api.concurrency < len(shas) + 1
    # and nothing more goes out until the wait is over
    with pytest.raises(gh.RateLimited):
        api.check_runs(REPO, shas[0])
    assert len([r for r in fake_github.seen("GET") if r.path.endswith("/check-runs")]) == len(runs)
