"""Provider limits as the provider states them (issue 13 item 7), through the real pipeline,
Redis and the Slack emulator enforcing Slack's own limits: one message a second per
conversation, and a workspace-wide ceiling."""

from __future__ import annotations

import time

import pytest

from channels_app.adapters import adapter_for
from channels_app.models import Channel, Delivery, Send
from channels_app.ratelimit import ChannelLimiter
from channels_app.services.pipeline import delivery_batch_send
from core.clock import clock
from tests.emulators.fixtures import SLACK_TOKEN
from tests.factories import ChannelFactory, DeliveryFactory, SendFactory, SubscriberFactory
from tests.worker import require_real_services, wait_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def slack_dms(slack_emulator):
    """A personal Slack channel against an emulator enforcing 1/s per conversation, 600/min overall."""
    require_real_services()
    slack_emulator.configure(rate_per_channel=1, workspace_rate_per_minute=600)
    return ChannelFactory(
        name="Slack DMs",
        kind="slack",
        is_default=True,
        config={"base_url": slack_emulator.url},
        credentials={"token": SLACK_TOKEN},
    )


def _dms(channel: Channel, members: list[str], send: Send | None = None) -> list[int]:
    send = send or SendFactory(status=Send.Status.SENDING, audience_ready=True)
    content = {"slack": {"text": "Alert for {{{mention}}}", "blocks": []}, "links": []}
    Send.objects.filter(pk=send.pk).update(content=content)
    return [
        DeliveryFactory(send=send, channel=channel, subscriber=SubscriberFactory(slack_member_id=m), recipient=m).pk
        for m in members
    ]


def test_dms_to_many_members_go_out_in_parallel_up_to_the_workspace_ceiling(slack_dms, slack_emulator):
    """Before: 18 DMs took 17 s at one message a second for the whole channel."""
    members = [f"U0MEMBER{i:03d}" for i in range(18)]
    ids = _dms(slack_dms, members)

    outcome = delivery_batch_send(channel_id=slack_dms.pk, delivery_ids=ids)

    assert outcome.sent == 18
    arrivals = sorted(m["received_at"] for m in slack_emulator.messages())
    # 5 at once (half a second of the 600/min ceiling), then 5 every half second.
    assert arrivals[-1] - arrivals[0] < 2.0
    assert slack_emulator.stats()["ratelimited"] == 0
    assert {m["channel"] for m in slack_emulator.messages()} == {"D" + m[1:] for m in members}


def test_a_busy_conversation_waits_in_the_queue_with_its_due_time_while_the_others_go_out(slack_dms, slack_emulator):
    busy = "U0BUSY0001"
    first = _dms(slack_dms, [busy, "U0OTHER001", "U0OTHER002"])
    later = [_dms(slack_dms, [busy])[0] for _ in range(2)]  # two more alerts to the same person
    started = time.monotonic()

    outcome = delivery_batch_send(channel_id=slack_dms.pk, delivery_ids=first + later)

    assert time.monotonic() - started < 1.5, "the batch does not sleep through the conversation's pace"
    assert (outcome.sent, outcome.deferred) == (3, 2)
    rows = {d.pk: d for d in Delivery.objects.filter(pk__in=later)}
    dues = [(rows[pk].next_attempt_at - clock.now()).total_seconds() for pk in later]
    assert all(0.3 < due < 1.2 for due in dues), f"due when the conversation has room again: {dues}"
    assert all(r.state == Delivery.State.QUEUED and r.lease_expires_at is None for r in rows.values())
    assert all(r.attempts == 0 and "conversation" in r.last_error for r in rows.values())

    def all_sent() -> bool:
        delivery_batch_send(channel_id=slack_dms.pk, delivery_ids=later)  # claims only what is due
        return not Delivery.objects.filter(pk__in=later).exclude(state=Delivery.State.SENT).exists()

    wait_for(all_sent, timeout=10, what="the busy conversation's messages", interval=0.2)
    stamps = slack_emulator.timestamps("D" + busy[1:])
    assert len(stamps) == 3 and min(b - a for a, b in zip(stamps, stamps[1:], strict=False)) >= 0.9
    assert slack_emulator.stats()["ratelimited"] == 0


def test_a_channels_own_rates_override_the_providers_stated_ones_and_an_account_is_shared(slack_emulator):
    workspace = {"config": {"base_url": slack_emulator.url}, "credentials": {"token": SLACK_TOKEN}}
    dms = ChannelFactory(kind="slack", **workspace)
    announcements = ChannelFactory(
        kind="slack", audience="broadcast", rate_limit_per_second=2, target_rate_per_second=0.5, **workspace
    )
    other_workspace = ChannelFactory(kind="slack", config=workspace["config"], credentials={"token": "xoxb-other"})

    stated, own, other = (ChannelLimiter.for_channel(c, adapter_for(c)) for c in (dms, announcements, other_workspace))

    assert (stated.rate, stated.target_rate) == (10.0, 1.0), "Slack: 600/min per workspace, 1/s per conversation"
    assert (own.rate, own.target_rate) == (2, 0.5)
    assert stated.key == own.key != other.key, "one workspace, one ceiling, whichever channel posts"


def test_an_ses_account_is_one_ceiling_across_its_channels():
    ses = {"esp": "amazon_ses", "from_email": "a@example.com", "region": "eu-west-1"}
    keys = {"aws_access_key_id": "AKIA1", "aws_secret_access_key": "s"}
    one, two = (ChannelFactory(config=ses, credentials=keys) for _ in range(2))
    elsewhere = ChannelFactory(config={**ses, "region": "us-east-1"}, credentials=keys)

    limiters = [ChannelLimiter.for_channel(c, adapter_for(c)) for c in (one, two, elsewhere)]

    assert limiters[0].key == limiters[1].key != limiters[2].key
    assert limiters[0].rate == 14.0 and limiters[0].target_rate is None


def test_a_discord_webhook_is_one_ceiling_whichever_channel_posts_to_it():
    hook = {"url": "https://discord.example/api/webhooks/1/t"}
    one, two = (ChannelFactory(kind="discord", audience="broadcast", credentials=hook) for _ in range(2))
    other = ChannelFactory(kind="discord", audience="broadcast", credentials={"url": hook["url"] + "x"})

    limiters = [ChannelLimiter.for_channel(c, adapter_for(c)) for c in (one, two, other)]

    assert limiters[0].key == limiters[1].key != limiters[2].key
    assert (limiters[0].rate, limiters[0].burst) == (0.5, 5), "Discord: 5 per 2 s, about 30 a minute"
