"""Transactional messages: versioned templates, one message per request (or per Idempotency-Key,
also under concurrency against real PostgreSQL), suppression rules, status."""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from core.roles import Role
from publishing.services.transactional import message_template_create, message_template_update
from publishing.transactional_models import Message, MessageTemplate
from subscribers.models import Suppression
from tests.factories import ChannelFactory, SubscriberFactory, SuppressionFactory

URL = "/api/v1/publishing/messages"


@pytest.fixture
def outbox(settings, tmp_path):
    settings.BULLETIN_OUTBOX_DIR = tmp_path / "outbox"
    return tmp_path / "outbox"


def _emails(outbox) -> list[str]:
    return [p.read_text() for p in sorted(outbox.glob("*.eml"))] if outbox.exists() else []


@pytest.fixture
def receipt(db):
    return message_template_create(
        actor=None,
        name="receipt",
        channel=ChannelFactory(),
        subject="Your order {{ data.order }}",
        body='Hello {{ subscriber.first_name|default:"there" }},\n\n**Total**: {{ data.total }}',
    )


@pytest.mark.django_db
def test_a_message_is_sent_from_the_current_template_version_and_its_status_is_readable(
    client_for, receipt, outbox, django_capture_on_commit_callbacks
):
    message_template_update(actor=None, template=receipt, body="Hi {{ subscriber.first_name }}: {{ data.total }}")
    reader = SubscriberFactory(name="Ada Lovelace", email="ada@example.com")
    client = client_for(Role.PUBLISHER)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            URL,
            {"template": "receipt", "subscriber": reader.pk, "data": {"order": "A-1", "total": "<42>"}},
            format="json",
        )
    assert response.status_code == 202, response.json()
    body = response.json()
    assert (body["status"], body["template_version"], body["to"]) == ("queued", 2, "ada@example.com")
    [email] = _emails(outbox)
    assert "Your order A-1" in email and "Hi Ada: " in email and "&lt;42&gt;" in email
    status = client_for(Role.VIEWER).get(f"{URL}/{body['id']}").json()
    assert status["status"] == "sent" and status["attempts"] == 1


@pytest.mark.django_db
def test_the_same_idempotency_key_gets_the_same_answer_and_one_message(
    client_for, receipt, outbox, django_capture_on_commit_callbacks
):
    client = client_for(Role.PUBLISHER)
    payload = {"template": "receipt", "to": "bob@example.com", "data": {"order": "B-2"}}
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(URL, payload, format="json", HTTP_IDEMPOTENCY_KEY="order-B-2")
        again = client.post(URL, payload, format="json", HTTP_IDEMPOTENCY_KEY="order-B-2")
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert again["Idempotent-Replayed"] == "true"
    assert Message.objects.count() == 1 and len(_emails(outbox)) == 1
    other = client.post(URL, {**payload, "data": {"order": "B-3"}}, format="json", HTTP_IDEMPOTENCY_KEY="order-B-2")
    assert other.status_code == 409 and "Idempotency-Key" in other.json()["extra"]["fields"]
    # keys belong to their caller: another client's same key is another message
    other_caller = client_for(Role.PUBLISHER).post(URL, payload, format="json", HTTP_IDEMPOTENCY_KEY="order-B-2")
    assert other_caller.status_code == 202 and other_caller.json()["id"] != first.json()["id"]


