"""Signed tokens in public links, one salt per purpose so a token for one purpose never
works for another (SPEC §4, issue: subscribers).

- confirm:      double opt-in link; expires (CONFIRM_TOKEN_MAX_AGE).
- preferences:  preference-centre link; carries the subscriber's token_version, so bumping
                the version revokes every preference link issued before.
- unsubscribe:  List-Unsubscribe and footer links; keeps working for months
                (UNSUBSCRIBE_TOKEN_MAX_AGE) and is never revoked. It carries the scope of
                what it stops (UnsubscribeScope): the message's topics on its channel kind,
                a digest's topics, or everything.
"""

from __future__ import annotations

import base64
import enum
import functools
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.core import signing
from django.utils.crypto import constant_time_compare, salted_hmac

from core.clock import clock
from core.compact_tokens import BadToken, CompactSigner


class TokenPurpose(enum.StrEnum):
    CONFIRM = "confirm"
    PREFERENCES = "preferences"
    UNSUBSCRIBE = "unsubscribe"

    @property
    def salt(self) -> str:
        return f"bulletin.subscribers.{self.value}"

    @property
    def max_age(self) -> int:
        return {
            TokenPurpose.CONFIRM: settings.CONFIRM_TOKEN_MAX_AGE,
            TokenPurpose.PREFERENCES: settings.PREFERENCES_TOKEN_MAX_AGE,
            TokenPurpose.UNSUBSCRIBE: settings.UNSUBSCRIBE_TOKEN_MAX_AGE,
        }[self]


class InvalidToken(Exception):
    """The link cannot be honoured; `reason` is one of expired, tampered, revoked."""

    def __init__(self, reason: str, subscriber_id: int | None = None):
        super().__init__(reason)
        self.reason = reason
        # Known only for expired tokens, whose signature was good: lets a page offer a fresh link.
        self.subscriber_id = subscriber_id


@dataclass(frozen=True)
class UnsubscribeScope:
    """What one unsubscribe link stops (issue 13, item 5).

    - everything (no topics): the subscriber leaves every list (a footer's "unsubscribe from
      all", the preference centre, a message that stands for no topic);
    - `topic_ids` on `kind`: a topic's message stops that topic on that channel kind; a
      multi-topic message or a digest stops every topic it stood for, on its kind only;
    - `topic_ids` with no `kind`: links sent before scopes had kinds (one topic, every channel).
    `frequency` names the digest a link came from, for the confirmation page's wording.
    """

    kind: str = ""
    topic_ids: tuple[int, ...] = ()
    frequency: str = ""

    @property
    def is_everything(self) -> bool:
        return not self.topic_ids


EVERYTHING = UnsubscribeScope()


@dataclass(frozen=True)
class TokenData:
    subscriber_id: int
    version: int
    topic_id: int | None
    issued_at: datetime
    scope: UnsubscribeScope = EVERYTHING


def subscriber_token_make(
    *,
    purpose: TokenPurpose,
    subscriber_id: int,
    version: int = 0,
    topic_id: int | None = None,
    scope: UnsubscribeScope | None = None,
) -> str:
    """A compact token (core.compact_tokens): [subscriber id, token version, topic id or 0, issued
    at], and for an unsubscribe scope with topics [subscriber id, 0, 0, issued at, kind, frequency,
    topic ids...], the two strings as the integers of their UTF-8 bytes (at most 16 bytes each)."""
    issued = int(clock.time())
    if purpose == TokenPurpose.UNSUBSCRIBE and scope is not None and not scope.is_everything:
        values = [subscriber_id, 0, 0, issued, _text_code(scope.kind), _text_code(scope.frequency), *scope.topic_ids]
    else:
        values = [subscriber_id, version if purpose == TokenPurpose.PREFERENCES else 0, topic_id or 0, issued]
    return _compact(purpose.salt).sign(*values)


def subscriber_token_read(*, purpose: TokenPurpose, token: str) -> TokenData:
    """Verify signature and age. Revocation (token_version) is checked by the caller's service.
    Tokens made before compact tokens (Django's signer: they contain ':') still verify."""
    if ":" in token:
        return _legacy_read(purpose, token)
    try:
        values = _compact(purpose.salt).unsign(token, counts=_COUNTS)
    except BadToken:
        raise InvalidToken("tampered")
    subscriber_id, version, topic_id, issued = values[:4]
    if clock.time() - issued > purpose.max_age:
        raise InvalidToken("expired", subscriber_id=subscriber_id)
    issued_at = datetime.fromtimestamp(issued, tz=UTC)
    if len(values) > 4:  # a scope: only unsubscribe links carry one, and it names topics
        if purpose != TokenPurpose.UNSUBSCRIBE or len(values) < 7:
            raise InvalidToken("tampered")
        try:
            kind, frequency = _text(values[4]), _text(values[5])
        except UnicodeDecodeError:
            raise InvalidToken("tampered")
        scope = UnsubscribeScope(kind=kind, topic_ids=tuple(values[6:]), frequency=frequency)
        return TokenData(subscriber_id, 0, None, issued_at, scope)
    # A topic link from before scopes had a kind: that topic, on every channel.
    scope = UnsubscribeScope(topic_ids=(topic_id,)) if topic_id else EVERYTHING
    return TokenData(subscriber_id, version, topic_id or None, issued_at, scope)


