"""The email adapter on Postmark, SendGrid, Mailgun and Brevo, through anymail's real backends,
against emulators of their send APIs (tests/emulators/esps.py), pointed there by `api_url`."""

from __future__ import annotations

import pytest

from channels_app.adapters.base import MessageTemplate, PermanentProviderError, RenderedMessage, TransientProviderError
from channels_app.adapters.email import EmailAdapter

ESPS = ["postmark", "sendgrid", "mailgun", "brevo"]
TEMPLATE = MessageTemplate(
    key="t1",
    subject="Hello {{{name}}}",
    html="<p>Hi {{{name_html}}}, <a href='{{{link_0}}}'>read</a></p>",
    text="Hi {{{name}}}: {{{link_0}}}",
)


@pytest.fixture(params=ESPS)
def esp(request):
    return request.param, request.getfixturevalue(f"{request.param}_emulator")


def _adapter(emulator, **credentials) -> EmailAdapter:
    config, creds = emulator.channel_settings()
    return EmailAdapter(config=config, credentials={**creds, **credentials})


def _messages(n: int) -> list[RenderedMessage]:
    return [
        RenderedMessage(
            delivery_id=i,
            recipient=f"r{i}@example.com",
            template=TEMPLATE,
            variables={"name": f"R<{i}>", "name_html": f"R&lt;{i}&gt;", "link_0": f"https://t.example/{i}"},
            headers={
                "List-Unsubscribe": f"<https://u.example/{i}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                "List-Id": "News <news.lists.example.com>",
            },
        )
        for i in range(n)
    ]


def test_each_message_goes_out_alone_with_its_headers_and_the_esps_message_id(esp):
    name, emulator = esp
    results = _adapter(emulator).send_batch(_messages(3))
    assert [r.ok for r in results] == [True, True, True]
    sent = emulator.messages()
    assert len(sent) == 3 and emulator.stats()["requests"] and sum(emulator.stats()["requests"].values()) == 3
    assert [r.provider_message_id for r in results] == [m["message_id"] for m in sent]
    assert len({r.provider_message_id for r in results}) == 3
    [one] = emulator.messages(to="r1@example.com")
    assert one["subject"] == "Hello R<1>"
    assert "Hi R&lt;1&gt;" in one["html"] and "https://t.example/1" in one["text"]
    headers = {k.lower(): v for k, v in one["headers"].items()}
    assert headers["list-unsubscribe"] == "<https://u.example/1>"
    assert headers["list-unsubscribe-post"] == "List-Unsubscribe=One-Click"
    assert headers["list-id"] == "News <news.lists.example.com>"


def test_webhook_secrets_never_reach_the_esp(esp):
    name, emulator = esp
    adapter = _adapter(emulator, webhook_secret="hook:pass", webhook_signing_key="k", webhook_verification_key="v")
    [result] = adapter.send_batch(_messages(1))
    assert result.ok, result.error


def test_a_refused_credential_fails_the_message_permanently(esp):
    name, emulator = esp
    key = "server_token" if name == "postmark" else "api_key"
    [result] = _adapter(emulator, **{key: "wrong"}).send_batch(_messages(1))
    assert not result.ok and result.permanent
    assert "401" in result.error or "orbidden" in result.error or "invalid" in result.error.lower()


def test_throttling_and_server_errors_are_transient(esp):
    name, emulator = esp
    emulator.configure(fail_next=[{"status": 429, "retry_after": 2}, {"status": 503}])
    results = _adapter(emulator).send_batch(_messages(2))
    assert [r.ok for r in results] == [False, False]
    assert not any(r.permanent for r in results)
    assert emulator.messages() == []


def test_an_inactive_postmark_recipient_fails_alone_and_permanently(postmark_emulator):
    postmark_emulator.configure(inactive=["r1@example.com"])
    results = _adapter(postmark_emulator).send_batch(_messages(3))
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].permanent
    assert [m["to"] for m in postmark_emulator.messages()] == ["r0@example.com", "r2@example.com"]


def test_a_mailgun_domain_the_account_does_not_have_is_a_permanent_failure(mailgun_emulator):
    config, credentials = mailgun_emulator.channel_settings(from_email="news@elsewhere.example.com")
    [result] = EmailAdapter(config=config, credentials=credentials).send_batch(_messages(1))
    assert not result.ok and result.permanent and "Domain not found" in result.error


@pytest.mark.parametrize("retired", ["sparkpost", "mailjet", "resend", "postal", "mailersend"])
def test_a_channel_still_naming_a_retired_esp_stops_with_a_clear_reason(retired):
    adapter = EmailAdapter(config={"esp": retired, "from_email": "n@example.com"}, credentials={"api_key": "k"})
    with pytest.raises(PermanentProviderError, match="not an email provider Bulletin offers"):
        adapter.send_batch(_messages(1))


def test_an_unreachable_esp_is_transient(postmark_emulator):
    config, credentials = postmark_emulator.channel_settings()
    postmark_emulator.configure(down="close")
    try:
        results = EmailAdapter(config=config, credentials=credentials).send_batch(_messages(1))
    except TransientProviderError:
        return
    assert not results[0].ok and not results[0].permanent
