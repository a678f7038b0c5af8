"""The open pixel and the click redirect, end to end through the buffer (Redis) or directly."""

from __future__ import annotations

import struct
from datetime import timedelta

import pytest
import redis
from django.urls import resolve
from django.utils import timezone

from analytics.links import click_url, open_url
from analytics.models import DeliveryEngagement, EngagementEvent, RollupDirtyCell, SubscriberEngagement
from analytics.services.ingest import tracking_buffer_drain, tracking_buffer_length
from channels_app.models import Channel
from channels_app.rendering import DeliveryRow, prepare
from tests.factories import ChannelFactory, SendFactory, TopicFactory

pytestmark = pytest.mark.django_db

BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0"


@pytest.fixture(params=["redis", "direct"])
def buffer(request, settings):
    """Each behaviour holds with the Redis buffer and with direct writes (no Redis)."""
    settings.TRACKING_BUFFER = request.param
    if request.param == "redis":
        request.getfixturevalue("redis_client")
    return request.param


def _path(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[1].join(["/", ""])


def _drain(buffer: str) -> None:
    if buffer == "redis":
        tracking_buffer_drain()


def _events(**filters):
    return list(EngagementEvent.objects.filter(**filters).order_by("pk"))


def test_tracking_paths_are_the_ones_links_formats(db):
    assert resolve(_path(open_url(delivery_id=5))).url_name == "open"
    assert resolve(_path(click_url(delivery_id=5, link_index=1, send_id=3))).url_name == "click"
    assert resolve(_path(click_url(delivery_id=5, link_index=1))).url_name == "click"


def test_the_open_pixel_is_a_real_1x1_gif_that_is_never_cached(client, make_sent, buffer):
    [delivery] = make_sent()
    response = client.get(_path(open_url(delivery_id=delivery.pk)), HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/gif"
    body = response.content
    assert body[:6] == b"GIF89a" and struct.unpack("<HH", body[6:10]) == (1, 1)
    assert "no-store" in response["Cache-Control"] and "no-cache" in response["Cache-Control"]
    assert response["Pragma"] == "no-cache" and response["Expires"] == "0"


def test_an_open_is_stored_once_with_its_time_and_agent_class(client, make_sent, buffer):
    [delivery] = make_sent()
    before = timezone.now()
    client.get(_path(open_url(delivery_id=delivery.pk)), HTTP_USER_AGENT=BROWSER)
    _drain(buffer)
    _drain(buffer)
    [event] = _events(delivery=delivery)
    assert (event.kind, event.is_machine, event.metadata["ua_class"]) == ("open", False, "desktop")
    assert before <= event.occurred_at <= timezone.now()
    assert DeliveryEngagement.objects.get(pk=delivery.pk).first_open_at == event.occurred_at
    assert SubscriberEngagement.objects.get(pk=delivery.subscriber_id).last_open_at == event.occurred_at
    assert RollupDirtyCell.objects.filter(send_id=delivery.send_id, day=event.occurred_at.date()).exists()


def test_a_click_redirects_to_the_link_of_the_message_and_is_recorded(client, make_sent, buffer):
    [delivery] = make_sent()
    response = client.get(
        _path(click_url(delivery_id=delivery.pk, link_index=1, send_id=delivery.send_id)), HTTP_USER_AGENT=BROWSER
    )
    assert response.status_code == 302
    assert response["Location"] == "https://example.com/second"
    _drain(buffer)
    [event] = _events(delivery=delivery)
    assert event.kind == "click" and not event.is_machine
    assert event.metadata["link"] == "https://example.com/second" and event.metadata["link_index"] == 1
    assert DeliveryEngagement.objects.get(pk=delivery.pk).first_click_at == event.occurred_at


def test_a_click_token_without_the_send_finds_it_from_the_delivery(client, make_sent, buffer):
    [delivery] = make_sent()
    response = client.get(_path(click_url(delivery_id=delivery.pk, link_index=0)), HTTP_USER_AGENT=BROWSER)
    assert response["Location"] == "https://example.com/article?a=1&b=2"
    _drain(buffer)
    assert len(_events(delivery=delivery, kind="click")) == 1


def _tamper(token: str) -> str:
    value, signature = token.rsplit(".", 1)
    return f"{value}.{signature[:-2]}{'AA' if not signature.endswith('AA') else 'BB'}"


def _other_delivery(token: str, other_id: int) -> str:
    """The same signature over values naming another delivery."""
    _, *rest = token.split(".")
    return ".".join([format(other_id, "x"), *rest])


@pytest.mark.parametrize(
    "case", ["tampered", "truncated", "other_delivery", "not_in_message", "unsafe_scheme", "open_token", "garbage"]
)
def test_a_bad_click_token_never_redirects_and_records_nothing(client, make_sent, buffer, case, redis_or_none):
    first, second = make_sent(2)
    good = click_url(delivery_id=first.pk, link_index=0).rsplit("/", 1)[1]
    token = {
        "tampered": lambda: _tamper(good),
        "truncated": lambda: good[: len(good) // 2],
        "other_delivery": lambda: _other_delivery(good, second.pk),
        "not_in_message": lambda: click_url(delivery_id=first.pk, link_index=7, send_id=first.send_id).rsplit("/")[-1],
        "unsafe_scheme": lambda: click_url(delivery_id=first.pk, link_index=2, send_id=first.send_id).rsplit("/")[-1],
        "open_token": lambda: open_url(delivery_id=first.pk).rsplit("/", 1)[1].removesuffix(".gif"),
        "garbage": lambda: "%%%not-a-token",
    }[case]()
    response = client.get(f"/t/c/{token}", HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 404
    assert "Location" not in response
    assert "doesn’t lead anywhere" in response.content.decode()
    _drain(buffer)
    assert not EngagementEvent.objects.exists()
    if redis_or_none is not None:
        assert tracking_buffer_length() == 0


@pytest.fixture
def redis_or_none(settings):
    if settings.TRACKING_BUFFER != "redis":
        return None
    from core.redis import get_redis

    return get_redis()


def test_a_bad_open_token_still_gets_the_pixel_but_records_nothing(client, make_sent, buffer):
    [delivery] = make_sent()
    token = open_url(delivery_id=delivery.pk).rsplit("/", 1)[1].removesuffix(".gif")
    response = client.get(f"/t/o/{_tamper(token)}.gif")
    assert response.status_code == 200 and response["Content-Type"] == "image/gif"
    _drain(buffer)
    assert not EngagementEvent.objects.exists()


@pytest.mark.parametrize(
    ("agent", "method", "ua_class"),
    [
        ("Mozilla/5.0", "get", "apple_mpp"),
        ("", "get", "empty"),
        ("Mozilla/5.0 (compatible; Mimecast-LinkScanner)", "get", "scanner"),
        ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "get", "link_preview"),
        ("python-requests/2.32", "get", "bot"),
        (BROWSER, "head", "desktop"),
    ],
)
def test_machine_opens_are_kept_but_flagged(client, make_sent, buffer, agent, method, ua_class):
    [delivery] = make_sent()
    getattr(client, method)(_path(open_url(delivery_id=delivery.pk)), HTTP_USER_AGENT=agent)
    _drain(buffer)
    [event] = _events(delivery=delivery)
    assert event.is_machine and event.metadata["ua_class"] == ua_class
    assert not DeliveryEngagement.objects.filter(pk=delivery.pk).exists()


def test_gmail_image_proxy_opens_count_as_human(client, make_sent, buffer):
    [delivery] = make_sent()
    agent = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
    client.get(_path(open_url(delivery_id=delivery.pk)), HTTP_USER_AGENT=agent)
    _drain(buffer)
    [event] = _events(delivery=delivery)
    assert not event.is_machine and event.metadata["ua_class"] == "gmail_proxy"


def test_a_click_within_seconds_of_delivery_is_a_scanner(client, make_sent, buffer):
    [fresh] = make_sent(sent_at=timezone.now())
    [later] = make_sent(sent_at=timezone.now() - timedelta(minutes=5))
    for delivery in (fresh, later):
        client.get(
            _path(click_url(delivery_id=delivery.pk, link_index=0, send_id=delivery.send_id)), HTTP_USER_AGENT=BROWSER
        )
    _drain(buffer)
    [fast] = _events(delivery=fresh)
    [human] = _events(delivery=later)
    assert fast.is_machine and fast.metadata["too_fast"]
    assert not human.is_machine


def test_hits_are_not_recorded_when_the_channel_has_tracking_off(client, make_sent, buffer):
    channel = ChannelFactory(kind="email", tracking_enabled=False)
    [delivery] = make_sent(channel=channel)
    client.get(_path(open_url(delivery_id=delivery.pk)), HTTP_USER_AGENT=BROWSER)
    response = client.get(_path(click_url(delivery_id=delivery.pk, link_index=0)), HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 302  # links already out keep working
    _drain(buffer)
    assert not EngagementEvent.objects.exists()


def test_hits_are_not_recorded_when_the_topic_has_tracking_off(client, make_sent, buffer):
    topic = TopicFactory(tracking_enabled=False)
    send = SendFactory(content={"links": ["https://example.com/a"], "topic_id": topic.pk})
    [delivery] = make_sent(send=send)
    client.get(_path(open_url(delivery_id=delivery.pk)), HTTP_USER_AGENT=BROWSER)
    _drain(buffer)
    assert not EngagementEvent.objects.exists()


def test_messages_of_a_channel_or_send_with_tracking_off_carry_plain_links(db):
    content = {
        "email": {"subject": "s", "html": '<img src="{{{open_pixel_url}}}"> {{{link_0}}}', "text": ""},
        "links": ["https://a.example/"],
    }
    row = DeliveryRow(1, "ada@example.com", None)
    off_channel = prepare(send=SendFactory(content=content), channel=ChannelFactory(tracking_enabled=False)).render(row)
    off_send = prepare(send=SendFactory(content={**content, "tracking": False}), channel=ChannelFactory()).render(row)
    for message in (off_channel, off_send):
        assert message.variables["link_0"] == "https://a.example/"
        assert "open_pixel_url" not in message.variables


@pytest.mark.parametrize("kind", ["slack", "discord"])
def test_slack_and_discord_links_go_through_the_same_redirect(client, make_sent, buffer, kind):
    audience = Channel.Audience.BROADCAST
    channel = ChannelFactory(kind=kind, audience=audience, config={"channel": "C1"} if kind == "slack" else {})
    send = SendFactory(
        content={
            "slack": {"text": "Read {{{link_0}}}", "blocks": []},
            "discord": {"content": "Read {{{link_0}}}"},
            "links": ["https://example.com/post"],
        }
    )
    [delivery] = make_sent(send=send, channel=channel, subscriber=None)
    payload = prepare(send=send, channel=channel).render(DeliveryRow(delivery.pk, "", None)).payload
    link = (payload.get("text") or payload.get("content")).split("Read ", 1)[1]
    response = client.get(_path(link), HTTP_USER_AGENT=BROWSER)
    assert response["Location"] == "https://example.com/post"
    _drain(buffer)
    [event] = _events(delivery=delivery)
    assert event.kind == "click" and event.metadata["link"] == "https://example.com/post"


def test_when_redis_is_down_hits_are_written_directly(client, make_sent, settings, monkeypatch, redis_client):
    settings.TRACKING_BUFFER = "redis"
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    monkeypatch.setattr("analytics.services.ingest.get_redis", lambda: dead)
    [delivery] = make_sent()
    response = client.get(_path(open_url(delivery_id=delivery.pk)), HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 200
    assert len(_events(delivery=delivery)) == 1