_COUNTS = range(4, 7 + 64)  # the plain form, or a scope with 1 to 64 topics


@functools.lru_cache(maxsize=8)
def _compact(salt: str) -> CompactSigner:
    return CompactSigner(salt)


def _text_code(text: str) -> int:
    data = text.encode()
    if len(data) > 16:
        raise ValueError(f"{text!r} is too long for a compact token")
    return int.from_bytes(data, "big")


def _text(code: int) -> str:
    return code.to_bytes((code.bit_length() + 7) // 8, "big").decode()


def _legacy_read(purpose: TokenPurpose, token: str) -> TokenData:
    signer = _signer(purpose.salt, settings.SECRET_KEY)
    try:
        payload = signer.unsign_object(token, max_age=purpose.max_age)
    except signing.SignatureExpired:
        raise InvalidToken("expired", subscriber_id=_expired_subscriber_id(signer, token))
    except (signing.BadSignature, ValueError, TypeError):
        raise InvalidToken("tampered")
    if _is_scoped(payload) and purpose == TokenPurpose.UNSUBSCRIBE:
        subscriber_id, _, _, kind, frequency, topic_ids = payload
        scope = UnsubscribeScope(kind=kind, topic_ids=tuple(topic_ids), frequency=frequency)
        return TokenData(subscriber_id, 0, None, _issued_at(signer, token), scope)
    if not (isinstance(payload, list) and len(payload) == 3 and all(_is_int(v) for v in payload)):
        raise InvalidToken("tampered")
    subscriber_id, version, topic_id = payload
    scope = UnsubscribeScope(topic_ids=(topic_id,)) if topic_id else EVERYTHING
    return TokenData(subscriber_id, version, topic_id or None, _issued_at(signer, token), scope)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_scoped(payload: object) -> bool:
    return (
        isinstance(payload, list)
        and len(payload) == 6
        and all(_is_int(v) for v in payload[:3])
        and all(isinstance(v, str) for v in payload[3:5])
        and isinstance(payload[5], list)
        and bool(payload[5])
        and all(_is_int(v) for v in payload[5])
    )


@functools.lru_cache(maxsize=16)
def _signer(salt: str, key: str) -> signing.TimestampSigner:
    """Reads tokens made before compact tokens (and the tests make such tokens with it)."""
    return signing.TimestampSigner(key=key, salt=salt)


def _issued_at(signer: signing.TimestampSigner, token: str) -> datetime:
    timestamp = token.rsplit(signer.sep, 2)[-2]
    return datetime.fromtimestamp(signing.b62_decode(timestamp), tz=UTC)


def _expired_subscriber_id(signer: signing.TimestampSigner, token: str) -> int | None:
    try:
        payload = signer.unsign_object(token, max_age=None)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    return payload[0] if isinstance(payload, list) and payload and isinstance(payload[0], int) else None


# --- The mailto unsubscribe token ---------------------------------------------------------
# `unsubscribe+<token>@domain`: an address's local part holds 64 characters at most and mail
# systems may change its case, so the token is short and case-insensitive: the delivery's id in
# base 36 and 80 bits of HMAC-SHA256 in lower-case base 32 (RFC 4648, unpadded).
_MAIL_SALT = "bulletin.subscribers.mailto-unsubscribe"
_MAIL_MAC_CHARS = 16
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def mail_token_make(*, delivery_id: int) -> str:
    return f"{_base36(delivery_id)}-{_mail_mac(delivery_id)}"


def mail_token_read(token: str) -> int:
    """The delivery id a mailto token names; InvalidToken("tampered") unless it is ours."""
    ident, _, mac = token.strip().lower().partition("-")
    try:
        delivery_id = int(ident, 36)
    except ValueError:
        raise InvalidToken("tampered")
    if not (0 < delivery_id < 2**63 and constant_time_compare(mac, _mail_mac(delivery_id))):
        raise InvalidToken("tampered")
    return delivery_id


def _mail_mac(delivery_id: int) -> str:
    digest = salted_hmac(_MAIL_SALT, str(delivery_id), algorithm="sha256").digest()
    return base64.b32encode(digest).decode().lower()[:_MAIL_MAC_CHARS]


def _base36(number: int) -> str:
    digits = ""
    while True:
        number, rest = divmod(number, 36)
        digits = _BASE36[rest] + digits
        if not number:
            return digits
