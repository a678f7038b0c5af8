"""The SES v2 emulator driven by django-anymail's Amazon SES backend (boto3 underneath).

anymail reads AMAZON_SES_CLIENT_PARAMS from a `client_params` backend kwarg before the
ANYMAIL setting (anymail.utils.get_anymail_setting), so each test passes the emulator's
endpoint that way. Plain messages go out as SendEmail Raw content; messages with a
template_id as SendBulkEmail, one entry per "to" (anymail/backends/amazon_ses.py).
"""

from __future__ import annotations

import pytest
from anymail.exceptions import AnymailAPIError
from anymail.message import AnymailMessage
from botocore.exceptions import ClientError
from django.core.mail import get_connection

BACKEND = "anymail.backends.amazon_ses.EmailBackend"


@pytest.fixture
def connection(ses_emulator):
    client_params = {
        "endpoint_url": ses_emulator.endpoint_url,
        "region_name": "us-east-1",
        "aws_access_key_id": "x",
        "aws_secret_access_key": "x",
        "config": {"retries": {"total_max_attempts": 1}},
    }
    return get_connection(BACKEND, client_params=client_params)


def test_anymail_sends_a_plain_message_as_raw_send_email(connection, ses_emulator):
    message = AnymailMessage(
        subject="Weekly digest",
        body="Plain text",
        from_email="Bulletin <news@example.com>",
        to=["Ann <ann@example.com>"],
        bcc=["audit@example.com"],
        headers={"List-Unsubscribe": "<https://example.com/u/1>"},
        connection=connection,
    )
    message.attach_alternative("<p>Html</p>", "text/html")

    message.send()

    [stored] = ses_emulator.messages(to="ann@example.com")
    assert message.anymail_status.message_id == stored["message_id"]
    assert message.anymail_status.recipients["audit@example.com"].status == "queued"
    assert (stored["subject"], stored["text"], stored["html"]) == ("Weekly digest", "Plain text", "<p>Html</p>")
    assert {"Name": "List-Unsubscribe", "Value": "<https://example.com/u/1>"} in stored["headers"]
    assert ses_emulator.stats()["by_recipient"] == {"ann@example.com": 1, "audit@example.com": 1}


def test_anymail_sends_a_templated_message_as_bulk_with_merge_data_and_merge_headers(connection, ses_emulator):
    ses_emulator.create_template("digest", subject="{{greeting}}, {{name}}", html="<p>{{{body}}}</p>")
    message = AnymailMessage(
        from_email="news@example.com",
        to=["Ann <ann@example.com>", "bob@example.com"],
        template_id="digest",
        merge_global_data={"greeting": "Hello", "body": "<b>news</b>"},
        merge_data={"ann@example.com": {"name": "Ann"}, "bob@example.com": {"name": "Bob", "greeting": "Hej"}},
        merge_headers={
            "ann@example.com": {"List-Unsubscribe": "<https://example.com/u/ann>"},
            "bob@example.com": {"List-Unsubscribe": "<https://example.com/u/bob>"},
        },
        connection=connection,
    )

    message.send()

    assert ses_emulator.stats()["requests"] == {"SendBulkEmail": 1}
    ann, bob = (ses_emulator.messages(to=address)[0] for address in ("ann@example.com", "bob@example.com"))
    assert (ann["subject"], bob["subject"]) == ("Hello, Ann", "Hej, Bob")
    assert ann["html"] == "<p><b>news</b></p>"
    assert ann["headers"] == [{"Name": "List-Unsubscribe", "Value": "<https://example.com/u/ann>"}]
    assert bob["headers"] == [{"Name": "List-Unsubscribe", "Value": "<https://example.com/u/bob>"}]
    statuses = message.anymail_status.recipients
    assert statuses["ann@example.com"].message_id == ann["message_id"]
    assert {status.status for status in statuses.values()} == {"queued"}


def test_anymail_reports_a_rejected_bulk_recipient_as_failed_and_the_rest_as_queued(connection, ses_emulator):
    ses_emulator.create_template("t", subject="s", html="<p>h</p>")
    ses_emulator.configure(reject=["bob@example.com"])
    message = AnymailMessage(
        from_email="news@example.com", to=["ann@example.com", "bob@example.com"], template_id="t", connection=connection
    )
    message.merge_data = {}

    message.send()

    statuses = message.anymail_status.recipients
    assert (statuses["ann@example.com"].status, statuses["bob@example.com"].status) == ("queued", "failed")


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ({"status": 429}, "TooManyRequestsException"),
        ({"code": "LimitExceededException"}, "LimitExceededException"),
        ({"code": "SendingPausedException"}, "SendingPausedException"),
        ({"code": "AccountSuspendedException"}, "AccountSuspendedException"),
        ({"code": "MessageRejected"}, "MessageRejected"),
        ({"status": 503}, "ServiceUnavailable"),
    ],
)
def test_anymail_raises_an_api_error_that_carries_the_botocore_error_code(connection, ses_emulator, fault, code):
    ses_emulator.configure(fail_next=fault)
    message = AnymailMessage(subject="s", body="b", from_email="news@example.com", to=["a@example.com"])
    message.connection = connection

    with pytest.raises(AnymailAPIError) as excinfo:
        message.send()

    cause = excinfo.value.__cause__
    assert isinstance(cause, ClientError)
    assert cause.response["Error"]["Code"] == code
    assert ses_emulator.stats()["recipients_accepted"] == 0
