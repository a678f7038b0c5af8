"""Admin login brute-force protection (django-axes, issue 11 item 13): a username is locked out
from an address after AXES_FAILURE_LIMIT failed logins, even with the right password, until an
admin resets it or the cool-off passes; API tokens are never affected."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.utils import timezone

from core.roles import Role

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
PASSWORD = "correct-horse-battery"  # UserFactory's


@pytest.fixture
def staff(make_user, settings):
    settings.AXES_FAILURE_LIMIT = 3
    return make_user(Role.ADMIN, username="editor-in-chief")


def _login(client, username: str, password: str, address: str = "203.0.113.7"):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=address)


def _fail(client, username: str, times: int, address: str = "203.0.113.7") -> list[int]:
    return [_login(client, username, "wrong", address).status_code for _ in range(times)]


def test_the_third_failure_locks_the_login_even_with_the_right_password(client, staff):
    assert _fail(client, staff.username, 2) == [200, 200]  # the form again, with an error
    locked = _login(client, staff.username, "wrong")
    assert locked.status_code == 429
    assert b"Too many failed logins" in locked.content
    assert _login(client, staff.username, PASSWORD).status_code == 429
    assert AccessAttempt.objects.get(username=staff.username).failures_since_start >= 3


def test_an_admin_reset_unlocks_the_login(client, staff):
    _fail(client, staff.username, 3)
    call_command("axes_reset_username", staff.username)
    response = _login(client, staff.username, PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_the_lockout_ends_after_the_cool_off(client, staff, settings):
    _fail(client, staff.username, 3)
    assert _login(client, staff.username, PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))
    assert _login(client, staff.username, PASSWORD).status_code == 302


def test_a_successful_login_resets_the_failure_count(client, staff):
    _fail(client, staff.username, 2)
    assert _login(client, staff.username, PASSWORD).status_code == 302
    client.logout()
    assert _fail(client, staff.username, 2) == [200, 200]
    assert _login(client, staff.username, PASSWORD).status_code == 302


def test_a_lockout_holds_one_username_from_one_address(client, staff, make_user):
    _fail(client, staff.username, 3)
    assert _login(client, staff.username, PASSWORD, address="198.51.100.9").status_code == 302
    other = make_user(Role.EDITOR, username="night-editor")
    assert _login(client, other.username, PASSWORD).status_code == 302


def test_api_tokens_keep_working_while_the_password_login_is_locked(client, staff, client_for):
    api = client_for(Role.ADMIN)
    _fail(client, api.user.username, 3)
    assert _login(client, api.user.username, PASSWORD).status_code == 429
    assert api.get("/api/v1/publishing/topics").status_code == 200