@pytest.mark.django_db(transaction=True)
def test_an_idempotency_key_replayed_100_times_concurrently_yields_one_message(make_user, outbox):
    if connection.vendor != "postgresql":
        pytest.skip("concurrency is proven on PostgreSQL (DATABASE_URL)")
    message_template_create(
        actor=None, name="receipt", channel=ChannelFactory(), subject="Order {{ data.order }}", body="Thanks."
    )
    user = make_user(Role.PUBLISHER)
    token = Token.objects.create(user=user).key
    start = threading.Barrier(20)

    def call(_):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        with contextlib.suppress(threading.BrokenBarrierError):  # the first 20 start together
            start.wait(timeout=10)
        try:
            response = client.post(
                URL, {"template": "receipt", "to": "c@example.com", "data": {"order": "C"}},
                format="json", HTTP_IDEMPOTENCY_KEY="same-key",
            )  # fmt: skip
            return response.status_code, response.json()["id"]
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(call, range(100)))
    assert {status for status, _ in answers} == {202}
    assert len({message_id for _, message_id in answers}) == 1
    assert Message.objects.count() == 1
    assert len(_emails(outbox)) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("reason", "category", "expected"),
    [
        (Suppression.Reason.UNSUBSCRIBED, "general", 422),
        (Suppression.Reason.UNSUBSCRIBED, "security", 202),
        (Suppression.Reason.UNSUBSCRIBED, "account", 202),
        (Suppression.Reason.HARD_BOUNCE, "security", 422),
        (Suppression.Reason.COMPLAINT, "account", 422),
    ],
)
def test_suppressed_addresses_get_only_documented_categories_and_hard_bounces_nothing(
    client_for, receipt, reason, category, expected
):
    SuppressionFactory(email="gone@example.com", reason=reason)
    response = client_for(Role.PUBLISHER).post(
        URL, {"template": "receipt", "to": "gone@example.com", "category": category}, format="json"
    )
    assert response.status_code == expected, response.json()
    assert Message.objects.count() == (1 if expected == 202 else 0)


