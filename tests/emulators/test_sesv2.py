"""The SES v2 emulator driven by the real boto3 `sesv2` client."""

from __future__ import annotations

import json
import threading
import time
from email.message import EmailMessage

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from tests.emulators.sesv2 import SESv2Emulator

SENDER = "Bulletin <news@example.com>"
SIMPLE = {
    "Simple": {"Subject": {"Data": "Hello"}, "Body": {"Text": {"Data": "Plain"}, "Html": {"Data": "<p>Html</p>"}}}
}


def ses_client(emulator: SESv2Emulator, **config: object):
    return boto3.client(
        "sesv2",
        endpoint_url=emulator.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(**{"retries": {"total_max_attempts": 1}, **config}),
    )


@pytest.fixture
def ses(ses_emulator):
    return ses_client(ses_emulator)


def send(client, *to: str, **extra):
    return client.send_email(FromEmailAddress=SENDER, Destination={"ToAddresses": list(to)}, Content=SIMPLE, **extra)


def entry(address: str, data: dict | None = None, headers: list | None = None) -> dict:
    result: dict = {"Destination": {"ToAddresses": [address]}}
    if data is not None:
        result["ReplacementEmailContent"] = {"ReplacementTemplate": {"ReplacementTemplateData": json.dumps(data)}}
    if headers is not None:
        result["ReplacementHeaders"] = headers
    return result


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_send_email_with_simple_content_is_stored_under_its_message_id(ses, ses_emulator):
    message_id = send(ses, "Ann <ann@example.com>", EmailTags=[{"Name": "kind", "Value": "alert"}])["MessageId"]

    [message] = ses_emulator.messages(to="ann@example.com")
    assert message["message_id"] == message_id
    assert (message["from"], message["to"]) == (SENDER, ["Ann <ann@example.com>"])
    assert (message["subject"], message["text"], message["html"]) == ("Hello", "Plain", "<p>Html</p>")
    assert message["tags"] == [{"Name": "kind", "Value": "alert"}]


def test_send_email_with_raw_content_takes_subject_parts_and_recipients_from_the_mime(ses, ses_emulator):
    mime = EmailMessage()
    mime["From"], mime["To"], mime["Cc"], mime["Subject"] = SENDER, "ann@example.com", "bob@example.com", "Raw news"
    mime["X-Campaign"] = "c-1"
    mime.set_content("Plain body\n")
    mime.add_alternative("<p>Html body</p>\n", subtype="html")

    ses.send_email(Content={"Raw": {"Data": mime.as_bytes()}})

    [message] = ses_emulator.messages(to="bob@example.com")
    assert (message["from"], message["to"], message["cc"]) == (SENDER, ["ann@example.com"], ["bob@example.com"])
    assert (message["subject"], message["text"], message["html"]) == ("Raw news", "Plain body\n", "<p>Html body</p>\n")
    assert {"Name": "X-Campaign", "Value": "c-1"} in message["headers"]


def test_send_email_with_a_stored_template_escapes_double_and_keeps_triple_braces_raw(ses, ses_emulator):
    ses.create_email_template(
        TemplateName="welcome",
        TemplateContent={"Subject": "Hi {{name}}", "Html": "<p>{{name}} {{{badge}}}</p>", "Text": "{{user.city}}"},
    )
    data = {"name": "Ann & <Bob>", "badge": "<b>gold</b>", "user": {"city": "Oslo"}}

    ses.send_email(
        FromEmailAddress=SENDER,
        Destination={"ToAddresses": ["ann@example.com"]},
        Content={"Template": {"TemplateName": "welcome", "TemplateData": json.dumps(data)}},
    )

    [message] = ses_emulator.messages()
    assert message["subject"] == "Hi Ann &amp; &lt;Bob&gt;"
    assert message["html"] == "<p>Ann &amp; &lt;Bob&gt; <b>gold</b></p>"
    assert message["text"] == "Oslo"


