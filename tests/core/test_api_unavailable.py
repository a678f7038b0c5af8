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


@pytest.mark.django_db(transaction=True)
def test_an_admin_page_answers_503_with_a_retry_hint_when_the_database_is_away(admin_client):
    """Issue 12 follow-up: the admin (and every page) says "briefly unavailable", never a 500,
    wherever the error is raised: here the first query of the request, the session's user."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("points the PostgreSQL connection at a closed port; SQLite has no server to lose")
    admin_client.raise_request_exception = False
    real = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = str(free_port())  # nothing listens there: like a restart
    try:
        response = admin_client.get("/admin/publishing/publication/")
    finally:
        connection.settings_dict["PORT"] = real
        connection.close()
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "Briefly unavailable" in response.content.decode()
