"""Our own infrastructure briefly away: the API answers 503 in its error format, never a 500."""

import pytest

from core.roles import Role
from tests.faults import free_port

pytestmark = pytest.mark.django_db


def test_the_api_answers_503_with_a_retry_hint_when_redis_is_unreachable(client_for, settings):
    client = client_for(Role.VIEWER)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        }
    }
    response = client.get("/api/v1/publishing/topics")
    assert response.status_code == 503
    body = response.json()
    assert body["message"].startswith("Bulletin is briefly unable to reach")
    assert body["extra"] == {"retry_after_seconds": 5}
    assert response["Retry-After"] == "5"
