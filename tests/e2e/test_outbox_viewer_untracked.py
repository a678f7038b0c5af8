"""Opening a message in admin's outbox viewer (Chromium, a real page load) records no open, and
its links lead straight to their destination, not through the click tracker. The same pixel
loaded as a reader would load it does record an open: the check can see one."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.core.mail import EmailMultiAlternatives
from django.utils import timezone

from analytics.links import click_url
from analytics.models import EngagementEvent
from analytics.services.ingest import tracking_buffer_drain
from channels_app.models import Delivery, Send
from channels_app.rendering import open_pixel_values
from tests.factories import ChannelFactory, DeliveryFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
TARGET = "https://example.com/release-notes?a=1&b=2"


def _events(delivery) -> int:
    if django_settings.REDIS_URL:
        tracking_buffer_drain()
    return EngagementEvent.objects.filter(delivery=delivery).count()


def _tracked_email(delivery, send) -> tuple[str, str]:
    pixel = open_pixel_values(delivery_id=delivery.pk)
    link = click_url(delivery_id=delivery.pk, link_index=0, send_id=send.pk)
    html = f'<html><body><p><a id="read" href="{link}">Read the notes</a></p>{pixel["open_pixel_html"]}</body></html>'
    message = EmailMultiAlternatives("Tracked newsletter", "text", "news@example.com", ["reader@example.com"])
    message.attach_alternative(html, "text/html")
    message.send()
    return pixel["open_pixel_url"], link


def test_viewing_a_message_in_the_outbox_records_no_open(live_server, page, admin_user, settings, tmp_path):
    settings.SITE_URL = live_server.url  # the pixel points at this server, as in `make run`
    settings.EMAIL_BACKEND = "core.mail.OutboxEmailBackend"
    settings.BULLETIN_OUTBOX_DIR = tmp_path
    send = Send.objects.create(key="outbox-view", kind="newsletter", content={"links": [TARGET]})
    delivery = DeliveryFactory(send=send, channel=ChannelFactory(), state=Delivery.State.SENT, sent_at=timezone.now())
    pixel_url, link = _tracked_email(delivery, send)
    [eml] = settings.BULLETIN_OUTBOX_DIR.glob("*.eml")

    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{live_server.url}/admin/login/?next=/admin/outbox/{eml.name}")
    page.get_by_label("Username").fill(admin_user.username)
    page.get_by_label("Password").fill("password")
    page.get_by_role("button", name="Log in").click()
    frame = page.frame_locator("iframe[title='HTML part']")
    assert frame.locator("#read").get_attribute("href") == TARGET
    page.wait_for_load_state("networkidle")

    assert not [url for url in requested if "/t/o/" in url or "/t/c/" in url], requested
    assert _events(delivery) == 0
    assert "/t/o/" not in page.content() and "/t/c/" not in page.content()

    page.goto(pixel_url)  # a reader's mail client loading the same pixel is counted
    assert _events(delivery) == 1
