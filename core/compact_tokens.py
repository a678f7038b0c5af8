"""Short signed tokens over a few non-negative integers, cheap enough for every link of a send.

    <v1>.<v2>...<vn>.<tag>     values in base 36, tag = first 128 bits of HMAC-SHA256, base64url

The tag authenticates everything before the last dot under a key derived from SECRET_KEY and
the token's purpose (its salt), so a token made for one purpose never verifies for another.
Django's `signing.Signer` costs a JSON dump, a key derivation and two base64 passes per token;
a send signs about eight links per recipient, which made signing 7% of a fan-out worker's CPU
(bench/README.md). Here the key schedule is computed once per purpose, and `prefix` lets a
caller sign the values all of a recipient's links share once (an HMAC state is copied, not
recomputed) and finish each link with its own last value: "precomputed per-recipient prefixes".
Truncating HMAC-SHA256 to 128 bits keeps it unforgeable (NIST SP 800-107: at least 64 bits).
Verification tries SECRET_KEY_FALLBACKS too, as Django's signer does, so keys can rotate.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re

from django.conf import settings

_TAG_BYTES = 16
_VALUE = re.compile(r"[0-9a-z]{1,13}")  # base 36, below 2**64
_TAG = re.compile(r"[A-Za-z0-9_-]{22}")
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


class BadToken(Exception):
    pass


def base36(number: int) -> str:
    if number < 0:
        raise ValueError("compact tokens carry non-negative integers")
    digits = ""
    while True:
        number, rest = divmod(number, 36)
        digits = _DIGITS[rest] + digits
        if not number:
            return digits


@functools.lru_cache(maxsize=64)
def _keyed(salt: str, secret: str) -> hmac.HMAC:
    """An HMAC object with the purpose's key already absorbed; callers copy it."""
    key = hmac.new(secret.encode(), b"bulletin.compact-token:" + salt.encode(), hashlib.sha256).digest()
    return hmac.new(key, digestmod=hashlib.sha256)


def _tag(mac: hmac.HMAC) -> str:
    return base64.urlsafe_b64encode(mac.digest()[:_TAG_BYTES]).rstrip(b"=").decode()


class Prefix:
    """The values a recipient's links share, absorbed once; `sign(last)` finishes one token."""

    __slots__ = ("_mac", "_text")

    def __init__(self, mac: hmac.HMAC, text: str):
        self._mac, self._text = mac, text

    def sign(self, last: int) -> str:
        digits = base36(last)
        mac = self._mac.copy()
        mac.update(digits.encode())
        return f"{self._text}{digits}.{_tag(mac)}"


class CompactSigner:
    def __init__(self, salt: str):
        self.salt = salt

    def prefix(self, *values: int) -> Prefix:
        text = "".join(base36(v) + "." for v in values)
        mac = _keyed(self.salt, settings.SECRET_KEY).copy()
        mac.update(text.encode())
        return Prefix(mac, text)

    def sign(self, *values: int) -> str:
        *shared, last = values
        return self.prefix(*shared).sign(last)

    def unsign(self, token: str, *, counts: tuple[int, ...]) -> list[int]:
        """The values of a token this signer made, if it carries one of `counts` values; BadToken otherwise."""
        message, _, tag = token.rpartition(".")
        parts = message.split(".")
        if len(parts) not in counts or not _TAG.fullmatch(tag) or not all(_VALUE.fullmatch(p) for p in parts):
            raise BadToken("malformed")
        for secret in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS):
            mac = _keyed(self.salt, secret).copy()
            mac.update(message.encode())
            if hmac.compare_digest(_tag(mac), tag):
                return [int(p, 36) for p in parts]
        raise BadToken("tampered")
