"""The tracking webhooks Postmark, SendGrid, Mailgun and Brevo post, for a message their emulator
(tests/emulators/esps.py) accepted: the payload in the ESP's documented format (fields as in
anymail's own tests, tests/test_<esp>_webhooks.py) and the authentication the ESP adds.

    post = webhook_post("mailgun", "hard_bounce", message, signing_key="key-...")
    client.post(url, post.body, content_type="application/json", **post.headers)

Kinds: delivered, hard_bounce, soft_bounce, complaint, open, click, unsubscribe, and rejected
(the ESP refused to send: SendGrid "dropped", Mailgun "rejected", Brevo "blocked"; Postmark
refuses at send time instead, answering the API call).
- Postmark: one JSON object per POST; basic auth from the webhook URL's userinfo.
  https://postmarkapp.com/developer/webhooks/bounce-webhook (and delivery, spam-complaint, open...)
- SendGrid: a JSON array of events; signed Event Webhook: ECDSA P-256/SHA-256 over timestamp +
  body, base64, in X-Twilio-Email-Event-Webhook-Signature / -Timestamp (and/or basic auth).
  https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event
- Mailgun: {"signature": {timestamp, token, signature}, "event-data": {...}}, signature =
  HMAC-SHA256(signing key, timestamp + token) hex. https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks
- Brevo: one JSON object per POST; basic auth from the webhook URL's userinfo.
  https://developers.brevo.com/docs/transactional-webhooks
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

KINDS = ("delivered", "hard_bounce", "soft_bounce", "complaint", "open", "click", "unsubscribe", "rejected")
UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Safari/605.1.15"
)
LINK = "https://example.com/article"


@dataclass(frozen=True)
class WebhookPost:
    body: str
    headers: dict[str, str] = field(default_factory=dict)  # Django test client's HTTP_* keywords


def basic_auth(secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(secret.encode()).decode()}


def postmark_event(kind: str, message: dict[str, Any]) -> dict[str, Any]:
    now, to, mid = datetime.now(UTC).isoformat(), message["to"], message["message_id"]
    common = {"ServerID": 23, "MessageStream": "outbound", "MessageID": mid, "Tag": "", "Metadata": {}}
    bounce = {"RecordType": "Bounce", "ID": secrets.randbelow(10**9), "Email": to, "From": "news@example.com"}
    return {
        "delivered": {"RecordType": "Delivery", "Recipient": to, "DeliveredAt": now, "Details": "smtp;250 2.0.0 OK"},
        "hard_bounce": {
            **bounce,
            "Type": "HardBounce",
            "TypeCode": 1,
            "Name": "Hard bounce",
            "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
            "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
            "BouncedAt": now,
            "Inactive": True,
        },
        "soft_bounce": {
            **bounce,
            "Type": "SoftBounce",
            "TypeCode": 4096,
            "Name": "Soft bounce/Undeliverable",
            "Description": "Unable to temporarily deliver this email.",
            "Details": "smtp;452 4.2.2 The email account that you tried to reach is over quota.",
            "BouncedAt": now,
            "Inactive": False,
        },
        "complaint": {
            **bounce,
            "RecordType": "SpamComplaint",
            "Type": "SpamComplaint",
            "TypeCode": 512,
            "Name": "Spam complaint",
            "Details": "",
            "BouncedAt": now,
        },
        "open": {"RecordType": "Open", "FirstOpen": True, "Recipient": to, "ReceivedAt": now, "UserAgent": UA},
        "click": {
            "RecordType": "Click",
            "Recipient": to,
            "ReceivedAt": now,
            "UserAgent": UA,
            "OriginalLink": LINK,
            "ClickLocation": "HTML",
        },
        "unsubscribe": {
            "RecordType": "SubscriptionChange",
            "Recipient": to,
            "ChangedAt": now,
            "Origin": "Recipient",
            "SuppressSending": True,
            "SuppressionReason": "ManualSuppression",
        },
    }[kind] | common


def sendgrid_event(kind: str, message: dict[str, Any]) -> dict[str, Any]:
    base = {
        "email": message["to"],
        "timestamp": int(time.time()),
        "smtp-id": f"<{message.get('sg_message_id', 'x')}@ismtpd0001p1.sendgrid.net>",
        "sg_event_id": base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("="),
        "sg_message_id": message.get("sg_message_id", ""),
        "anymail_id": message["message_id"],
    }
    return (
        base
        | {
            "delivered": {"event": "delivered", "response": "250 2.0.0 OK", "ip": "167.89.17.173", "tls": 1},
            "hard_bounce": {
                "event": "bounce",
                "type": "bounce",
                "status": "5.1.1",
                "reason": "550 5.1.1 The email account that you tried to reach does not exist.",
                "ip": "167.89.17.173",
                "tls": 1,
            },
            "soft_bounce": {
                "event": "bounce",
                "type": "blocked",
                "status": "4.7.1",
                "reason": "421 4.7.1 Temporarily rate limited due to IP reputation",
            },
            "complaint": {"event": "spamreport"},
            "open": {"event": "open", "useragent": UA, "ip": "203.0.113.9"},
            "click": {"event": "click", "useragent": UA, "url": LINK, "url_offset": {"index": 0, "type": "html"}},
            "unsubscribe": {"event": "unsubscribe"},
            "rejected": {"event": "dropped", "reason": "Bounced Address", "status": "5.0.0"},
        }[kind]
    )


def mailgun_event(kind: str, message: dict[str, Any]) -> dict[str, Any]:
    headers = {"to": message["to"], "message-id": message["message_id"].strip("<>"), "from": "news@example.com"}
    base = {
        "id": secrets.token_urlsafe(16),
        "timestamp": time.time(),
        "recipient": message["to"],
        "message": {"headers": headers},
        "user-variables": {},
        "tags": [],
    }
    status_550 = {
        "code": 550,
        "message": "5.1.1 The email account that you tried to reach does not exist.",
        "description": "",
        "attempt-no": 1,
    }
    status_452 = {"code": 452, "message": "4.2.2 Mailbox full", "description": "", "attempt-no": 1}
    return (
        base
        | {
            "delivered": {"event": "delivered", "log-level": "info", "delivery-status": {"code": 250, "message": "OK"}},
            "hard_bounce": {
                "event": "failed",
                "severity": "permanent",
                "reason": "bounce",
                "log-level": "error",
                "delivery-status": status_550,
            },
            "soft_bounce": {
                "event": "failed",
                "severity": "temporary",
                "reason": "generic",
                "log-level": "warn",
                "delivery-status": status_452,
            },
            "complaint": {"event": "complained", "log-level": "warn"},
            "open": {"event": "opened", "log-level": "info", "client-info": {"user-agent": UA}},
            "click": {"event": "clicked", "log-level": "info", "url": LINK, "client-info": {"user-agent": UA}},
            "unsubscribe": {"event": "unsubscribed", "log-level": "info"},
            "rejected": {
                "event": "rejected",
                "log-level": "warn",
                "reject": {"reason": "Sandbox subdomains are for test purposes only.", "description": ""},
            },
        }[kind]
    )


def brevo_event(kind: str, message: dict[str, Any]) -> dict[str, Any]:
    now = time.time()
    base = {
        "email": message["to"],
        "id": secrets.randbelow(10**6),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "ts": int(now),
        "ts_event": int(now),
        "ts_epoch": int(now * 1000),
        "message-id": message["message_id"],
        "subject": message.get("subject", ""),
        "tag": "",
        "sending_ip": "185.41.28.109",
    }
    return (
        base
        | {
            "delivered": {"event": "delivered"},
            "hard_bounce": {"event": "hard_bounce", "reason": " RecipientError: 550 5.5.0 mailbox unavailable."},
            "soft_bounce": {"event": "soft_bounce", "reason": "452 4.2.2 Mailbox full"},
            "complaint": {"event": "spam"},
            "open": {"event": "opened"},
            "click": {"event": "click", "link": LINK},
            "unsubscribe": {"event": "unsubscribe"},
            "rejected": {"event": "blocked", "reason": "blocked : due to blacklist user"},
        }[kind]
    )


EVENTS = {"postmark": postmark_event, "sendgrid": sendgrid_event, "mailgun": mailgun_event, "brevo": brevo_event}


def sendgrid_key_pair() -> tuple[ec.EllipticCurvePrivateKey, str]:
    """A signing key and its public key as SendGrid shows it (base64 DER, no PEM armour)."""
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, base64.b64encode(der).decode()


def mailgun_sign(payload: dict[str, Any], signing_key: str, *, timestamp: float | None = None) -> dict[str, Any]:
    stamp = str(int(time.time() if timestamp is None else timestamp))
    token = secrets.token_hex(25)
    signature = hmac.new(signing_key.encode(), f"{stamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"signature": {"timestamp": stamp, "token": token, "signature": signature}, **payload}


def webhook_post(
    esp: str,
    kind: str,
    message: dict[str, Any],
    *,
    secret: str = "",
    signing_key: str = "",
    sendgrid_private_key: ec.EllipticCurvePrivateKey | None = None,
    timestamp: float | None = None,
) -> WebhookPost:
    """The POST the ESP makes for `kind` on `message`, authenticated as the ESP does it."""
    event = EVENTS[esp](kind, message)
    headers = basic_auth(secret) if secret else {}
    if esp == "mailgun":
        return WebhookPost(json.dumps(mailgun_sign({"event-data": event}, signing_key, timestamp=timestamp)), headers)
    if esp == "sendgrid":
        body = json.dumps([event])
        if sendgrid_private_key is not None:
            stamp = str(int(time.time() if timestamp is None else timestamp))
            signature = sendgrid_private_key.sign((stamp + body).encode(), ec.ECDSA(hashes.SHA256()))
            headers["HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_SIGNATURE"] = base64.b64encode(signature).decode()
            headers["HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_TIMESTAMP"] = stamp
        return WebhookPost(body, headers)
    return WebhookPost(json.dumps(event), headers)
