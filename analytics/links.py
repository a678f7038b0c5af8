"""Tracking links: an open pixel and click redirects whose signed tokens carry the delivery.

A click token names a link by its index in the send's link table (`Send.content["links"]`),
never by URL, so a redirect can only go to a URL that was in the rendered message, whatever
the token says. The paths are a contract with analytics/urls.py (tests check they agree).

Tokens are compact (core.compact_tokens: `<delivery>.<send>.<link>.<tag>`, one HMAC state per
recipient shared by all their links); tokens in messages sent before that change (Django's
signer, `<base64 json>:<signature>`) still verify, for as long as the messages live.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.conf import settings
from django.core import signing

from core.compact_tokens import BadToken, CompactSigner

OPEN_PATH = "/t/o/{token}.gif"
CLICK_PATH = "/t/c/{token}"  # click_urls writes it out: "/t/c/" + token
_OPEN_SALT = "bulletin.tracking.open"
_CLICK_SALT = "bulletin.tracking.click"
KEEP_PATH = "/t/k/{token}"  # the sunset policy's "keep sending me" link
_KEEP_SALT = "bulletin.sunset.keep"


class InvalidTrackingToken(Exception):
    pass


@dataclass(frozen=True)
class ClickTarget:
    delivery_id: int
    link_index: int
    # The delivery's send, when the token carries it (rendering puts it in), so a click finds
    # the send's link table without a database query. None: looked up from the delivery.
    send_id: int | None = None


_OPEN = CompactSigner(_OPEN_SALT)
_CLICK = CompactSigner(_CLICK_SALT)


def open_url(*, delivery_id: int) -> str:
    return settings.SITE_URL + OPEN_PATH.format(token=_OPEN.sign(delivery_id))


def click_url(*, delivery_id: int, link_index: int, send_id: int | None = None) -> str:
    shared = (delivery_id,) if send_id is None else (delivery_id, send_id)
    return settings.SITE_URL + CLICK_PATH.format(token=_CLICK.sign(*shared, link_index))


def click_urls(*, delivery_id: int, send_id: int, count: int) -> list[str]:
    """The click links of one recipient's message, link 0 to count - 1: the delivery and send
    are absorbed into the HMAC once, each link adds only its index."""
    prefix, base = _CLICK.prefix(delivery_id, send_id), settings.SITE_URL + "/t/c/"
    return [base + prefix.sign(index) for index in range(count)]


def open_token_read(token: str) -> int:
    if ":" not in token:
        return _compact_read(_OPEN, token, counts=(1,))[0]
    payload = _read(_OPEN_SALT, token)
    if len(payload) != 1:
        raise InvalidTrackingToken("malformed")
    return payload[0]


def click_token_read(token: str) -> ClickTarget:
    if ":" not in token:
        values = _compact_read(_CLICK, token, counts=(2, 3))  # [delivery, (send,) link]
        send_id = values[1] if len(values) == 3 else None
        return ClickTarget(delivery_id=values[0], link_index=values[-1], send_id=send_id)
    payload = _read(_CLICK_SALT, token)  # a token from before compact tokens: [delivery, link(, send)]
    if len(payload) not in (2, 3) or payload[1] < 0:
        raise InvalidTrackingToken("malformed")
    return ClickTarget(delivery_id=payload[0], link_index=payload[1], send_id=payload[2] if len(payload) == 3 else None)


def keep_url(*, subscriber_id: int) -> str:
    token = _signer(_KEEP_SALT, settings.SECRET_KEY).sign_object([subscriber_id])
    return settings.SITE_URL + KEEP_PATH.format(token=token)


def keep_token_read(token: str) -> int:
    """The subscriber id of a keep link's token."""
    payload = _read(_KEEP_SALT, token)
    if len(payload) != 1:
        raise InvalidTrackingToken("malformed")
    return payload[0]


@functools.lru_cache(maxsize=8)
def _signer(salt: str, key: str) -> signing.Signer:
    return signing.Signer(key=key, salt=salt)


def _compact_read(signer: CompactSigner, token: str, *, counts: tuple[int, ...]) -> list[int]:
    try:
        return signer.unsign(token, counts=counts)
    except BadToken as exc:
        raise InvalidTrackingToken(str(exc))


def _read(salt: str, token: str) -> list[int]:
    try:
        payload = _signer(salt, settings.SECRET_KEY).unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError, UnicodeDecodeError):
        raise InvalidTrackingToken("tampered")
    if not (isinstance(payload, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in payload)):
        raise InvalidTrackingToken("malformed")
    return payload
