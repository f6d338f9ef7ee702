"""The outbound HTTP factory: default timeouts, Retry-After, and the URL checks that keep requests outside."""

import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from core.http import UnsafeURL, check_public_url, make_session, retry_after_seconds


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://example.com/hook", "Only https://"),
        ("https://127.0.0.1/hook", "127.0.0.1"),
        ("https://10.0.0.1/hook", "10.0.0.1"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://[::1]/hook", "::1"),
        ("https://localhost/hook", "loopback"),
        ("https://[::ffff:127.0.0.1]/hook", "::ffff:127.0.0.1"),
        ("https://[2002:7f00:1::]/hook", "2002:7f00:1::"),  # 6to4 around 127.0.0.1
        ("https://[64:ff9b::a00:1]/hook", "64:ff9b::a00:1"),  # NAT64 around 10.0.0.1
        ("ftp://example.com/x", "not an http(s) URL"),
        ("https://user:pw@example.com/x", "user name or password"),
    ],
)
def test_production_refuses_urls_that_reach_inside_or_travel_in_clear(settings, url, reason):
    settings.NEXUS_HTTP_REQUIRE_HTTPS = True
    settings.NEXUS_HTTP_ALLOW_PRIVATE = False
    with pytest.raises(UnsafeURL, match=reason.replace("(", r"\(").replace(")", r"\)")):
        check_public_url(url)


def test_a_public_address_passes_and_dev_allows_loopback(settings):
    settings.NEXUS_HTTP_REQUIRE_HTTPS = True
    settings.NEXUS_HTTP_ALLOW_PRIVATE = False
    check_public_url("https://93.184.215.14/hook")  # a literal public address: no DNS needed
    check_public_url("https://[::ffff:93.184.215.14]/hook")  # IPv4-mapped, judged by its IPv4 address
    settings.NEXUS_HTTP_REQUIRE_HTTPS = False
    settings.NEXUS_HTTP_ALLOW_PRIVATE = True
    check_public_url("http://127.0.0.1:8025/hook")


def test_retry_after_reads_seconds_and_http_dates():
    response = requests.Response()
    response.headers["Retry-After"] = "7"
    assert retry_after_seconds(response) == 7.0
    response.headers["Retry-After"] = "Wed, 01 Dec 2027 12:00:30 GMT"
    assert retry_after_seconds(response, now=datetime(2027, 12, 1, 12, 0, tzinfo=UTC)) == 30.0
    response.headers["Retry-After"] = "soon"
    assert retry_after_seconds(response) is None


def test_a_silent_server_times_out_with_the_default_timeout():
    # given a loopback server that accepts and never answers
    release = threading.Event()

    class Silent(BaseHTTPRequestHandler):
        def do_GET(self):
            release.wait(5)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Silent)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        session = make_session(timeout=(1.0, 0.3))
        with pytest.raises(requests.exceptions.ReadTimeout):
            session.get(f"http://127.0.0.1:{server.server_port}/")
    finally:
        release.set()
        server.shutdown()


def test_a_public_only_session_refuses_a_private_peer_before_sending(settings):
    # given a real server on loopback that counts the requests it gets
    seen = []

    class Counting(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        # when a public-only session calls it under production's address rules
        settings.NEXUS_HTTP_ALLOW_PRIVATE = False
        with (
            make_session(public_only=True) as session,
            pytest.raises(UnsafeURL, match="connected to 127.0.0.1"),
        ):
            session.get(url)
        # then nothing reached the server; an ordinary session, or dev's rules, get through
        assert seen == []
        with make_session() as session:
            assert session.get(url).status_code == 204
        settings.NEXUS_HTTP_ALLOW_PRIVATE = True
        with make_session(public_only=True) as session:
            assert session.get(url).status_code == 204
        assert seen == ["/hook", "/hook"]
    finally:
        server.shutdown()
        server.server_close()
