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


class InvalidTrackingToken(Exception):
    pass


@dataclass(frozen=True)
class ClickTarget:
    delivery_id: int
    link_index: int


def open_url(*, delivery_id: int) -> str:
    token = _signer(_OPEN_SALT, settings.SECRET_KEY).sign_object([delivery_id])
    return settings.SITE_URL + OPEN_PATH.format(token=token)


def click_url(*, delivery_id: int, link_index: int) -> str:
    token = _signer(_CLICK_SALT, settings.SECRET_KEY).sign_object([delivery_id, link_index])
    return settings.SITE_URL + CLICK_PATH.format(token=token)


def open_token_read(token: str) -> int:
    payload = _read(_OPEN_SALT, token)
    if len(payload) != 1:
        raise InvalidTrackingToken("malformed")
    return payload[0]


def click_token_read(token: str) -> ClickTarget:
    payload = _read(_CLICK_SALT, token)
    if len(payload) != 2 or payload[1] < 0:
        raise InvalidTrackingToken("malformed")
    return ClickTarget(delivery_id=payload[0], link_index=payload[1])


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