def test_send_email_with_inline_template_content_renders_missing_variables_empty(ses, ses_emulator):
    content = {"Subject": "[{{missing}}] {{quote}}", "Text": "x={{a.b.c}}."}
    template = {"TemplateContent": content, "TemplateData": json.dumps({"quote": 'it\'s "=" `x`'})}

    ses.send_email(
        FromEmailAddress=SENDER, Destination={"ToAddresses": ["a@example.com"]}, Content={"Template": template}
    )

    [message] = ses_emulator.messages()
    assert message["subject"] == "[] it&#x27;s &quot;&#x3D;&quot; &#x60;x&#x60;"
    assert (message["text"], message["html"]) == ("x=.", None)


def test_every_accepted_message_gets_a_unique_message_id(ses):
    ids = {send(ses, f"r{n}@example.com")["MessageId"] for n in range(20)}
    assert len(ids) == 20


def test_stats_count_every_recipient_and_list_those_accepted_more_than_once(ses, ses_emulator):
    send(ses, "Ann <ANN@example.com>", "bob@example.com")
    send(ses, "ann@example.com")

    stats = ses_emulator.stats()
    assert stats["by_recipient"] == {"ann@example.com": 2, "bob@example.com": 1}
    assert stats["duplicates"] == {"ann@example.com": 2}
    assert (stats["messages_accepted"], stats["recipients_accepted"], stats["unique_recipients"]) == (2, 3, 2)
    assert stats["requests"] == {"SendEmail": 2}


def test_send_bulk_email_renders_each_entry_with_its_data_over_the_defaults(ses, ses_emulator):
    ses.create_email_template(
        TemplateName="digest", TemplateContent={"Subject": "{{greeting}} {{name}}", "Html": "<p>{{name}}</p>"}
    )

    response = ses.send_bulk_email(
        FromEmailAddress=SENDER,
        DefaultContent={
            "Template": {
                "TemplateName": "digest",
                "TemplateData": json.dumps({"greeting": "Hello", "name": "reader"}),
                "Headers": [{"Name": "List-Id", "Value": "news"}, {"Name": "X-Who", "Value": "default"}],
            }
        },
        BulkEmailEntries=[
            entry("ann@example.com", {"name": "Ann"}, [{"Name": "x-who", "Value": "ann"}]),
            entry("bob@example.com", {"greeting": "Hej", "name": "Bob"}),
            entry("cat@example.com"),
        ],
    )

    results = response["BulkEmailEntryResults"]
    assert [result["Status"] for result in results] == ["SUCCESS"] * 3
    subjects = {m["to"][0]: m["subject"] for m in ses_emulator.messages()}
    assert subjects == {"ann@example.com": "Hello Ann", "bob@example.com": "Hej Bob", "cat@example.com": "Hello reader"}
    [ann] = ses_emulator.messages(to="ann@example.com")
    assert ann["message_id"] == results[0]["MessageId"]
    assert ann["headers"] == [{"Name": "List-Id", "Value": "news"}, {"Name": "x-who", "Value": "ann"}]


def test_send_bulk_email_with_more_than_50_entries_is_a_bad_request(ses, ses_emulator):
    entries = [entry(f"r{n}@example.com") for n in range(51)]
    template = {"TemplateContent": {"Subject": "s", "Text": "t"}}

    with pytest.raises(ClientError) as excinfo:
        ses.send_bulk_email(FromEmailAddress=SENDER, DefaultContent={"Template": template}, BulkEmailEntries=entries)

    assert error_of(excinfo) == ("BadRequestException", 400)
    assert ses_emulator.stats()["recipients_accepted"] == 0


def test_send_bulk_email_rejects_only_the_entries_of_rejected_recipients_in_order(ses, ses_emulator):
    ses_emulator.configure(reject=["bob@example.com"])
    template = {"TemplateContent": {"Subject": "s", "Text": "t"}}

    response = ses.send_bulk_email(
        FromEmailAddress=SENDER,
        DefaultContent={"Template": template},
        BulkEmailEntries=[entry("ann@example.com"), entry("Bob <bob@example.com>"), entry("cat@example.com")],
    )

    statuses = [result["Status"] for result in response["BulkEmailEntryResults"]]
    assert statuses == ["SUCCESS", "MESSAGE_REJECTED", "SUCCESS"]
    assert "bob@example.com" in response["BulkEmailEntryResults"][1]["Error"]
    assert ses_emulator.stats()["by_recipient"] == {"ann@example.com": 1, "cat@example.com": 1}


