"""Sign SNS messages the way Amazon SNS does, with a key and certificate of the test's own.

The certificate is written to a file that SNS_CERTIFICATE_FILE points at; messages still name
a SigningCertURL on sns.<region>.amazonaws.com, as real ones do. The string to sign is built
here independently of analytics.services.sns, from AWS's documentation.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:bulletin-ses-events"
CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem"
WEBHOOK_URL = "/anymail/amazon_ses/tracking/"


def _key_and_cert() -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


class SnsSigner:
    def __init__(self, folder: Path):
        self.key, pem = _key_and_cert()
        self.cert_file = folder / "sns-signing-cert.pem"
        self.cert_file.write_bytes(pem)

    def sign(self, message: dict, *, version: str = "1", key: rsa.RSAPrivateKey | None = None) -> dict:
        if message["Type"] == "Notification":
            names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
        else:
            names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
        text = "".join(f"{n}\n{message[n]}\n" for n in names if n in message)
        digest = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = (key or self.key).sign(text.encode(), padding.PKCS1v15(), digest)
        return {**message, "SignatureVersion": version, "Signature": base64.b64encode(signature).decode()}

    def notification(self, ses_event: dict, *, topic_arn: str = TOPIC_ARN, version: str = "1", **extra) -> dict:
        message = {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": topic_arn,
            "Message": json.dumps(ses_event),
            "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "SigningCertURL": CERT_URL,
            "UnsubscribeURL": f"https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={topic_arn}:x",
            **extra,
        }
        return self.sign(message, version=version)

    def confirmation(self, *, topic_arn: str = TOPIC_ARN, version: str = "1") -> dict:
        token = uuid.uuid4().hex * 2
        message = {
            "Type": "SubscriptionConfirmation",
            "MessageId": str(uuid.uuid4()),
            "Token": token,
            "TopicArn": topic_arn,
            "Message": f"You have chosen to subscribe to the topic {topic_arn}.",
            "SubscribeURL": f"https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={topic_arn}&Token={token}",
            "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "SigningCertURL": CERT_URL,
        }
        return self.sign(message, version=version)


def sns_post(client, message: dict, *, raw: str | None = None):
    """POST as SNS does: text/plain JSON body and the x-amz-sns-* headers."""
    return client.post(
        WEBHOOK_URL,
        data=raw if raw is not None else json.dumps(message),
        content_type="text/plain; charset=UTF-8",
        HTTP_X_AMZ_SNS_MESSAGE_TYPE=message.get("Type", ""),
        HTTP_X_AMZ_SNS_MESSAGE_ID=message.get("MessageId", ""),
        HTTP_X_AMZ_SNS_TOPIC_ARN=message.get("TopicArn", ""),
        HTTP_USER_AGENT="Amazon Simple Notification Service Agent",
    )
