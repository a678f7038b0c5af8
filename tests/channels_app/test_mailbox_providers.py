"""Mailbox providers (issue 18 item 3): classification by domain table and by MX through the
local DNS server, a pace per provider shared by two worker processes on real Redis, and one
provider's stream of a send held while the rest flows."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import timedelta

import pytest
from django.conf import settings

from channels_app.models import Delivery, MailboxDomain, ProviderHold, Send
from channels_app.services import mailbox_providers
from channels_app.services.mailbox_providers import (
    mailbox_providers_for,
    provider_for_address,
    provider_hold,
    provider_hold_release,
)
from channels_app.services.pipeline import delivery_batch_send
from core.clock import clock
from core.exceptions import ApplicationError
from core.roles import Role
from tests.channels_app.conftest import EMAIL_CONTENT
from tests.factories import ChannelFactory, DeliveryFactory, SendFactory, SubscriberFactory
from tests.worker import require_real_services, worker_env

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_memo():
    mailbox_providers._memo.clear()
    yield
    mailbox_providers._memo.clear()


def test_consumer_domains_are_classified_from_the_table_without_dns(dns_server):
    found = mailbox_providers_for(["gmail.com", "Hotmail.com", "yahoo.co.uk", "icloud.com", "aol.com"])

    assert found == {"gmail.com": "gmail", "hotmail.com": "outlook", "yahoo.co.uk": "yahoo", "icloud.com": "apple"} | {
        "aol.com": "yahoo"
    }
    assert not dns_server.queries, "no lookup for a well-known domain"


def test_a_company_domain_on_google_workspace_is_gmail_by_its_mx_looked_up_once(dns_server):
    dns_server.add("acme.test", "MX", "1 aspmx.l.google.com.")
    dns_server.add("acme.test", "MX", "5 alt1.aspmx.l.google.com.")
    dns_server.add("contoso.test", "MX", "0 contoso-test.mail.protection.outlook.com.")
    dns_server.add("selfhosted.test", "MX", "10 mx.selfhosted.test.")

    assert provider_for_address("Ann <ann@ACME.test>") == "gmail"
    assert provider_for_address("bob@contoso.test") == "outlook"
    assert provider_for_address("eve@selfhosted.test") == "other"
    mailbox_providers._memo.clear()  # another process: the database row answers
    assert mailbox_providers_for(["acme.test", "contoso.test"]) == {"acme.test": "gmail", "contoso.test": "outlook"}

    assert dns_server.queries[("acme.test", "MX")] == 1
    assert MailboxDomain.objects.get(domain="acme.test").mx == "aspmx.l.google.com"


def test_a_cached_answer_is_looked_up_again_after_its_lifetime(dns_server, settings):
    dns_server.add("moved.test", "MX", "10 mx.moved.test.")
    assert provider_for_address("a@moved.test") == "other"
    dns_server.clear()
    dns_server.add("moved.test", "MX", "10 moved-test.mail.protection.outlook.com.")
    mailbox_providers._memo.clear()
    MailboxDomain.objects.filter(domain="moved.test").update(
        resolved_at=clock.now() - timedelta(seconds=settings.MAILBOX_PROVIDER_CACHE_SECONDS + 1)
    )

    assert provider_for_address("a@moved.test") == "outlook"
    assert MailboxDomain.objects.get(domain="moved.test").provider == "outlook"


def test_a_failed_lookup_counts_as_other_and_is_not_kept(dns_server):
    dns_server.fail("flaky.test")

    assert provider_for_address("a@flaky.test") == "other"
    assert not MailboxDomain.objects.filter(domain="flaky.test").exists()


# --- holding one provider's stream ----------------------------------------------------------


def _deliveries(channel, send, addresses: list[str]) -> list[int]:
    Send.objects.filter(pk=send.pk).update(content=EMAIL_CONTENT)
    return [
        DeliveryFactory(send=send, channel=channel, subscriber=SubscriberFactory(email=a), recipient=a).pk
        for a in addresses
    ]


def test_holding_one_provider_holds_only_its_deliveries_and_release_lets_them_go(outbox_channel, dns_server):
    dns_server.add("acme.test", "MX", "1 aspmx.l.google.com.")
    send = SendFactory(status=Send.Status.SENDING, audience_ready=True)
    other_send = SendFactory(status=Send.Status.SENDING, audience_ready=True)
    gmail = ["a@gmail.com", "b@acme.test"]
    ids = _deliveries(outbox_channel, send, [*gmail, "c@outlook.com", "d@yahoo.com"])
    other_ids = _deliveries(outbox_channel, other_send, ["e@gmail.com"])
    provider_hold(send=send, provider="gmail", reason="guard")

    outcome = delivery_batch_send(channel_id=outbox_channel.pk, delivery_ids=ids + other_ids)

    states = dict(Delivery.objects.filter(pk__in=ids + other_ids).values_list("recipient", "state"))
    assert states == {"a@gmail.com": "queued", "b@acme.test": "queued", "c@outlook.com": "sent"} | {
        "d@yahoo.com": "sent",
        "e@gmail.com": "sent",  # another send's Gmail stream is not held
    }
    assert (outcome.sent, outcome.deferred) == (3, 2)
    held = Delivery.objects.filter(recipient__in=gmail)
    assert all(d.last_error.startswith("held: mailbox provider gmail") and d.attempts == 0 for d in held)

    provider_hold_release(hold=ProviderHold.objects.get(send=send), actor=None)
    outcome = delivery_batch_send(channel_id=outbox_channel.pk, delivery_ids=ids)

    assert outcome.sent == 2
    assert set(Delivery.objects.filter(pk__in=ids).values_list("state", flat=True)) == {"sent"}


def test_a_hold_released_by_another_process_lets_the_deliveries_go_at_once(outbox_channel):
    send = SendFactory(status=Send.Status.SENDING, audience_ready=True)
    ids = _deliveries(outbox_channel, send, ["f@gmail.com"])
    provider_hold(send=send, provider="gmail", reason="guard")
    mailbox_providers.mailbox_streams_wanted(renders_email=True, send_ids=[send.pk])  # this process remembers it
    ProviderHold.objects.filter(send=send).update(released_at=clock.now())  # released elsewhere

    outcome = delivery_batch_send(channel_id=outbox_channel.pk, delivery_ids=ids)

    assert outcome.sent == 1


def test_releasing_a_hold_needs_the_publisher_role_and_happens_once(outbox_channel, make_user):
    send = SendFactory(status=Send.Status.SENDING)
    hold = provider_hold(send=send, provider="yahoo", reason="guard")
    assert provider_hold(send=send, provider="yahoo", reason="again") is None, "one active hold per provider"

    with pytest.raises(ApplicationError) as denied:
        provider_hold_release(hold=hold, actor=make_user(Role.EDITOR))
    assert denied.value.status_code == 403
    provider_hold_release(hold=hold, actor=make_user(Role.PUBLISHER))
    with pytest.raises(ApplicationError, match="already released"):
        provider_hold_release(hold=hold, actor=None)


def test_an_unknown_provider_cannot_be_held():
    with pytest.raises(ApplicationError, match="Unknown mailbox provider"):
        provider_hold(send=SendFactory(), provider="hotmail", reason="x")


# --- pacing shared by two workers -----------------------------------------------------------

_WORKER = textwrap.dedent(
    """
    import json, sys
    import django
    django.setup()
    from channels_app.services.pipeline import delivery_batch_send
    outcome = delivery_batch_send(channel_id=int(sys.argv[1]), delivery_ids=json.loads(sys.argv[2]))
    print(json.dumps({"sent": outcome.sent, "deferred": outcome.deferred}))
    """
)


def _addresses(worker: int) -> list[str]:
    return [f"g{worker}-{i}@gmail.com" for i in range(30)] + [f"o{worker}-{i}@outlook.com" for i in range(10)]


@pytest.mark.django_db(transaction=True)
def test_a_providers_pace_holds_across_two_workers_while_other_providers_go_at_once(ses_emulator, redis_client):
    """Gmail at 10/s on real Redis: 60 Gmail messages split over two worker processes take
    ~5 s together (chunks of 10, one per 0.1 s of pace each); Outlook's go out at once."""
    require_real_services()
    channel = ChannelFactory(
        config={
            "esp": "amazon_ses",
            "from_email": "News <news@example.com>",
            "endpoint_url": ses_emulator.endpoint_url,
            "region": "us-east-1",
        },
        credentials={"aws_access_key_id": "AKIATEST", "aws_secret_access_key": "secret"},
        rate_limit_per_second=1000,
    )
    send = SendFactory(status=Send.Status.SENDING, audience_ready=True)
    halves = [
        _deliveries(
            channel, send, [f"g{w}-{i}@gmail.com" for i in range(30)] + [f"o{w}-{i}@outlook.com" for i in range(10)]
        )
        for w in range(2)
    ]
    env = worker_env(MAILBOX_PROVIDER_RATES="gmail=10")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(channel.pk), json.dumps(ids)],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for ids in halves
    ]
    outcomes = [json.loads(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in procs]

    assert sum(o["sent"] for o in outcomes) == 80
    arrivals = {"gmail": [], "outlook": []}
    for message in ses_emulator.messages():
        for address in message["to"]:
            arrivals["gmail" if "gmail" in address else "outlook"].append(message["received_at"])
    gmail, outlook = sorted(arrivals["gmail"]), sorted(arrivals["outlook"])
    assert len(gmail) == 60 and len(outlook) == 20
    assert gmail[-1] - gmail[0] >= 4.5, (
        f"60 Gmail messages at 10/s with a burst of 10 take 5 s, not {gmail[-1] - gmail[0]:.2f}"
    )
    assert gmail[-1] - gmail[0] <= 8.0
    assert outlook[-1] <= gmail[0] + 1.5, "Outlook's messages did not wait behind Gmail's pace"


def test_after_a_failed_probe_the_other_providers_wait_instead_of_hitting_a_down_provider(
    ses_emulator, settings, clock
):
    from channels_app.circuit import circuit_record_failure

    settings.MAILBOX_PROVIDER_RATES = {"gmail": 100}
    channel = ChannelFactory(
        config={"esp": "amazon_ses", "from_email": "n@example.com", "endpoint_url": ses_emulator.endpoint_url}
        | {"region": "us-east-1"},
        credentials={"aws_access_key_id": "AKIATEST", "aws_secret_access_key": "secret"},
    )
    send = SendFactory(status=Send.Status.SENDING, audience_ready=True)
    ids = _deliveries(channel, send, ["p@outlook.com", "q@gmail.com"])
    circuit_record_failure(channel, reason="SES paused the account", paused=True)
    clock.advance(settings.CIRCUIT_MAX_COOLDOWN_SECONDS + 1)  # half-open: one probe may go
    ses_emulator.configure(fail_next={"count": 5, "status": 503})

    delivery_batch_send(channel_id=channel.pk, delivery_ids=ids)

    assert sum(ses_emulator.stats()["requests"].values()) == 1, "only the probe reached the provider"
    gmail = Delivery.objects.get(recipient="q@gmail.com")
    assert (gmail.state, gmail.attempts) == ("queued", 0) and gmail.last_error.startswith("circuit open")
