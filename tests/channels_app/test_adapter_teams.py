"""Microsoft Teams: TeamsAdapter against the Workflows webhook emulator (tests/emulators/teams.py),
on its own and through the API, publishing, the send pipeline and test sends."""

from __future__ import annotations

import json

import pytest
import requests

from channels_app.adapters import adapter_for
from channels_app.adapters.base import PermanentProviderError, RenderedMessage
from channels_app.adapters.teams import MAX_BYTES, TeamsAdapter, card_message, plain_text
from channels_app.models import Channel, Delivery, Send
from channels_app.ratelimit import ChannelLimiter
from channels_app.services.pipeline import delivery_batch_send
from channels_app.services.testsend import channel_test_send
from core.roles import Role
from publishing.models import Publication
from publishing.services.publish import publication_publish
from tests.emulators.fixtures import reset_per_test
from tests.emulators.teams import TeamsEmulator
from tests.factories import ChannelFactory, DeliveryFactory, PublicationFactory, SendFactory

pytestmark = pytest.mark.django_db

_teams_server, teams = reset_per_test("teams", TeamsEmulator, "A Teams Workflows webhook; `.flow_url()` makes one.")


def _adapter(url: str) -> TeamsAdapter:
    return TeamsAdapter(config={}, credentials={"url": url})


def _card(i: int = 1, text: str = "Deploy finished") -> RenderedMessage:
    return RenderedMessage(i, payload=card_message([plain_text(text)]))


@pytest.fixture
def channel(teams, topic):
    channel = ChannelFactory(kind="teams", audience="broadcast", config={}, credentials={"url": teams.flow_url()})
    channel.topics.set([topic])
    return channel


