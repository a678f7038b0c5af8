"""The WSGI fast path for pixels and click redirects (analytics/wsgi.py), called as gunicorn
calls the application: it answers like the views, records the same events, and hands every
case it does not handle to Django."""

from __future__ import annotations

import io
import sys
from urllib.parse import urlsplit

import pytest
from django.core.handlers.wsgi import WSGIHandler

from analytics.links import click_url, open_url
from analytics.models import EngagementEvent
from analytics.services.tracking import PIXEL_GIF
from analytics.wsgi import TrackingFastPath
from config import wsgi

# Transactional: the WSGI application closes database connections at the end of each request,
# as in production, which a test wrapped in a transaction would not survive.
pytestmark = pytest.mark.django_db(transaction=True)

BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0"


@pytest.fixture(autouse=True)
def _direct_writes(settings):
    settings.TRACKING_BUFFER = "direct"  # each hit is in the database when the response is
    settings.ALLOWED_HOSTS = ["news.example.com"]


def _call(
    url: str, *, method: str = "GET", host: str = "news.example.com", django=None, **extra
) -> tuple[int, dict, bytes]:
    parts = urlsplit(url)
    environ = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": parts.path,
        "QUERY_STRING": parts.query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": host,
        "HTTP_USER_AGENT": BROWSER,
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        **extra,
    }
    started = {}

    def start_response(status, headers, exc_info=None):
        started["status"], started["headers"] = int(status.split()[0]), dict(headers)

    # Built per call: Django's middleware reads settings (SECURE_SSL_REDIRECT...) when built.
    chunks = TrackingFastPath(django or WSGIHandler())(environ, start_response)
    body = b"".join(chunks)
    getattr(chunks, "close", lambda: None)()
    return started["status"], started["headers"], body


def _fast_and_slow(settings, url: str, **kwargs):
    """The same request answered with the fast path on, then by the Django views."""
    settings.TRACKING_FAST_PATH = True
    fast = _call(url, **kwargs)
    settings.TRACKING_FAST_PATH = False
    slow = _call(url, **kwargs)
    return fast, slow


def test_valid_hits_are_answered_without_django(make_sent):
    def django(environ, start_response):
        raise AssertionError(f"{environ['PATH_INFO']} reached Django")

    [delivery] = make_sent()
    assert _call(open_url(delivery_id=delivery.pk), django=django)[0] == 200
    status, headers, _ = _call(click_url(delivery_id=delivery.pk, link_index=0), django=django)
    assert (status, headers["Location"]) == (302, "https://example.com/article?a=1&b=2")
    assert EngagementEvent.objects.count() == 2


def test_the_pixel_is_answered_and_recorded_like_the_view_answers_it(settings, make_sent):
    [delivery] = make_sent()
    fast, slow = _fast_and_slow(settings, open_url(delivery_id=delivery.pk))
    for status, headers, body in (fast, slow):
        assert (status, body, headers["Content-Type"]) == (200, PIXEL_GIF, "image/gif")
        assert headers["Cache-Control"] == "no-cache, no-store, must-revalidate, private, max-age=0"
        assert headers["Expires"] == "0" and headers["X-Content-Type-Options"] == "nosniff"
    assert fast[1]["Content-Length"] == str(len(PIXEL_GIF))
    events = EngagementEvent.objects.filter(delivery=delivery, kind="open")
    assert events.count() == 2 and not any(e.is_machine for e in events)


def test_a_click_redirects_to_the_message_link_and_is_recorded_like_the_view(settings, make_sent):
    [delivery] = make_sent()
    url = click_url(delivery_id=delivery.pk, link_index=1, send_id=delivery.send_id)
    fast, slow = _fast_and_slow(settings, url)
    for status, headers, _ in (fast, slow):
        assert (status, headers["Location"]) == (302, "https://example.com/second")
        assert headers["Referrer-Policy"] == "no-referrer" and "no-store" in headers["Cache-Control"]
    clicks = EngagementEvent.objects.filter(delivery=delivery, kind="click")
    assert [e.metadata["link"] for e in clicks] == ["https://example.com/second"] * 2


@pytest.mark.parametrize("link_index", [2, 7])  # javascript: in the table, and past its end
def test_a_click_the_fast_path_cannot_honour_gets_the_views_friendly_page(settings, make_sent, link_index):
    [delivery] = make_sent()
    status, headers, body = _call(click_url(delivery_id=delivery.pk, link_index=link_index))
    assert status == 404 and "Location" not in headers and b"<html" in body.lower()
    assert not EngagementEvent.objects.exists()


def test_a_tampered_pixel_still_gets_a_pixel_and_records_nothing(make_sent):
    [delivery] = make_sent()
    status, _, body = _call(open_url(delivery_id=delivery.pk).replace(".gif", "x.gif"))
    assert (status, body) == (200, PIXEL_GIF)
    assert not EngagementEvent.objects.exists()


def test_a_head_request_gets_headers_only_and_counts_as_machine(make_sent):
    [delivery] = make_sent()
    status, headers, body = _call(open_url(delivery_id=delivery.pk), method="HEAD")
    assert (status, body, headers["Content-Length"]) == (200, b"", str(len(PIXEL_GIF)))
    assert EngagementEvent.objects.get().is_machine


def test_other_methods_and_hosts_go_to_django(make_sent):
    [delivery] = make_sent()
    url = open_url(delivery_id=delivery.pk)
    assert _call(url, method="POST")[0] == 403  # Django: CSRF refuses the POST before the view
    assert _call(url, host="evil.example.net")[0] == 400
    assert not EngagementEvent.objects.exists()


def test_with_ssl_redirect_plain_http_is_redirected_and_https_gets_hsts(settings, make_sent):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 3600
    [delivery] = make_sent()
    url = open_url(delivery_id=delivery.pk)
    status, headers, _ = _call(url)
    assert status == 301 and headers["Location"].startswith("https://news.example.com/t/o/")
    assert not EngagementEvent.objects.exists()
    status, headers, _ = _call(url, HTTP_X_FORWARDED_PROTO="https")
    assert status == 200 and headers["Strict-Transport-Security"].startswith("max-age=3600")
    assert EngagementEvent.objects.count() == 1


def test_everything_else_is_django(make_sent, settings):
    assert _call("/health")[0] == 200
    assert _call("/t/o/")[0] == 404


def test_the_deployed_application_is_django_behind_the_fast_path():
    assert isinstance(wsgi.application, TrackingFastPath)
    assert wsgi.application.application is wsgi.django_application
    assert isinstance(wsgi.django_application, WSGIHandler)