@pytest.mark.django_db
def test_a_bounced_subscriber_is_never_sent_a_message(client_for, receipt):
    reader = SubscriberFactory(status="bounced")
    response = client_for(Role.PUBLISHER).post(
        URL, {"template": "receipt", "subscriber": reader.pk, "category": "security"}, format="json"
    )
    assert response.status_code == 422 and not Message.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"template": "nope", "to": "a@example.com"}, "template"),
        ({"template": "receipt"}, "to"),
        ({"template": "receipt", "to": "a@example.com", "subscriber": 1}, "to"),
        ({"template": "receipt", "to": "not-an-address"}, "to"),
        ({"template": "receipt", "subscriber": 999999}, "subscriber"),
        ({"template": "receipt", "to": "a@example.com", "category": "marketing"}, "category"),
        ({"template": "receipt", "to": "a@example.com", "colour": "red"}, "colour"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(client_for, receipt, payload, field):
    response = client_for(Role.PUBLISHER).post(URL, payload, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["extra"]["fields"]
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_editors_may_not_send_and_viewers_read_status_only(client_for, receipt):
    assert (
        client_for(Role.EDITOR).post(URL, {"template": "receipt", "to": "a@example.com"}, format="json").status_code
        == 403
    )
    assert client_for(Role.VIEWER).get(f"{URL}/msg_{'0' * 32}").status_code == 404


@pytest.mark.django_db
def test_templates_are_versioned_and_checked(client_for):
    admin = client_for(Role.ADMIN)
    channel = ChannelFactory()
    body = {"name": "welcome", "channel": channel.pk, "subject": "Hi {{ subscriber.name }}", "body": "Welcome"}
    created = admin.post("/api/v1/publishing/templates", body, format="json")
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    changed = admin.patch(f"/api/v1/publishing/templates/{pk}", {"body": "Welcome aboard"}, format="json").json()
    assert (changed["version"], changed["body"]) == (2, "Welcome aboard")
    assert admin.patch(f"/api/v1/publishing/templates/{pk}", {"description": "x"}, format="json").json()["version"] == 2
    bad = admin.post(
        "/api/v1/publishing/templates", {**body, "name": "x", "body": "{{ settings.SECRET_KEY }}"}, format="json"
    )
    assert bad.status_code == 400 and "body" in bad.json()["extra"]["fields"]
    slack = ChannelFactory(
        kind="slack", audience="broadcast", config={"channel": "C1"}, credentials={"token": "xoxb-1"}
    )
    not_email = admin.post("/api/v1/publishing/templates", {**body, "name": "y", "channel": slack.pk}, format="json")
    assert not_email.status_code == 400 and "channel" in not_email.json()["extra"]["fields"]
    assert client_for(Role.PUBLISHER).post("/api/v1/publishing/templates", body, format="json").status_code == 403
    assert MessageTemplate.objects.count() == 1


@pytest.mark.django_db
def test_a_provider_outage_keeps_the_message_queued_for_retry_then_fails_it(make_user, settings):
    import socket

    from publishing.services.transactional import MessageRequest, MessageRetry, message_send, message_send_request

    with socket.socket() as probe:  # a port nobody listens on: the SMTP connection is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    smtp = ChannelFactory(config={"esp": "smtp", "from_email": "n@example.com", "host": "127.0.0.1", "port": port})
    message_template_create(actor=None, name="down", channel=smtp, subject="S", body="B")
    settings.MESSAGE_MAX_ATTEMPTS = 2
    accepted = message_send_request(
        actor=make_user(Role.PUBLISHER), request=MessageRequest(template="down", to="d@example.com")
    )
    with pytest.raises(MessageRetry):
        message_send(message_id=accepted.message.pk)
    message = Message.objects.get()
    assert (message.state, message.attempts) == ("queued", 1) and "cannot connect" in message.last_error
    assert message_send(message_id=message.pk).state == "failed"
    assert message_send(message_id=message.pk) is None  # settled: nothing more happens


@pytest.mark.django_db
def test_a_lost_task_is_asked_for_again_and_a_message_a_dead_worker_held_is_failed(make_user, receipt, outbox):
    from datetime import timedelta

    from django.utils import timezone

    from publishing.services.transactional import MessageRequest, message_send_request, messages_recover

    publisher = make_user(Role.PUBLISHER)
    lost = message_send_request(actor=publisher, request=MessageRequest(template="receipt", to="a@example.com"))
    held = message_send_request(actor=publisher, request=MessageRequest(template="receipt", to="b@example.com"))
    Message.objects.filter(pk=held.message.pk).update(state="sending")
    assert messages_recover() == {"requeued": 0, "lost": 0}  # nothing is stale yet
    later = timezone.now() + timedelta(minutes=11)
    assert messages_recover(now=later) == {"requeued": 1, "lost": 1}
    assert Message.objects.get(pk=lost.message.pk).state == "sent"  # the eager task ran
    held_now = Message.objects.get(pk=held.message.pk)
    assert held_now.state == "failed" and "may or may not" in held_now.last_error
    assert len(_emails(outbox)) == 1


@pytest.mark.django_db
def test_an_open_circuit_on_the_channel_holds_the_message_without_counting_an_attempt(make_user, receipt, outbox):
    from channels_app.circuit import circuit_record_failure
    from publishing.services.transactional import MessageRequest, MessageRetry, message_send, message_send_request

    circuit_record_failure(receipt.channel, reason="SES paused the account", paused=True)
    accepted = message_send_request(
        actor=make_user(Role.PUBLISHER), request=MessageRequest(template="receipt", to="e@example.com")
    )
    with pytest.raises(MessageRetry):
        message_send(message_id=accepted.message.pk)
    message = Message.objects.get()
    assert (message.state, message.attempts) == ("queued", 0) and "circuit open" in message.last_error
    assert _emails(outbox) == []


@pytest.mark.django_db
def test_a_message_on_an_ses_channel_is_handed_to_ses_with_the_providers_id(make_user, ses_channel, ses_emulator):
    from publishing.services.transactional import MessageRequest, message_send, message_send_request

    message_template_create(
        actor=None, name="code", channel=ses_channel, subject="Code {{ data.code }}", body="Your code: {{ data.code }}"
    )
    accepted = message_send_request(
        actor=make_user(Role.PUBLISHER),
        request=MessageRequest(
            template="code", to="sam@example.com", category="security", data={"code": "{{code}} <b>1</b>"}
        ),
    )
    message = message_send(message_id=accepted.message.pk)
    assert message.state == "sent" and message.provider_message_id
    [sent] = ses_emulator.messages(to="sam@example.com")
    # a value is never read as template or markup: SES gets it as replacement data
    assert sent["subject"] == "Code {{code}} <b>1</b>" and "Your code: {{code}} <b>1</b>" in sent["text"]
    assert "{{code}} &lt;b&gt;1&lt;/b&gt;" in sent["html"]
    assert ses_emulator.stats()["recipients_accepted"] == 1
