"""Validation shared by the public pages, the API, admin and import: one rule, one place."""

from __future__ import annotations

import functools
import re
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.utils.translation import gettext

from core.outbound.http import url_problem

_email_validator = EmailValidator(message="Enter a valid email address.")
# Slack member IDs: U… for users, W… for Enterprise Grid users (https://api.slack.com/changelog/2016-08-11-user-id-format-changes).
_SLACK_MEMBER_ID = re.compile(r"^[UW][A-Z0-9]{6,20}$")
# OWASP CSV injection: a spreadsheet evaluates a cell starting with one of these as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# "+33 6 12 34 56 78" or "-12.5" are data, not formulas.
_NUMBER_LIKE = re.compile(r"^[+-][\d\s().,/-]*$")


def email_normalize(value: str) -> str:
    """The stored form of an address: trimmed, lower-case, valid. Raises ValidationError."""
    email = (value or "").strip().lower()
    if not email:
        raise ValidationError("Enter an email address.")
    if len(email) > 254:
        raise ValidationError("An email address has at most 254 characters.")
    _email_validator(email)
    return email


# A language tag (BCP 47's common forms): "de", "de-AT", "pt-BR", "zh-Hant".
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")


def validate_locale(value: str) -> None:
    """A language tag; pages and emails use the closest shipped language (core.i18n.language_for)."""
    if not isinstance(value, str) or len(value) > 16 or not _LANGUAGE_TAG.match(value):
        raise ValidationError(gettext("A language code such as en or de."))


@functools.cache
def timezone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_timezone(value: str) -> None:
    if value not in timezone_names():
        raise ValidationError(gettext("Unknown time zone: use an IANA name such as Europe/Paris."))


def validate_slack_member_id(value: str) -> None:
    if value and not _SLACK_MEMBER_ID.match(value):
        raise ValidationError(gettext("A Slack member ID looks like U01ABCDEF (Profile → ⋮ → Copy member ID)."))


def validate_webhook_url(value: str) -> None:
    """https only (unless SUBSCRIBER_WEBHOOK_ALLOW_HTTP), and not a local or private address."""
    if not value:
        return
    schemes = ["https", "http"] if settings.SUBSCRIBER_WEBHOOK_ALLOW_HTTP else ["https"]
    try:
        URLValidator(schemes=schemes)(value)
    except ValidationError:
        raise ValidationError(gettext("Enter a valid %(schemes)s URL.") % {"schemes": " or ".join(schemes)})
    # SSRF: no private, loopback, link-local or reserved targets in any spelling, nor local-only
    # names (core.outbound; off with OUTBOUND_ALLOW_PRIVATE_TARGETS). The send pipeline checks
    # the resolved address again, and connects to the address it checked.
    if url_problem(value):
        raise ValidationError(gettext("The webhook must be reachable on the public internet."))


def is_formula(value: str) -> bool:
    """True for a cell a spreadsheet would run as a formula (numbers with a sign are data)."""
    if not value or not value.startswith(FORMULA_PREFIXES):
        return False
    return not (value[0] in "+-" and _NUMBER_LIKE.match(value))


def csv_escape(value: object) -> str:
    """Neutralise a cell for spreadsheets: a leading apostrophe before = + - @ tab CR."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text
