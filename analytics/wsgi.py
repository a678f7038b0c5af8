"""A WSGI fast path for the two busiest URLs Bulletin serves: the open pixel and click redirects.

Every email opened and every link clicked is a request, so these outnumber all other traffic
by orders of magnitude, and they need nothing of Django's request cycle: no session, user,
CSRF, messages or template. Like WhiteNoise for static files, this wraps the WSGI application
and answers them before Django's middleware runs, through the same services as the views in
analytics/views.py (which stay, and serve every case this path does not):

- only GET and HEAD of /t/o/<token>.gif and /t/c/<token>;
- only for an allowed Host (ALLOWED_HOSTS, as Django checks it) and, with SECURE_SSL_REDIRECT,
  only over HTTPS (plain HTTP goes to Django, which redirects);
- a click whose token or link is not valid goes to Django, which renders the friendly page;
- the responses carry what Django's would: no-cache headers, nosniff, HSTS over HTTPS.

TRACKING_FAST_PATH=false turns it off (every hit then goes through the views).
"""

from __future__ import annotations

import re

from django.conf import settings
from django.db import close_old_connections
from django.http.request import split_domain_port, validate_host
from django.utils.encoding import iri_to_uri

from analytics.services.tracking import PIXEL_GIF, tracking_click_resolve, tracking_open_record
from analytics.views import NO_CACHE_HEADERS

_OPEN = re.compile(r"^/t/o/([^/]+)\.gif$")
_CLICK = re.compile(r"^/t/c/([^/]+)$")
_DEBUG_HOSTS = [".localhost", "127.0.0.1", "[::1]"]


class TrackingFastPath:
    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        if settings.TRACKING_FAST_PATH:
            answer = _answer(environ)
            if answer is not None:
                status, headers, body = answer
                start_response(status, headers)
                return [body]
        return self.application(environ, start_response)


def _answer(environ) -> tuple[str, list[tuple[str, str]], bytes] | None:
    """The response for a tracking hit, or None to let Django handle the request."""
    method = environ.get("REQUEST_METHOD")
    if method not in ("GET", "HEAD") or environ.get("SCRIPT_NAME"):
        return None
    path = environ.get("PATH_INFO", "")
    opened = _OPEN.match(path)
    clicked = None if opened else _CLICK.match(path)
    if not (opened or clicked) or not _host_allowed(environ):
        return None
    secure = _is_secure(environ)
    if settings.SECURE_SSL_REDIRECT and not secure:
        return None
    head = method == "HEAD"
    user_agent = environ.get("HTTP_USER_AGENT", "")
    try:
        if opened:
            tracking_open_record(token=opened.group(1), user_agent=user_agent, head=head)
            status, body = "200 OK", PIXEL_GIF
            headers = [("Content-Type", "image/gif"), *NO_CACHE_HEADERS.items()]
        else:
            url = tracking_click_resolve(token=clicked.group(1), user_agent=user_agent, head=head)
            if url is None:
                return None  # nothing was recorded; Django renders the "link not valid" page
            location = iri_to_uri(url)  # quotes what a header must not carry (CR, LF, spaces)
            status, body = "302 Found", b""
            headers = [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Location", location),
                ("Referrer-Policy", "no-referrer"),
                ("Cache-Control", NO_CACHE_HEADERS["Cache-Control"]),
            ]
    finally:
        # What Django's request_finished does for the database: drop broken or expired connections.
        close_old_connections()
    headers += _security_headers(secure)
    headers.append(("Content-Length", str(len(body))))
    return status, headers, b"" if head else body


def _host_allowed(environ) -> bool:
    if settings.USE_X_FORWARDED_HOST and "HTTP_X_FORWARDED_HOST" in environ:
        return False  # Django's own rules for forwarded hosts apply: let it decide
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
    domain, _ = split_domain_port(host)
    allowed = settings.ALLOWED_HOSTS or (_DEBUG_HOSTS if settings.DEBUG else [])
    return bool(domain) and validate_host(domain, allowed)


def _is_secure(environ) -> bool:
    if settings.SECURE_PROXY_SSL_HEADER:
        header, value = settings.SECURE_PROXY_SSL_HEADER
        if header in environ:
            return environ[header].split(",", 1)[0].strip() == value
    return environ.get("wsgi.url_scheme") == "https"


def _security_headers(secure: bool) -> list[tuple[str, str]]:
    headers = [("X-Content-Type-Options", "nosniff")] if settings.SECURE_CONTENT_TYPE_NOSNIFF else []
    if secure and settings.SECURE_HSTS_SECONDS:
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            hsts += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            hsts += "; preload"
        headers.append(("Strict-Transport-Security", hsts))
    return headers
