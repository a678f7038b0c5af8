"""A brute-force evaluation of segment trees, written from the grammar in subscribers/segments/rules.py
without looking at the SQL compiler: the property tests compare the two on random populations."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings


@dataclass
class Person:
    """Everything a segment can look at about one subscriber, loaded row by row."""

    pk: int
    columns: dict[str, Any]
    attributes: dict[str, Any]
    subscriptions: list[tuple[str, str, str]] = field(default_factory=list)  # topic slug, kind, frequency
    # (delivery sent_at or None, handed over, publication id, topic slugs of the send)
    deliveries: list[tuple[datetime | None, bool, int | None, set[str]]] = field(default_factory=list)
    # (kind, occurred_at, machine, publication id, topic slugs of the send)
    events: list[tuple[str, datetime, bool, int | None, set[str]]] = field(default_factory=list)
    soft_bounces: list[datetime] = field(default_factory=list)


def evaluate(node: dict, person: Person, fields: dict[str, str], now: datetime) -> bool:
    kind = node["type"]
    if kind == "and":
        return all(evaluate(child, person, fields, now) for child in node["rules"])
    if kind == "or":
        return any(evaluate(child, person, fields, now) for child in node["rules"])
    if kind == "not":
        return not evaluate(node["rule"], person, fields, now)
    return globals()[f"_{kind}"](node, person, fields, now)


def _cutoff(node: dict, now: datetime) -> datetime | None:
    return now - timedelta(days=node["within_days"]) if node.get("within_days") else None


def _field(node, person, fields, now) -> bool:
    name, op, value = node["field"], node["op"], node.get("value")
    actual = person.columns[name]
    if name in ("created_at", "confirmed_at"):
        if op == "exists":
            return actual is not None
        if actual is None:
            return False
        if op == "within_days":
            return actual >= now - timedelta(days=value)
        low = _bound(value.get("min"), upper=False)
        high = _bound(value.get("max"), upper=True)
        return (low is None or actual >= low) and (high is None or actual <= high)
    if op == "exists":
        return actual not in ("", None)
    if op == "eq":
        return actual == value
    if op == "in":
        return actual in value
    if op == "contains":
        return value.lower() in actual.lower()
    return ("min" not in value or actual >= value["min"]) and ("max" not in value or actual <= value["max"])


def _bound(value: str | None, *, upper: bool) -> datetime | None:
    if value is None:
        return None
    if len(value) == 10:
        start = datetime.combine(date.fromisoformat(value), time.min, tzinfo=UTC)
        return start + timedelta(days=1) - timedelta(microseconds=1) if upper else start
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1, "1" is not 1, 1 is 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return a == b
    return type(a) is type(b) and a == b


def _attribute(node, person, fields, now) -> bool:
    key, op, value = node["key"], node["op"], node.get("value")
    present = key in person.attributes
    actual = person.attributes.get(key)
    if op == "exists":
        return present and actual not in ("", None)
    if not present:
        return False
    if op == "eq":
        return _same(actual, value)
    if op == "in":
        return any(_same(actual, v) for v in value)
    if op == "contains":
        return isinstance(actual, str) and value.lower() in actual.lower()
    if fields[key] == "number":
        ok = _is_number(actual)
    else:  # date
        ok = isinstance(actual, str) and re.match(r"^\d{4}-\d{2}-\d{2}$", actual) is not None
    if not ok:
        return False
    return ("min" not in value or actual >= value["min"]) and ("max" not in value or actual <= value["max"])


def _topic(node, person, fields, now) -> bool:
    frequencies = node.get("frequencies") or ["instant", "daily", "weekly"]
    return any(
        slug == node["topic"] and frequency in frequencies and node.get("channel_kind", kind) == kind
        for slug, kind, frequency in person.subscriptions
    )


def _in_scope(node, publication_id, topics) -> bool:
    if "publication" in node:
        return publication_id == node["publication"]
    if "topic" in node:
        return node["topic"] in topics
    return True


def _activity(node, person, fields, now) -> bool:
    cutoff = _cutoff(node, now)
    if node["action"] == "sent":
        return any(
            handed and sent is not None and (cutoff is None or sent >= cutoff) and _in_scope(node, pub, topics)
            for sent, handed, pub, topics in person.deliveries
        )
    kind = "open" if node["action"] == "opened" else "click"
    return any(
        k == kind and not machine and (cutoff is None or at >= cutoff) and _in_scope(node, pub, topics)
        for k, at, machine, pub, topics in person.events
    )


def tier_of(person: Person, now: datetime) -> str:
    score, created = person.columns["engagement_score"], person.columns["created_at"]
    if score >= settings.ENGAGEMENT_TIER_ACTIVE_MIN:
        return "active"
    if created > now - timedelta(days=settings.ENGAGEMENT_TIER_NEW_DAYS):
        return "new"
    if score >= settings.ENGAGEMENT_TIER_AT_RISK_MIN:
        return "at_risk"
    return "dormant"


def _engagement_tier(node, person, fields, now) -> bool:
    return tier_of(person, now) in node["tiers"]


def _soft_bounced(node, person, fields, now) -> bool:
    cutoff = _cutoff(node, now)
    return any(cutoff is None or at >= cutoff for at in person.soft_bounces)


def _never_opened(node, person, fields, now) -> bool:
    return not any(k == "open" and not machine for k, _, machine, _, _ in person.events)
