"""Shared fixtures: users and API clients per role, a Redis that is really there."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core.roles import Role
from tests.factories import UserFactory

pytest_plugins = ["tests.emulators.fixtures"]


@pytest.fixture(autouse=True)
def _clean_cache():
    """Circuit state, rate-limit buckets and throttles never leak from one test into another.
    Under REDIS_URL this empties the test Redis database (a dedicated one: /15 on CI)."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def make_user(db):
    def _make(role: Role | None = None, **kwargs):
        user = UserFactory(**kwargs)
        if role is not None:
            user.groups.add(Group.objects.get(name=role.group_name))
        return user

    return _make


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def client_for(make_user):
    """An APIClient authenticated with a real token for a user holding `role`."""

    def _client(role: Role | None) -> APIClient:
        user = make_user(role)
        client = APIClient()
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        client.user = user
        return client

    return _client


@pytest.fixture
def redis_client():
    """The real Redis of REDIS_URL, emptied of this suite's keys before and after."""
    if not settings.REDIS_URL:
        pytest.skip("needs Redis: set REDIS_URL (make test on CI sets it)")
    from core.redis import get_redis

    client = get_redis()
    client.flushdb()
    yield client
    client.flushdb()
