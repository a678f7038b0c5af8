"""Publishing while the broker is down (a Redis of the test's own, stopped around the publish),
through the API and through admin: the answer is honest (published and queued), the state and
the send are committed together, and the send goes out exactly once after the broker is back,
started by the sweeper's fan-out recovery (what beat runs every 5 s)."""

from __future__ import annotations

import pytest

from channels_app.models import Delivery, Send
from core.roles import Role
from publishing.models import Publication
from publishing.services.fanout import sends_fanout_recover
from tests.factories import PublicationFactory
from tests.faults import RedisServer, broker_at
from tests.worker import celery_worker, require_real_services, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def broker():
    require_real_services()
    with RedisServer() as server, broker_at(server.url()):
        yield server


def _publish_through_api(client_for, publication: Publication):
    client = client_for(Role.PUBLISHER)
    return client.post(f"/api/v1/publishing/publications/{publication.pk}/publish", {}, format="json")


def _publish_through_admin(client, make_user, publication: Publication):
    user = make_user(Role.PUBLISHER, is_staff=True)
    client.force_login(user)
    return client.post(
        f"/admin/publishing/publication/{publication.pk}/publish/", {"confirmed_total": 25, "confirm": "on"}
    )


@pytest.mark.parametrize("surface", ["api", "admin"])
def test_a_publication_published_while_the_broker_is_down_goes_out_once_the_broker_is_back(
    surface, broker, clock, ses_emulator, ses_channel, topic, make_readers, client, client_for, make_user
):
    make_readers(25)
    publication = PublicationFactory(title="Published in the dark", topics=[topic])
    broker.stop()

    if surface == "api":
        response = _publish_through_api(client_for, publication)
        assert response.status_code == 200, response.content
        assert response.json()["state"] == "published"
    else:
        response = _publish_through_admin(client, make_user, publication)
        assert response.status_code == 302, response.content.decode()[:2000]

    publication.refresh_from_db()
    send = Send.objects.get(publication=publication)
    assert publication.state == Publication.State.PUBLISHED
    assert (send.status, send.audience_ready) == (Send.Status.SENDING, False)
    assert not Delivery.objects.filter(send=send).exists()
    assert sends_fanout_recover() == 0, "nothing to do within the grace period of a fresh start"

    broker.start()
    with celery_worker(name=f"after-{surface}", CELERY_BROKER_URL=broker.url()):
        clock.advance(10)  # past the grace period a fresh send's own fan-out message gets
        assert sends_fanout_recover() == 1
        assert sends_fanout_recover() == 0, "asked once; the fan-out's lease stops a second request"

        def completed() -> bool:
            send.refresh_from_db()
            return send.status == Send.Status.COMPLETED

        wait_for(completed, timeout=90, what="the send to complete after the broker came back")
    stats = ses_emulator.stats()
    assert stats["unique_recipients"] == 25 and not stats["duplicates"]
