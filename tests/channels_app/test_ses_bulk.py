"""The SendBulkEmail request Bulletin builds itself is the one anymail built: headers, tags,
configuration set, addresses and replacement data, field for field; and it reaches SES (the
emulator) signed, with SES's answers and errors classified as before."""

from __future__ import annotations

import pytest
from anymail.message import AnymailMessage
from django.core.mail import get_connection

from channels_app.adapters.base import (
    MessageTemplate,
    PermanentProviderError,
    ProviderPausedError,
    ProviderThrottledError,
    RenderedMessage,
)
from channels_app.adapters.email import EmailAdapter
from channels_app.adapters.ses_bulk import bulk_params

TEMPLATE = MessageTemplate(
    key="bulletin-send-7", subject="Hi {{{name}}}", html="<p>{{{name_html}}} ☕</p>", text="{{{name}}} ☕"
)
RECIPIENTS = ["ada@example.com", "bob@bücher.example", "Zoë <zoe@example.com>", "plain@xn--bcher-kva.example"]


def _messages() -> list[RenderedMessage]:
    return [
        RenderedMessage(
            delivery_id=i,
            recipient=address,
            template=TEMPLATE,
            variables={"name": f"Reader “{i}”", "name_html": f"Reader &ldquo;{i}&rdquo;", "link_0": f"https://t/{i}"},
            headers={
                "List-Unsubscribe": f"<https://u.example/{i}>, <mailto:u+{i}@example.com>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                "List-Id": '"News" <news.lists.example.com>',
            }
            if i != 2
            else {},
        )
        for i, address in enumerate(RECIPIENTS)
    ]


def _anymail_params(messages, *, from_email, reply_to, configuration_set):
    """What anymail 's SES backend put in the call (the code path Bulletin used before)."""
    backend = get_connection(
        "anymail.backends.amazon_ses.EmailBackend",
        client_params={"region_name": "us-east-1"},
        configuration_set_name=configuration_set or None,
    )
    bulk = AnymailMessage(to=[m.recipient for m in messages], from_email=from_email, reply_to=[reply_to])
    bulk.template_id = TEMPLATE.key
    bulk.merge_data = {_addr(m.recipient): dict(m.variables) for m in messages}
    bulk.merge_headers = {_addr(m.recipient): dict(m.headers) for m in messages if m.headers}
    bulk.esp_extra = {
        "DefaultContent": {
            "Template": {
                "TemplateContent": {"Subject": TEMPLATE.subject, "Html": TEMPLATE.html, "Text": TEMPLATE.text},
                "TemplateData": "{}",
            }
        }
    }
    payload = backend.build_message_payload(bulk, backend.send_defaults)
    payload.finalize_payload()
    return payload.params, backend.idna_encode


def _addr(recipient: str) -> str:
    return recipient.rsplit("<", 1)[-1].rstrip(">") if "<" in recipient else recipient


def test_the_request_is_field_for_field_what_anymail_built():
    messages = _messages()
    expected, idna_encode = _anymail_params(
        messages, from_email="Bülletin <news@example.com>", reply_to="desk@example.com", configuration_set="bulletin"
    )
    ours = bulk_params(
        from_email="Bülletin <news@example.com>",
        reply_to="desk@example.com",
        configuration_set="bulletin",
        template=TEMPLATE,
        messages=messages,
        idna_encode=idna_encode,
    )
    assert ours == expected
    assert ours["BulkEmailEntries"][1]["Destination"]["ToAddresses"] == ["bob@xn--bcher-kva.example"]
    assert ours["FromEmailAddress"].startswith("=?utf-8?")


def _adapter(ses, **config) -> EmailAdapter:
    return EmailAdapter(
        config={
            "esp": "amazon_ses",
            "from_email": "news@example.com",
            "endpoint_url": ses.endpoint_url,
            "region": "us-east-1",
            **config,
        },
        credentials={"aws_access_key_id": "AKIATEST", "aws_secret_access_key": "secret"},
    )


def test_a_chunk_reaches_ses_signed_and_each_recipient_gets_their_own_values(ses_emulator):
    results = _adapter(ses_emulator, configuration_set="bulletin").send_batch(_messages())
    assert [r.ok for r in results] == [True] * 4 and all(r.provider_message_id for r in results)
    [message] = ses_emulator.messages(to="ada@example.com")
    assert message["subject"] == "Hi Reader “0”"
    assert "news.lists.example.com" in str(message["headers"]), "per-recipient headers"
    assert ses_emulator.stats()["requests"] == {"SendBulkEmail": 1}


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"status": 429, "code": "TooManyRequestsException", "retry_after": 3}, ProviderThrottledError),
        ({"status": 400, "code": "SendingPausedException"}, ProviderPausedError),
        ({"status": 403, "code": "AccessDeniedException"}, PermanentProviderError),
    ],
)
def test_call_wide_errors_are_classified_as_before(ses_emulator, fault, error):
    ses_emulator.configure(fail_next=fault)
    with pytest.raises(error) as raised:
        _adapter(ses_emulator).send_batch(_messages())
    if fault.get("retry_after"):
        assert raised.value.retry_after == 3
