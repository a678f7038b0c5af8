"""Shared fixtures: users and API clients per role, a Redis that is really there."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core.roles import Role
from tests.factories import SubscriberFactory, SubscriptionFactory, TopicFactory, UserFactory

pytest_plugins = ["tests.emulators.fixtures"]


def pytest_sessionstart(session):
    """Pages and emails are tested in German too: the .mo files are built as `make install` builds
    them (Babel, only stale ones), so a bare `pytest` run needs no step of its own."""
    from core.i18n import translations_compile

    translations_compile()


@pytest.fixture(autouse=True)
def _clean_cache():
    """Circuit state, rate-limit buckets and throttles never leak from one test into another.
    Under REDIS_URL this empties the test Redis database (a dedicated one: /15 on CI)."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _fresh_adapters():
    """Adapters are cached per channel and process: none carries a client into another test."""
    from channels_app.adapters import adapters_reset

    adapters_reset()
    yield
    adapters_reset()


@pytest.fixture
def clock():
    """The clock of leases, circuits and the sweeper (core.clock): `clock.advance(seconds)`."""
    from core.clock import clock as the_clock

    the_clock.reset()
    yield the_clock
    the_clock.reset()


@pytest.fixture
def topic(db):
    return TopicFactory(slug="news", name="News")


@pytest.fixture
def make_readers(topic):
    """make_readers(count, frequency="instant", kind="email"): subscribers of `topic`."""

    def _make(count: int, frequency: str = "instant", kind: str = "email", **kwargs):
        readers = SubscriberFactory.create_batch(count, **kwargs)
        for reader in readers:
            SubscriptionFactory(subscriber=reader, topic=topic, frequency=frequency, channel_kind=kind)
        return readers

    return _make


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
