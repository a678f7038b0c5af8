"""The sends API: live progress per send, and the publisher's pause/resume/cancel/requeue."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from channels_app.models import Delivery, Send
from core.roles import Role
from tests.factories import ChannelFactory, DeliveryFactory, SendFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/publishing/sends"


def _send_with(states: list[str], **kwargs) -> Send:
    send = SendFactory(**kwargs)
    channel = ChannelFactory()
    for state in states:
        DeliveryFactory(send=send, channel=channel, state=state)
    return send


def test_each_send_in_the_list_shows_its_progress(client_for):
    first = _send_with(["sent", "sent", "queued"], status=Send.Status.SENDING)
    second = _send_with(["dead"], status=Send.Status.COMPLETED)
    response = client_for(Role.VIEWER).get(URL)
    assert response.status_code == 200
    progress = {row["id"]: row["progress"] for row in response.json()["results"]}
    assert (progress[first.pk]["sent"], progress[first.pk]["queued"], progress[first.pk]["total"]) == (2, 1, 3)
    assert (progress[second.pk]["dead"], progress[second.pk]["total"]) == (1, 1)
    assert client_for(Role.VIEWER).get(f"{URL}/{first.pk}").json()["progress"] == progress[first.pk]


def test_the_list_reads_progress_once_for_the_whole_page(client_for):
    client = client_for(Role.VIEWER)
    _send_with(["sent"])
    client.get(URL)  # warm the user's session and permissions
    with CaptureQueriesContext(connection) as one:
        client.get(URL)
    for _ in range(5):
        _send_with(["sent", "queued"])
    with CaptureQueriesContext(connection) as six:
        assert len(client.get(URL).json()["results"]) == 6
    assert len(six) == len(one)


def test_a_publisher_pauses_and_resumes_a_send(client_for):
    send = _send_with(["queued"], status=Send.Status.SENDING)
    client = client_for(Role.PUBLISHER)
    paused = client.post(f"{URL}/{send.pk}/pause")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert client.post(f"{URL}/{send.pk}/resume").json()["status"] == "sending"


def test_pausing_a_send_that_is_not_sending_is_a_clear_error_and_changes_nothing(client_for):
    send = _send_with(["sent"], status=Send.Status.COMPLETED)
    response = client_for(Role.PUBLISHER).post(f"{URL}/{send.pk}/pause")
    assert response.status_code == 400 and "Only a sending send" in response.json()["message"]
    send.refresh_from_db()
    assert send.status == Send.Status.COMPLETED


def test_cancel_fails_what_was_not_handed_over(client_for):
    send = _send_with(["queued", "queued", "sent"], status=Send.Status.SENDING)
    body = client_for(Role.PUBLISHER).post(f"{URL}/{send.pk}/cancel").json()
    assert body["status"] == "cancelled"
    assert (body["progress"]["failed"], body["progress"]["sent"]) == (2, 1)


def test_requeue_puts_dead_deliveries_back_in_the_queue(client_for, django_capture_on_commit_callbacks):
    send = _send_with(["dead", "sent"], status=Send.Status.COMPLETED)
    body = client_for(Role.PUBLISHER).post(f"{URL}/{send.pk}/requeue").json()
    assert (body["progress"]["queued"], body["progress"]["dead"]) == (1, 0)
    assert send.deliveries.filter(state=Delivery.State.QUEUED, attempts=0).count() == 1


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR])
def test_only_publishers_act_on_sends(client_for, role):
    send = _send_with(["queued"], status=Send.Status.SENDING)
    assert client_for(role).post(f"{URL}/{send.pk}/pause").status_code == 403
    send.refresh_from_db()
    assert send.status == Send.Status.SENDING
