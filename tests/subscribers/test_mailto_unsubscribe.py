"""The mailto form of List-Unsubscribe works end to end: the address a sent email carries, mailed
back through an ESP's inbound webhook (posted in that ESP's own format, as anymail's own tests
post them), unsubscribes what the email stood for by the time the webhook answers. A forged
token or a forged post unsubscribes nobody."""

from __future__ import annotations

import email
import hashlib
import hmac
import json
import re
import time
import uuid
from email import policy

import pytest
from django.test import Client

from analytics.models import ProviderNotification
from core.roles import Role
from publishing.models import Publication
from publishing.services.publish import publication_publish
from subscribers.models import ConsentRecord, Subscription
from tests.analytics.sns_signing import TOPIC_ARN, SnsSigner
from tests.factories import ChannelFactory, PublicationFactory, SubscriberFactory, SubscriptionFactory, TopicFactory

pytestmark = pytest.mark.django_db

MAILTO = "unsubscribe@unsub.example.com"
MAILGUN_KEY = "key-mailgun-signing-0123456789"


@pytest.fixture
def inbound(settings, tmp_path):
    settings.LIST_UNSUBSCRIBE_MAILTO = MAILTO
    settings.BULLETIN_OUTBOX_DIR = tmp_path / "outbox"
    settings.ANYMAIL = {**settings.ANYMAIL, "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY, "BREVO_API_KEY": "xkeysib-1"}
    signer = SnsSigner(tmp_path)
    settings.SNS_CERTIFICATE_FILE = str(signer.cert_file)
    settings.SNS_TOPIC_ARNS = [TOPIC_ARN]
    return signer


@pytest.fixture
def sent(inbound, settings, tmp_path, make_user, django_capture_on_commit_callbacks):
    """Publish an alert of News to Ada (News and Product by email, News by Slack) through the real
    pipeline; returns Ada and the unsubscribe address the email carried."""
    ChannelFactory(kind="email", is_default=True, config={"esp": "outbox", "from_email": "news@example.com"})
    news, product = TopicFactory(slug="news", name="News"), TopicFactory(slug="product", name="Product")
    ada = SubscriberFactory(email="ada@example.com", slack_member_id="U0ADA0001")
    for topic, kind in ((news, "email"), (product, "email"), (news, "slack")):
        SubscriptionFactory(subscriber=ada, topic=topic, channel_kind=kind)
    alert = PublicationFactory(topics=[news], priority=Publication.Priority.ALERT, title="Outage")
    with django_capture_on_commit_callbacks(execute=True):
        publication_publish(publication=alert, actor=make_user(Role.PUBLISHER))
    [eml] = sorted((tmp_path / "outbox").glob("*.eml"))
    message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    address = re.search(r"<mailto:([^?>]+)\?subject=unsubscribe>", message["List-Unsubscribe"]).group(1)
    return ada, address


def email_settings(subscriber) -> dict[tuple[str, str], str]:
    rows = Subscription.objects.filter(subscriber=subscriber).values_list("topic__slug", "channel_kind", "frequency")
    return {(topic, kind): frequency for topic, kind, frequency in rows}


def assert_news_by_email_stopped(subscriber):
    assert email_settings(subscriber) == {
        ("news", "email"): "off",
        ("product", "email"): "instant",
        ("news", "slack"): "instant",
    }
    record = subscriber.consent_records.get(action=ConsentRecord.Action.UNSUBSCRIBED)
    assert record.method == "mailto" and record.source == "topic:news/email"


def mime(to: str, sender: str = "ada@example.com") -> str:
    return (
        f"From: Ada <{sender}>\r\nTo: {to}\r\nSubject: unsubscribe\r\nMessage-ID: <{uuid.uuid4()}@example.com>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nunsubscribe\r\n"
    )


# --- Each ESP's inbound format ----------------------------------------------------------------


def post_ses(client, signer, to: str, *, sign=True):
    """SES receipt rule with an SNS action: the raw mail inside a signed SNS notification."""
    ses_event = {
        "notificationType": "Received",
        "mail": {
            "timestamp": "2026-01-15T08:00:00.000Z",
            "source": "ada@example.com",
            "messageId": uuid.uuid4().hex,
            "destination": [to],
        },
        "receipt": {
            "recipients": [to],
            "spamVerdict": {"status": "PASS"},
            "action": {"type": "SNS", "topicArn": TOPIC_ARN, "encoding": "UTF8"},
        },
        "content": mime(to),
    }
    message = signer.notification(ses_event, Subject="Amazon SES Email Receipt Notification")
    if not sign:
        message["Signature"] = signer.notification({"other": True})["Signature"]
    return client.post(
        "/anymail/amazon_ses/inbound/",
        data=json.dumps(message),
        content_type="text/plain; charset=UTF-8",
        HTTP_X_AMZ_SNS_MESSAGE_TYPE=message["Type"],
        HTTP_X_AMZ_SNS_MESSAGE_ID=message["MessageId"],
        HTTP_X_AMZ_SNS_TOPIC_ARN=message["TopicArn"],
    )


def post_postmark(client, to: str):
    mailbox_hash = to.split("@")[0].partition("+")[2]
    payload = {
        "FromFull": {"Email": "ada@example.com", "Name": "Ada", "MailboxHash": ""},
        "ToFull": [{"Email": to, "Name": "", "MailboxHash": mailbox_hash}],
        "CcFull": [],
        "BccFull": [],
        "OriginalRecipient": to,
        "Subject": "unsubscribe",
        "MessageID": str(uuid.uuid4()),
        "Date": "Thu, 15 Jan 2026 08:00:00 +0000",
        "TextBody": "unsubscribe",
        "HtmlBody": "",
        "StrippedTextReply": "",
        "Tag": "",
        "Headers": [{"Name": "Return-Path", "Value": "<ada@example.com>"}],
    }
    return client.post("/anymail/postmark/inbound/", data=json.dumps(payload), content_type="application/json")


def mailgun_signed(fields: dict, key: str = MAILGUN_KEY) -> dict:
    timestamp, token = str(int(time.time())), uuid.uuid4().hex
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {**fields, "timestamp": timestamp, "token": token, "signature": signature}


def post_mailgun(client, to: str, *, key: str = MAILGUN_KEY):
    """A Mailgun route's forward(): form fields, signed with the webhook signing key."""
    fields = {
        "recipient": to,
        "sender": "ada@example.com",
        "from": "Ada <ada@example.com>",
        "subject": "unsubscribe",
        "body-plain": "unsubscribe",
        "message-headers": json.dumps([["From", "Ada <ada@example.com>"], ["To", to], ["Subject", "unsubscribe"]]),
    }
    return client.post("/anymail/mailgun/inbound/", data=mailgun_signed(fields, key))


def post_brevo(client, to: str):
    item = {
        "Uuid": [str(uuid.uuid4())],
        "MessageId": f"<{uuid.uuid4()}@example.com>",
        "From": {"Name": "Ada", "Address": "ada@example.com"},
        "To": [{"Name": None, "Address": to}],
        "Subject": "unsubscribe",
        "Attachments": [],
        "Headers": {"From": "Ada <ada@example.com>", "To": to, "Subject": "unsubscribe"},
        "RawTextBody": "unsubscribe",
        "RawHtmlBody": "",
    }
    return client.post("/anymail/brevo/inbound/", data=json.dumps({"items": [item]}), content_type="application/json")


ESPS = {
    "amazon_ses": lambda client, signer, to: post_ses(client, signer, to),
    "postmark": lambda client, signer, to: post_postmark(client, to),
    "mailgun": lambda client, signer, to: post_mailgun(client, to),
    "brevo": lambda client, signer, to: post_brevo(client, to),
}


@pytest.mark.parametrize("esp", list(ESPS))
def test_mail_to_the_emitted_mailto_unsubscribes_what_the_email_stood_for_by_the_time_the_webhook_answers(
    sent, inbound, esp
):
    ada, address = sent
    assert address.startswith("unsubscribe+") and address.endswith("@unsub.example.com")
    response = ESPS[esp](Client(), inbound, address)
    assert response.status_code == 200
    assert_news_by_email_stopped(ada)  # no worker, no wait: done when the ESP gets its 200


def test_the_mailto_token_survives_a_mail_system_that_changes_its_case(sent, inbound):
    ada, address = sent
    assert post_postmark(Client(), address.upper()).status_code == 200
    assert_news_by_email_stopped(ada)


@pytest.mark.parametrize("esp", list(ESPS))
def test_a_forged_token_unsubscribes_nobody_and_is_still_acknowledged(sent, inbound, esp):
    ada, address = sent
    local, domain = address.split("@")
    ident, mac = local.split("+")[1].split("-")
    another_delivery = f"unsubscribe+{ident}0-{mac}@{domain}"  # the signature binds the delivery
    guessed = f"unsubscribe+{ident}-{'b' * 16}@{domain}"
    other_domain = f"{local}@evil.example.com"
    for to in (another_delivery, guessed, other_domain, f"unsubscribe@{domain}", "someone@example.com"):
        assert ESPS[esp](Client(), inbound, to).status_code == 200
    assert set(email_settings(ada).values()) == {"instant"}
    assert not ConsentRecord.objects.filter(action="unsubscribed").exists()


def test_an_sns_message_not_signed_by_sns_is_refused(sent, inbound):
    ada, address = sent
    assert post_ses(Client(), inbound, address, sign=False).status_code == 403
    assert set(email_settings(ada).values()) == {"instant"}


def test_a_mailgun_post_with_a_wrong_signature_is_refused(sent, inbound):
    ada, address = sent
    assert post_mailgun(Client(), address, key="not-the-key").status_code == 403
    assert set(email_settings(ada).values()) == {"instant"}


def test_the_ses_inbound_subscription_confirmation_is_stored_for_a_worker_to_confirm(inbound):
    confirmation = inbound.confirmation()
    response = Client().post(
        "/anymail/amazon_ses/inbound/",
        data=json.dumps(confirmation),
        content_type="text/plain; charset=UTF-8",
        HTTP_X_AMZ_SNS_MESSAGE_TYPE="SubscriptionConfirmation",
        HTTP_X_AMZ_SNS_MESSAGE_ID=confirmation["MessageId"],
    )
    assert response.status_code == 200
    assert ProviderNotification.objects.get().message_type == "SubscriptionConfirmation"


def test_an_esp_that_is_not_set_up_here_gets_a_400_not_a_500(sent, inbound, settings):
    _, address = sent
    settings.ANYMAIL = {k: v for k, v in settings.ANYMAIL.items() if k != "MAILGUN_WEBHOOK_SIGNING_KEY"}
    assert post_mailgun(Client(), address).status_code == 400