def test_a_card_goes_to_the_workflow_and_its_run_id_is_the_confirmation(teams):
    url = teams.flow_url()
    [result] = _adapter(url).send_batch([_card()])
    assert result.ok and result.provider_message_id.startswith("0858")
    [run] = teams.messages()
    assert run["posted"] and run["card"]["type"] == "AdaptiveCard"
    assert run["card"]["body"][0]["inlines"][0]["text"] == "Deploy finished"
    assert run["body"]["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"


def test_a_published_alert_reaches_a_teams_channel_bound_to_its_topic_as_an_adaptive_card(
    teams, channel, topic, make_user, django_capture_on_commit_callbacks
):
    publication = PublicationFactory(
        title="*Rotate* [keys](https://evil.example) now",
        summary="Within the hour.",
        body="Run `rotate` on every host.",
        priority=Publication.Priority.ALERT,
        topics=[topic],
    )
    with django_capture_on_commit_callbacks(execute=True):
        publication_publish(publication=publication, actor=make_user(Role.PUBLISHER))

    [run] = teams.messages()
    title, summary, body, footer = (block["inlines"][0] for block in run["card"]["body"])
    assert title["text"] == "🚨 *Rotate* [keys](https://evil.example) now", "shown as typed, never as Markdown"
    assert (title["type"], title["color"]) == ("TextRun", "Attention")
    assert summary["text"] == "Within the hour." and "rotate" in body["text"] and topic.name in footer["text"]
    [action] = run["card"]["actions"]
    assert action["type"] == "Action.OpenUrl" and action["url"].startswith("http")
    assert Delivery.objects.get(channel=channel).state == Delivery.State.SENT


def test_an_oversized_card_is_cut_to_fit_teams_message_limit(teams):
    [result] = _adapter(teams.flow_url()).send_batch([_card(text="word " * 20_000)])
    assert result.ok
    [run] = teams.messages()
    assert run["posted"] and run["run_error"] == ""
    assert len(json.dumps(run["body"]).encode()) <= MAX_BYTES
    assert run["card"]["body"][0]["inlines"][0]["text"].endswith("…")


@pytest.mark.parametrize(
    "break_it,code",
    [
        (lambda teams, url: teams.delete(url), "WorkflowNotFound"),
        (lambda teams, url: teams.turn_off(url), "WorkflowTriggerIsNotEnabled"),
        # (its 38-letter code reads like a key to core.outbound's redaction: the advice names it)
        (lambda teams, url: url.replace("&sig=", "&sig=wrong"), "401 .*signature is wrong"),
        (lambda teams, url: url.split("&sig=")[0], "DirectApiAuthorizationRequired"),
    ],
    ids=["deleted", "turned-off", "wrong-signature", "no-signature"],
)
def test_a_flow_that_cannot_be_triggered_stops_the_channel_with_the_reason(teams, break_it, code):
    url = teams.flow_url()
    url = break_it(teams, url) or url
    with pytest.raises(PermanentProviderError, match=code):
        _adapter(url).send_batch([_card()])
    assert teams.messages() == []


def test_through_the_pipeline_a_deleted_flow_disables_the_channel_and_fails_its_delivery(teams, channel):
    teams.delete(channel.credentials["url"])
    send = SendFactory(status=Send.Status.SENDING, audience_ready=True, content={"teams": card_message([])})
    delivery = DeliveryFactory(send=send, channel=channel, subscriber=None, recipient="")

    delivery_batch_send(channel_id=channel.pk, delivery_ids=[delivery.pk])

    channel.refresh_from_db()
    delivery.refresh_from_db()
    assert not channel.is_active and "WorkflowNotFound" in channel.disabled_reason
    assert delivery.state == Delivery.State.FAILED and "sig" not in delivery.last_error


def test_throttling_waits_for_retry_after_and_the_rest_of_the_chunk_waits_too(teams):
    teams.configure(fail_next={"status": 429, "retry_after": 7})
    results = _adapter(teams.flow_url()).send_batch([_card(1), _card(2)])
    assert [(r.ok, r.permanent, r.retry_after) for r in results] == [(False, False, 7.0), (False, False, 7.0)]
    assert "WorkflowRequestsThrottled" in results[0].error
    assert teams.stats()["requests"] == {"invoke": 1}, "no call after the 429"


def test_a_gateway_error_page_is_transient_and_its_html_is_not_kept(teams):
    teams.configure(fail_next={"status": 502})
    [result] = _adapter(teams.flow_url()).send_batch([_card()])
    assert (result.ok, result.permanent) == (False, False)
    assert result.error.startswith("HTTP 502") and "<html" not in result.error


def test_a_message_the_flow_refuses_fails_alone_and_the_channel_keeps_working(teams):
    adapter = _adapter(teams.flow_url())
    refused, fine = adapter.send_batch([RenderedMessage(1, payload={"text": "not a card"}), _card(2)])
    assert (refused.ok, refused.permanent) == (False, True) and "TriggerInputSchemaMismatch" in refused.error
    assert fine.ok


def test_the_shared_limit_follows_the_webhook_and_keeps_teams_windows(teams, channel):
    teams.configure(rate_limit="4/1")
    other = ChannelFactory(kind="teams", audience="broadcast", credentials=dict(channel.credentials))
    limiter = ChannelLimiter.for_channel(channel, adapter_for(channel))
    assert limiter.key == ChannelLimiter.for_channel(other, adapter_for(other)).key
    sends = [SendFactory(status=Send.Status.SENDING, audience_ready=True) for _ in range(6)]
    for send in sends:
        Send.objects.filter(pk=send.pk).update(content={"teams": card_message([plain_text(f"#{send.pk}")])})
    ids = [DeliveryFactory(send=s, channel=channel, subscriber=None, recipient="").pk for s in sends]

    outcome = delivery_batch_send(channel_id=channel.pk, delivery_ids=ids)

    assert outcome.sent == 6 and teams.stats()["throttled"] == 0
    assert teams.stats()["messages_posted"] == 6


def test_the_api_creates_a_teams_channel_from_its_declaration_and_refuses_the_rest(client_for, teams):
    client = client_for(Role.ADMIN)
    url = teams.flow_url()
    refused = [
        ({"credentials": {}}, "url"),
        ({"credentials": {"url": url}, "config": {"channel": "C1"}}, "channel"),
        ({"credentials": {"url": url}, "audience": "subscribers"}, "audience"),
        ({"credentials": {"url": "https://contoso.webhook.office.com/webhookb2/x"}}, "url"),
    ]
    for payload, field in refused:
        response = client.post(
            "/api/v1/publishing/channels", {"name": "Ops", "kind": "teams", **payload}, format="json"
        )
        assert response.status_code == 400 and field in response.json()["extra"]["fields"], response.json()
    assert not Channel.objects.exists()
    created = client.post(
        "/api/v1/publishing/channels", {"name": "Ops", "kind": "teams", "credentials": {"url": url}}, format="json"
    )
    assert created.status_code == 201, created.json()
    assert created.json()["audience"] == "broadcast" and "credentials" not in created.json()


def test_a_channel_test_is_a_card_marked_as_a_test(teams, channel, make_user):
    editor = make_user(Role.EDITOR, first_name="Ada", last_name="Editor")
    [result] = channel_test_send(channel=channel, actor=editor)
    assert result.ok
    [run] = teams.messages()
    banner, text = (block["inlines"][0]["text"] for block in run["card"]["body"])
    assert banner.startswith("🧪 TEST · Test sent by Ada Editor") and channel.name in text


def test_the_emulator_answers_a_body_that_is_not_json_as_the_trigger_does(teams):
    response = requests.post(teams.flow_url(), data=b"{not json", timeout=5)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidRequestContent"
