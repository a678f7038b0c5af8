"""Every page carries the Content-Security-Policy (django-csp, issue 11 item 13); the browser
side (admin compose preview, Swagger UI, public pages without violations) is in
tests/e2e/test_content_security_policy.py."""

from __future__ import annotations

import re

import pytest

from core.roles import Role
from tests.factories import TopicFactory

pytestmark = pytest.mark.django_db


def _directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in header.split(";") if part.strip())}


@pytest.mark.parametrize(
    "path",
    ["/no-such-page", "/subscribe", "/archive/", "/admin/login/", "/api/docs/", "/health", "/api/v1/publishing/topics"],
)
def test_every_kind_of_page_has_a_content_security_policy(client, path):
    TopicFactory(slug="news", is_public=True)
    response = client.get(path)
    assert response.status_code in (200, 401, 403, 404), response.status_code
    policy = _directives(response)
    assert policy["script-src"] == ["'self'"], "no inline scripts, no eval, no other host"
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert policy["default-src"] == ["'self'"] and policy["base-uri"] == ["'self'"]


def test_staff_pages_have_it_too(client, make_user):
    client.force_login(make_user(Role.EDITOR))
    response = client.get("/admin/publishing/publication/add/")
    assert response.status_code == 200
    assert "script-src 'self'" in response["Content-Security-Policy"]


def test_swagger_ui_loads_its_settings_as_a_script_file_not_inline(client):
    page = client.get("/api/docs/").content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), "an inline <script> would be blocked"
    [script_url] = re.findall(r'<script src="([^"]*script[^"]*)"', page)
    script = client.get(script_url.replace("&amp;", "&"))
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in script.content.decode()


def test_a_report_uri_is_added_when_configured(client, settings):
    settings.CONTENT_SECURITY_POLICY = {
        "DIRECTIVES": {**settings.CONTENT_SECURITY_POLICY["DIRECTIVES"], "report-uri": "https://csp.example/r"}
    }
    assert "report-uri https://csp.example/r" in client.get("/health")["Content-Security-Policy"]
