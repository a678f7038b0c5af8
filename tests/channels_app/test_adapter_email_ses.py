"""The email adapter on Amazon SES v2, through anymail and boto3, against the SES emulator."""

import pytest

from channels_app.adapters.base import (
    MessageTemplate,
    PermanentProviderError,
    ProviderPausedError,
    ProviderThrottledError,
    RenderedMessage,
    TransientProviderError,
)
from channels_app.adapters.email import EmailAdapter

TEMPLATE = MessageTemplate(
    key="t1",
    subject="Hello {{{name}}}",
    html="<p>Hi {{{name_html}}}, <a href='{{{link_0}}}'>read</a></p>",
    text="Hi {{{name}}}: {{{link_0}}}",
)


def _adapter(ses, **config):
    return EmailAdapter(
        config={
            "esp": "amazon_ses",
            "from_email": "News <news@example.com>",
            "endpoint_url": ses.endpoint_url,
            "region": "us-east-1",
            **config,
        },
        credentials={"aws_access_key_id": "AKIATEST", "aws_secret_access_key": "secret"},
    )


def _messages(n, start=0):
    return [
        RenderedMessage(
            delivery_id=i,
            recipient=f"r{i}@example.com",
            template=TEMPLATE,
            variables={"name": f"R<{i}>", "name_html": f"R&lt;{i}&gt;", "link_0": f"https://t.example/{i}"},
            headers={
                "List-Unsubscribe": f"<https://u.example/{i}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                "List-Id": '"News" <news.example.com>',
            },
        )
        for i in range(start, start + n)
    ]


def test_a_chunk_is_one_send_bulk_email_call_with_a_separate_message_per_recipient(ses_emulator):
    results = _adapter(ses_emulator).send_batch(_messages(50))
    assert all(r.ok for r in results) and len({r.provider_message_id for r in results}) == 50
    stats = ses_emulator.stats()
    assert stats["requests"] == {"SendBulkEmail": 1}
    assert stats["unique_recipients"] == 50 and not stats["duplicates"]
    [message] = ses_emulator.messages(to="r7@example.com")
    assert message["to"] == ["r7@example.com"], "never several subscribers in one To"
    assert message["subject"] == "Hello R<7>"
    assert "Hi R&lt;7&gt;" in message["html"] and "https://t.example/7" in message["text"]
    headers = (
        {k.lower(): v for k, v in message["headers"].items()}
        if isinstance(message["headers"], dict)
        else {h["Name"].lower(): h["Value"] for h in message["headers"]}
    )
    assert headers["list-unsubscribe"] == "<https://u.example/7>"
    assert headers["list-unsubscribe-post"] == "List-Unsubscribe=One-Click"
    assert headers["list-id"] == '"News" <news.example.com>'  # per message: each topic is its own list


def test_one_rejected_address_fails_alone(ses_emulator):
    ses_emulator.configure(reject=["r3@example.com"])
    results = _adapter(ses_emulator).send_batch(_messages(5))
    assert [r.ok for r in results] == [True, True, True, False, True]
    assert results[3].permanent and "MESSAGE_REJECTED" in results[3].error


def test_throttling_is_a_throttled_transient_error_with_the_providers_retry_after(ses_emulator):
    ses_emulator.configure(fail_next={"count": 1, "status": 429, "code": "TooManyRequestsException", "retry_after": 7})
    with pytest.raises(ProviderThrottledError) as caught:
        _adapter(ses_emulator).send_batch(_messages(3))
    assert caught.value.retry_after == 7
    assert ses_emulator.stats()["requests"] == {"SendBulkEmail": 1}, "botocore did not retry on its own"


@pytest.mark.parametrize("status,code", [(500, "InternalFailure"), (503, "ServiceUnavailable")])
def test_server_errors_are_transient_and_not_retried_by_botocore(ses_emulator, status, code):
    ses_emulator.configure(fail_next={"count": 1, "status": status, "code": code})
    with pytest.raises(TransientProviderError):
        _adapter(ses_emulator).send_batch(_messages(2))
    assert sum(ses_emulator.stats()["requests"].values()) == 1


@pytest.mark.parametrize("code", ["LimitExceededException", "SendingPausedException", "AccountSuspendedException"])
def test_a_paused_or_over_quota_account_stops_the_channel(ses_emulator, code):
    ses_emulator.configure(fail_next={"count": 1, "status": 400, "code": code})
    with pytest.raises(ProviderPausedError):
        _adapter(ses_emulator).send_batch(_messages(2))


def test_bad_credentials_or_unverified_domains_are_permanent_for_the_channel(ses_emulator):
    ses_emulator.configure(fail_next={"count": 1, "status": 400, "code": "MailFromDomainNotVerifiedException"})
    with pytest.raises(PermanentProviderError):
        _adapter(ses_emulator).send_batch(_messages(1))


def test_a_message_rejected_for_the_whole_call_fails_each_message_permanently(ses_emulator):
    ses_emulator.configure(fail_next={"count": 1, "status": 400, "code": "MessageRejected", "message": "bad content"})
    results = _adapter(ses_emulator).send_batch(_messages(2))
    assert [r.permanent for r in results] == [True, True]
    assert "bad content" in results[0].error


def test_a_provider_that_hangs_times_out_as_transient(ses_emulator):
    ses_emulator.configure(hang_seconds=3)
    with pytest.raises(TransientProviderError, match="unreachable"):
        _adapter(ses_emulator, timeout_seconds=1).send_batch(_messages(1))


def test_the_boto3_client_is_built_once_and_reused(ses_emulator):
    adapter = _adapter(ses_emulator)
    adapter.send_batch(_messages(2))
    client = adapter.backend.client
    adapter.send_batch(_messages(2, start=2))
    assert adapter.backend.client is client
    assert ses_emulator.stats()["unique_recipients"] == 4


def test_chunks_never_exceed_the_rate_per_second():
    adapter = EmailAdapter(config={"esp": "amazon_ses", "from_email": "a@b.co"}, credentials={})
    assert adapter.effective_chunk_size(14) == 14
    assert adapter.effective_chunk_size(500) == 50
