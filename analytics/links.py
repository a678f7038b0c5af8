"""Tracking links: an open pixel and click redirects whose signed tokens carry the delivery.

A click token names a link by its index in the send's link table (`Send.content["links"]`),
never by URL, so a redirect can only go to a URL that was in the rendered message, whatever
the token says. The paths are a contract with analytics/urls.py (tests check they agree).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.conf import settings
from django.core import signing

OPEN_PATH = "/t/o/{token}.gif"
CLICK_PATH = "/t/c/{token}"
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


def open_url(*, delivery_id: int) -> str:
    token = _signer(_OPEN_SALT, settings.SECRET_KEY).sign_object([delivery_id])
    return settings.SITE_URL + OPEN_PATH.format(token=token)


def click_url(*, delivery_id: int, link_index: int, send_id: int | None = None) -> str:
    payload = [delivery_id, link_index] if send_id is None else [delivery_id, link_index, send_id]
    token = _signer(_CLICK_SALT, settings.SECRET_KEY).sign_object(payload)
    return settings.SITE_URL + CLICK_PATH.format(token=token)


def open_token_read(token: str) -> int:
    payload = _read(_OPEN_SALT, token)
    if len(payload) != 1:
        raise InvalidTrackingToken("malformed")
    return payload[0]


def click_token_read(token: str) -> ClickTarget:
    payload = _read(_CLICK_SALT, token)
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


def _read(salt: str, token: str) -> list[int]:
    try:
        payload = _signer(salt, settings.SECRET_KEY).unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError, UnicodeDecodeError):
        raise InvalidTrackingToken("tampered")
    if not (isinstance(payload, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in payload)):
        raise InvalidTrackingToken("malformed")
    return payload
