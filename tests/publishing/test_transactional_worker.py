"""A transactional message through a REAL worker that consumes only the `alerts` queue: the
message never touches another queue (it would never be sent and the test would time out)."""

from __future__ import annotations

import pytest

from core.roles import Role
from publishing.services.transactional import message_template_create
from publishing.transactional_models import Message
from tests.factories import ChannelFactory
from tests.worker import celery_worker, real_broker, require_real_services, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_message_goes_out_through_a_worker_on_the_alerts_queue(client_for, redis_client, tmp_path):
    require_real_services()
    message_template_create(
        actor=None, name="reset", channel=ChannelFactory(), subject="Reset", body="Go to {{ data.url }}"
    )
    client = client_for(Role.PUBLISHER)
    var = tmp_path / "var"
    with (
        real_broker(),
        celery_worker(name="alerts", pool="solo", queues="alerts", BULLETIN_VAR_DIR=str(var)),
    ):
        response = client.post(
            "/api/v1/publishing/messages",
            {
                "template": "reset",
                "to": "ada@example.com",
                "category": "security",
                "data": {"url": "https://x.example"},
            },
            format="json",
            HTTP_IDEMPOTENCY_KEY="reset-1",
        )
        assert response.status_code == 202, response.json()
        wait_for(lambda: Message.objects.get().state == "sent", timeout=60, what="the message to be sent")
    [email] = list((var / "outbox").glob("*.eml"))
    assert "Go to https://x.example" in email.read_text()
    status = client.get(f"/api/v1/publishing/messages/{response.json()['id']}").json()
    assert status["status"] == "sent" and status["attempts"] == 1
