"""The unsubscribe link and the postal address every bulk email must carry (CAN-SPAM, Gmail
and Yahoo's bulk sender rules): present in the message the send renders, and working."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.urls import Resolver404, resolve

from publishing.services.checks.base import CheckResult, Status
from publishing.services.checks.message import CheckedMessage

UNSUBSCRIBE, UNSUBSCRIBE_LABEL = "unsubscribe", "Unsubscribe link"
ADDRESS, ADDRESS_LABEL = "postal_address", "Postal address"


def _unsubscribe_problem(message: CheckedMessage) -> str | None:
    url = message.unsubscribe_url
    anchors = message.scan.anchors
    working = [a for a in anchors if (a.href or "").strip() == url]
    named = [a for a in anchors if "unsubscribe" in a.text.lower() and a not in working]
    if named:
        hrefs = ", ".join(repr((a.href or "")[:60]) for a in named[:3])
        return f"An unsubscribe link leads nowhere ({hrefs}): the template does not print its unsubscribe URL."
    if not working:
        return "The HTML has no unsubscribe link: the template must link {{ ph.unsubscribe_url }}."
    if url not in message.text:
        return "The plain-text part has no unsubscribe link."
    try:
        resolve(urlsplit(url).path)
    except Resolver404:
        return f"The unsubscribe link's page does not exist on this site ({urlsplit(url).path})."
    return None


def check_unsubscribe(message: CheckedMessage) -> CheckResult:
    details = {"url": message.unsubscribe_url}
    problem = _unsubscribe_problem(message)
    if problem:
        return CheckResult(UNSUBSCRIBE, UNSUBSCRIBE_LABEL, Status.FAIL, problem, details)
    text = "Unsubscribe link present in HTML and text, one-click List-Unsubscribe header added by the send."
    return CheckResult(UNSUBSCRIBE, UNSUBSCRIBE_LABEL, Status.PASS, text, details)


def _normalized(text: str) -> str:
    return " ".join(text.split()).lower()


def check_postal_address(message: CheckedMessage) -> CheckResult:
    address = settings.POSTAL_ADDRESS.strip()
    details = {"address": address}
    if not address:
        text = "No postal address is configured (POSTAL_ADDRESS): bulk email must carry one."
        return CheckResult(ADDRESS, ADDRESS_LABEL, Status.FAIL, text, details)
    wanted = _normalized(address)
    missing = [
        part
        for part, body in (("HTML", message.visible_text), ("text", message.text))
        if wanted not in _normalized(body)
    ]
    if missing:
        text = f"The postal address is missing from the {' and '.join(missing)} part: the template must print it."
        return CheckResult(ADDRESS, ADDRESS_LABEL, Status.FAIL, text, details)
    return CheckResult(ADDRESS, ADDRESS_LABEL, Status.PASS, f"Postal address present: {address}.", details)