def test_send_bulk_email_with_an_unknown_stored_template_fails_every_entry(ses):
    response = ses.send_bulk_email(
        FromEmailAddress=SENDER,
        DefaultContent={"Template": {"TemplateName": "nope"}},
        BulkEmailEntries=[entry("a@example.com")],
    )
    assert response["BulkEmailEntryResults"][0]["Status"] == "TEMPLATE_NOT_FOUND"


def test_send_email_to_a_rejected_recipient_raises_message_rejected(ses, ses_emulator):
    ses_emulator.configure(reject=["ann@example.com"])

    with pytest.raises(ClientError) as excinfo:
        send(ses, "bob@example.com", "ann@example.com")

    assert error_of(excinfo) == ("MessageRejected", 400)
    assert ses_emulator.stats()["recipients_rejected"] == 1


def test_send_email_to_more_than_50_recipients_is_a_bad_request(ses):
    with pytest.raises(ClientError) as excinfo:
        send(ses, *[f"r{n}@example.com" for n in range(51)])
    assert error_of(excinfo) == ("BadRequestException", 400)


def test_email_templates_can_be_created_read_updated_listed_and_deleted(ses):
    for name in ("b", "a", "c"):
        ses.create_email_template(TemplateName=name, TemplateContent={"Subject": name})
    ses.update_email_template(TemplateName="a", TemplateContent={"Subject": "A2", "Html": "<p/>"})

    assert ses.get_email_template(TemplateName="a")["TemplateContent"] == {"Subject": "A2", "Html": "<p/>"}
    first = ses.list_email_templates(PageSize=2)
    assert [t["TemplateName"] for t in first["TemplatesMetadata"]] == ["a", "b"]
    rest = ses.list_email_templates(PageSize=2, NextToken=first["NextToken"])
    assert [t["TemplateName"] for t in rest["TemplatesMetadata"]] == ["c"] and "NextToken" not in rest
    ses.delete_email_template(TemplateName="a")
    with pytest.raises(ClientError) as excinfo:
        ses.get_email_template(TemplateName="a")
    assert error_of(excinfo) == ("NotFoundException", 404)
    with pytest.raises(ClientError) as excinfo:
        ses.create_email_template(TemplateName="b", TemplateContent={"Subject": "again"})
    assert error_of(excinfo) == ("AlreadyExistsException", 400)


def test_get_account_reports_the_send_quota_and_what_was_sent(ses, ses_emulator):
    ses_emulator.configure(rate_per_second=40, max_24_hour_send=1000)
    send(ses, "a@example.com", "b@example.com")

    quota = ses.get_account()["SendQuota"]

    assert quota == {"Max24HourSend": 1000.0, "MaxSendRate": 40.0, "SentLast24Hours": 2.0}


def test_require_verified_sender_rejects_an_unverified_from_until_its_domain_is_an_identity(ses, ses_emulator):
    ses_emulator.configure(require_verified_sender=True)
    with pytest.raises(ClientError) as excinfo:
        send(ses, "a@example.com")
    assert error_of(excinfo) == ("MessageRejected", 400)
    assert "Email address is not verified" in excinfo.value.response["Error"]["Message"]

    ses.create_email_identity(EmailIdentity="example.com")
    send(ses, "a@example.com")

    identity = ses.get_email_identity(EmailIdentity="example.com")
    assert (identity["IdentityType"], identity["VerifiedForSendingStatus"]) == ("DOMAIN", True)


def test_identities_stay_unverified_when_auto_verify_is_off(ses, ses_emulator):
    ses_emulator.configure(require_verified_sender=True, auto_verify_identities=False)
    ses.create_email_identity(EmailIdentity="news@example.com")

    with pytest.raises(ClientError):
        send(ses, "a@example.com")
    assert ses.get_email_identity(EmailIdentity="news@example.com")["VerificationStatus"] == "PENDING"


def test_sending_faster_than_the_rate_is_throttled_with_too_many_requests(ses, ses_emulator):
    ses_emulator.configure(rate_per_second=3)
    send(ses, "a@example.com", "b@example.com", "c@example.com")

    with pytest.raises(ClientError) as excinfo:
        send(ses, "d@example.com")

    assert error_of(excinfo) == ("TooManyRequestsException", 429)
    assert excinfo.value.response["Error"]["Message"] == "Maximum sending rate exceeded."
    time.sleep(0.4)  # a token is back after 1/3 s
    send(ses, "d@example.com")


