"""Amazon SNS: message signature verification and subscription confirmation.

Anymail checks only HTTP basic auth on the SES webhook; every SNS message is verified here
before anything is stored (https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html):
- the TopicArn is one of SNS_TOPIC_ARNS (someone else's topic can be signed by AWS too);
- SignatureVersion 1 (RSA PKCS#1 v1.5 over SHA1) or 2 (over SHA256);
- the certificate comes from https://sns.<region>.amazonaws.com/...pem, the topic's region,
  downloaded over verified HTTPS and cached, or from SNS_CERTIFICATE_FILE when configured;
- the signed Timestamp is at most SNS_MAX_AGE_SECONDS old (an hour: replays are refused);
- the signature covers the documented fields, "Name\\nvalue\\n" each, in this order:
  Notification: Message, MessageId, Subject (if present), Timestamp, TopicArn, Type;
  (Un)SubscriptionConfirmation: Message, MessageId, SubscribeURL, Timestamp, Token, TopicArn, Type.
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.conf import settings
from django.core.cache import cache
from django.utils.dateparse import parse_datetime

logger = logging.getLogger(__name__)

_SNS_HOST = re.compile(r"^sns\.([a-z0-9-]+)\.amazonaws\.com$")
_NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
_HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}  # noqa: S303 (SNS SignatureVersion 1 is SHA1 by definition)
MESSAGE_TYPES = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")
# Clocks differ: a message a little "from the future" is SNS's clock being ahead of ours.
_CLOCK_SKEW_SECONDS = 300


class SnsVerificationError(Exception):
    """The message is not a genuine SNS message for one of our topics."""


def sns_message_verify(message: dict) -> None:
    """Raise SnsVerificationError unless `message` is signed by SNS for an allowed topic."""
    if not isinstance(message, dict):
        raise SnsVerificationError("not an SNS message")
    message_type = message.get("Type")
    if message_type not in MESSAGE_TYPES:
        raise SnsVerificationError(f"unknown message type {message_type!r}")
    topic_arn = message.get("TopicArn")
    if topic_arn not in settings.SNS_TOPIC_ARNS:
        raise SnsVerificationError(f"topic {topic_arn!r} is not in SNS_TOPIC_ARNS")
    version = str(message.get("SignatureVersion", ""))
    if version not in _HASHES:
        raise SnsVerificationError(f"unsupported SignatureVersion {version!r}")
    cert_url = str(message.get("SigningCertURL", ""))
    region = sns_url_region(cert_url)
    if region is None or not cert_url.endswith(".pem"):
        raise SnsVerificationError(f"SigningCertURL {cert_url!r} is not an SNS certificate URL")
    if region != topic_region(topic_arn):
        raise SnsVerificationError("SigningCertURL region differs from the topic's")
    try:
        signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
    except (binascii.Error, ValueError):
        raise SnsVerificationError("Signature is not base64")
    public_key = sns_certificate(cert_url).public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise SnsVerificationError("certificate key is not RSA")
    try:
        public_key.verify(signature, string_to_sign(message), padding.PKCS1v15(), _HASHES[version]())
    except InvalidSignature:
        raise SnsVerificationError("signature does not match")
    sns_message_age_check(message)


def sns_message_age_check(message: dict) -> None:
    """Refuse a message whose signed Timestamp is older than SNS_MAX_AGE_SECONDS (a replay of a
    captured POST; SNS itself stops retrying well within an hour) or dated in the future."""
    try:
        stamp = parse_datetime(str(message.get("Timestamp", "")))
    except ValueError:
        stamp = None
    if stamp is None or stamp.tzinfo is None:
        raise SnsVerificationError(f"Timestamp {message.get('Timestamp')!r} is not an ISO 8601 time")
    age = (datetime.now(UTC) - stamp).total_seconds()
    if age > settings.SNS_MAX_AGE_SECONDS:
        raise SnsVerificationError(f"message is {int(age)} s old, older than SNS_MAX_AGE_SECONDS (a replay?)")
    if age < -_CLOCK_SKEW_SECONDS:
        raise SnsVerificationError(f"message is dated {int(-age)} s in the future")


def string_to_sign(message: dict) -> bytes:
    fields = _NOTIFICATION_FIELDS if message.get("Type") == "Notification" else _CONFIRMATION_FIELDS
    parts = []
    for name in fields:
        value = message.get(name)
        if value is None:
            if name == "Subject":
                continue
            raise SnsVerificationError(f"{name} is missing")
        parts.append(f"{name}\n{value}\n")
    return "".join(parts).encode()


def sns_url_region(url: str) -> str | None:
    """The region of an https://sns.<region>.amazonaws.com/ URL, None for any other URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme != "https" or parts.username or parts.password or port not in (None, 443):
        return None
    match = _SNS_HOST.match(parts.hostname or "")
    return match.group(1) if match else None


def topic_region(topic_arn: str) -> str:
    parts = topic_arn.split(":")
    return parts[3] if len(parts) == 6 else ""


def sns_certificate(url: str) -> x509.Certificate:
    """The certificate that signs: the configured file, else SigningCertURL (cached a day)."""
    if settings.SNS_CERTIFICATE_FILE:
        path = Path(settings.SNS_CERTIFICATE_FILE)
        return _certificate_from_file(str(path), path.stat().st_mtime)
    key = f"sns-cert:{url}"
    pem = cache.get(key)
    if pem is None:
        try:
            response = requests.get(url, timeout=5, allow_redirects=False)
            response.raise_for_status()
        except requests.RequestException as exc:
            raise SnsVerificationError(f"could not fetch the signing certificate: {exc}")
        pem = response.content
        _certificate_check(_parse_pem(pem))
        cache.set(key, pem, 24 * 3600)
    return _parse_pem(pem)


@functools.lru_cache(maxsize=4)
def _certificate_from_file(path: str, mtime: float) -> x509.Certificate:
    return _parse_pem(Path(path).read_bytes())


def _parse_pem(pem: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise SnsVerificationError("the signing certificate is not a PEM certificate")


def _certificate_check(certificate: x509.Certificate) -> None:
    now = datetime.now(UTC)
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise SnsVerificationError("the signing certificate has expired")
    names = [a.value for a in certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
    if not any(str(name).endswith(".amazonaws.com") for name in names):
        raise SnsVerificationError(f"the signing certificate is not Amazon's ({names})")


def sns_subscription_confirm(*, message: dict) -> str:
    """Visit the SubscribeURL of a verified SubscriptionConfirmation; returns the subscription ARN
    (or the response text). SNS_ENDPOINT_URL redirects the call to a local SNS in tests."""
    url = str(message.get("SubscribeURL", ""))
    if sns_url_region(url) != topic_region(str(message.get("TopicArn", ""))):
        raise SnsVerificationError(f"SubscribeURL {url!r} is not this topic's SNS endpoint")
    if settings.SNS_ENDPOINT_URL:
        url = settings.SNS_ENDPOINT_URL.rstrip("/") + "/?" + urlsplit(url).query
    response = requests.get(url, timeout=10, allow_redirects=False)
    response.raise_for_status()
    match = re.search(r"<SubscriptionArn>([^<]+)</SubscriptionArn>", response.text)
    return match.group(1) if match else response.text[:200]
