"""Fixtures of the subscriber tests: clean rate-limit counters, tokens and consent contexts."""

from __future__ import annotations

import pytest

from subscribers.models import ConsentRecord
from subscribers.ratelimit import rate_limits_reset
from subscribers.services import ConsentContext
from subscribers.tokens import TokenPurpose, subscriber_token_make


@pytest.fixture(autouse=True)
def _fresh_rate_limits(settings):
    """Counters live in Redis (or the cache) across tests: every test starts with none."""
    rate_limits_reset()
    yield
    rate_limits_reset()


@pytest.fixture
def form_context():
    return ConsentContext(
        method=ConsentRecord.Method.FORM,
        source="https://example.test/subscribe",
        ip_address="203.0.113.7",
        user_agent="pytest-browser",
    )


@pytest.fixture
def token_for():
    def _make(subscriber, purpose: TokenPurpose = TokenPurpose.PREFERENCES, topic=None) -> str:
        return subscriber_token_make(
            purpose=purpose,
            subscriber_id=subscriber.pk,
            version=subscriber.token_version,
            topic_id=topic.pk if topic else None,
        )

    return _make