def test_the_daily_quota_is_enforced_with_limit_exceeded(ses, ses_emulator):
    ses_emulator.configure(max_24_hour_send=2)
    send(ses, "a@example.com", "b@example.com")

    with pytest.raises(ClientError) as excinfo:
        send(ses, "c@example.com")

    assert error_of(excinfo) == ("LimitExceededException", 400)


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ({"status": 500}, ("InternalFailure", 500)),
        ({"status": 503}, ("ServiceUnavailable", 503)),
        ({"status": 429}, ("TooManyRequestsException", 429)),
        ({"code": "LimitExceededException"}, ("LimitExceededException", 400)),
        ({"code": "SendingPausedException"}, ("SendingPausedException", 400)),
        ({"code": "AccountSuspendedException"}, ("AccountSuspendedException", 400)),
        ({"code": "BadRequestException"}, ("BadRequestException", 400)),
        ({"code": "MessageRejected"}, ("MessageRejected", 400)),
    ],
)
def test_an_injected_fault_reaches_boto3_as_a_client_error_with_its_code_and_status(ses, ses_emulator, fault, expected):
    ses_emulator.configure(fail_next=fault)

    with pytest.raises(ClientError) as excinfo:
        send(ses, "a@example.com")

    assert error_of(excinfo) == expected
    assert ses_emulator.stats()["errors"] == {expected[0]: 1}
    send(ses, "a@example.com")  # only the next request fails


def test_an_injected_429_can_carry_retry_after(ses, ses_emulator):
    ses_emulator.configure(fail_next={"status": 429, "retry_after": 7})

    with pytest.raises(ClientError) as excinfo:
        send(ses, "a@example.com")

    assert excinfo.value.response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "7"


def test_boto3_retries_injected_5xx_by_itself_so_fail_next_pins_the_attempts(ses_emulator):
    retrying = ses_client(ses_emulator, retries={"mode": "standard", "total_max_attempts": 3})
    ses_emulator.configure(fail_next={"status": 503, "count": 2})

    send(retrying, "a@example.com")

    stats = ses_emulator.stats()
    assert stats["requests"] == {"SendEmail": 3}
    assert (stats["faults_injected"], stats["recipients_accepted"]) == (2, 1)


def test_a_hanging_request_makes_the_client_time_out(ses_emulator):
    impatient = ses_client(ses_emulator, read_timeout=0.2)
    ses_emulator.configure(fail_next={"hang_seconds": 1})

    with pytest.raises(ReadTimeoutError):
        send(impatient, "a@example.com")
    send(impatient, "a@example.com")


def test_down_mode_answers_503_or_closes_the_connection(ses, ses_emulator):
    ses_emulator.configure(down=True)
    with pytest.raises(ClientError) as excinfo:
        send(ses, "a@example.com")
    assert error_of(excinfo) == ("ServiceUnavailable", 503)

    ses_emulator.configure(down="close")
    with pytest.raises(ConnectionClosedError):
        send(ses, "a@example.com")

    ses_emulator.configure(down=False)
    send(ses, "a@example.com")


def test_without_store_messages_only_counts_are_kept():
    with SESv2Emulator(store_messages=False) as emulator:
        client = ses_client(emulator)
        send(client, "a@example.com")
        raw = b"From: news@example.com\r\nTo: b@example.com\r\nSubject: s\r\n\r\nbody"
        client.send_email(Content={"Raw": {"Data": raw}})

        assert emulator.messages() == []
        assert emulator.stats()["by_recipient"] == {"a@example.com": 1, "b@example.com": 1}


def test_latency_delays_each_request_without_serializing_concurrent_ones(ses_emulator):
    ses_emulator.configure(latency_ms=300)
    clients = [ses_client(ses_emulator) for _ in range(8)]
    threads = [threading.Thread(target=send, args=(client, f"r{n}@example.com")) for n, client in enumerate(clients)]

    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started

    assert 0.3 <= elapsed < 1.2  # serialized, 8 x 300 ms would be 2.4 s
    assert ses_emulator.stats()["recipients_accepted"] == 8
