"""The segment filter tree: its grammar, its limits and its validation.

A tree is JSON. Groups combine rules; every other node is one condition:

    {"type": "and" | "or", "rules": [<node>, ...]}
    {"type": "not", "rule": <node>}
    {"type": "field", "field": "status", "op": "in", "value": ["active"]}        subscriber fields
    {"type": "attribute", "key": "country", "op": "eq", "value": "DE"}          custom fields
    {"type": "topic", "topic": "news", "frequencies": ["instant"], "channel_kind": "email"}
    {"type": "activity", "action": "opened" | "clicked" | "sent", "within_days": 90,
     "publication": 12 | "topic": "news"}                                        human events only
    {"type": "engagement_tier", "tiers": ["active", "at_risk"]}
    {"type": "soft_bounced", "within_days": 30}
    {"type": "never_opened"}

Operators by type (`value` shapes): eq (one value), in (a list), contains (text, case-insensitive),
range ({"min": .., "max": ..}, either may be left out, both inclusive), within_days (datetimes: the
last N days), exists (no value: the subscriber has a non-empty value).

    text      eq, contains, in, exists         number  eq, in, range, exists
    choice    eq, in, exists                    date    eq, range, exists (YYYY-MM-DD)
    boolean   eq, exists                        datetime  range, within_days, exists

Subscriber fields: status (choice), email, name, timezone, locale, slack_member_id, webhook_url
(text; exists = has that contact point), created_at and confirmed_at (datetime), engagement_score
(number). Custom attributes need a SubscriberField, whose type decides the operators.

Limits (a refused tree names the node): groups nest at most MAX_DEPTH deep, a group holds at
most MAX_GROUP_RULES rules, a tree at most MAX_NODES nodes, a list value at most MAX_LIST_VALUES
items, a text value at most MAX_TEXT characters, `within_days` at most MAX_DAYS, a number at most
MAX_NUMBER either side of zero. Date-times are compared in UTC (any offset Python parses).

Paths name nodes from the root: the root is `rules`, its children `rules[0]`, `rules[1]`..., a
NOT's child `rules[2].rule`, deeper ones `rules[1].rules[0]`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.utils.dateparse import parse_date, parse_datetime

from channels_app.adapters import personal_kinds
from core.exceptions import ApplicationError
from subscribers.engagement import EngagementTier
from subscribers.models import FieldType, Frequency, SubscriberField, SubscriberStatus

MAX_DEPTH = 5
MAX_GROUP_RULES = 20
MAX_NODES = 100
MAX_LIST_VALUES = 500
MAX_TEXT = 500
MAX_DAYS = 3650
MAX_NUMBER = 2**53

DATETIME = "datetime"
OPERATORS: dict[str, frozenset[str]] = {
    FieldType.TEXT: frozenset({"eq", "contains", "in", "exists"}),
    FieldType.CHOICE: frozenset({"eq", "in", "exists"}),
    FieldType.NUMBER: frozenset({"eq", "in", "range", "exists"}),
    FieldType.DATE: frozenset({"eq", "range", "exists"}),
    FieldType.BOOLEAN: frozenset({"eq", "exists"}),
    DATETIME: frozenset({"range", "within_days", "exists"}),
}
SUBSCRIBER_FIELDS: dict[str, str] = {
    "status": FieldType.CHOICE,
    "email": FieldType.TEXT,
    "name": FieldType.TEXT,
    "timezone": FieldType.TEXT,
    "locale": FieldType.TEXT,
    "slack_member_id": FieldType.TEXT,
    "webhook_url": FieldType.TEXT,
    "created_at": DATETIME,
    "confirmed_at": DATETIME,
    "engagement_score": FieldType.NUMBER,
}
ACTIONS = ("opened", "clicked", "sent")
_KEYS = {
    "and": {"type", "rules"},
    "or": {"type", "rules"},
    "not": {"type", "rule"},
    "field": {"type", "field", "op", "value"},
    "attribute": {"type", "key", "op", "value"},
    "topic": {"type", "topic", "frequencies", "channel_kind"},
    "activity": {"type", "action", "within_days", "publication", "topic"},
    "engagement_tier": {"type", "tiers"},
    "soft_bounced": {"type", "within_days"},
    "never_opened": {"type"},
}
NODE_TYPES = tuple(_KEYS)


class _Errors(dict):
    def add(self, path: str, message: str) -> None:
        self.setdefault(path, []).append(message)


class RulesContext:
    """What validation checks names against: custom fields, topic slugs, publication ids."""

    def __init__(
        self,
        *,
        fields: Mapping[str, Any] | None = None,
        topics: set[str] | None = None,
        publication_ids: set[int] | None = None,
    ):
        self.fields = fields if fields is not None else {f.key: f for f in SubscriberField.objects.all()}
        if topics is None:
            from subscribers.models import Topic

            topics = set(Topic.objects.values_list("slug", flat=True))
        self.topics = topics
        self._publication_ids = publication_ids

    def publication_exists(self, pk: int) -> bool:
        if self._publication_ids is not None:
            return pk in self._publication_ids
        from publishing.models import Publication

        return Publication.objects.filter(pk=pk).exists()


def segment_rules_validate(rules: Any, *, context: RulesContext | None = None) -> None:
    """Raise ApplicationError (400) naming every bad node, by path, as field errors."""
    errors = _Errors()
    context = context or RulesContext()
    counter = [0]
    _node(rules, "rules", 0, errors, context, counter)
    if counter[0] > MAX_NODES:
        errors.add("rules", f"The tree has {counter[0]} nodes; at most {MAX_NODES} are allowed.")
    if errors:
        first = next(iter(errors))
        raise ApplicationError.for_fields(dict(errors), message=f"Invalid segment rule at {first}: {errors[first][0]}")


def _node(node: Any, path: str, depth: int, errors: _Errors, context: RulesContext, counter: list[int]) -> None:
    counter[0] += 1
    if not isinstance(node, dict):
        errors.add(path, "A rule is a JSON object.")
        return
    kind = node.get("type")
    if kind not in _KEYS:
        errors.add(path, f"Unknown rule type {str(kind)[:40]!r}; use one of {', '.join(NODE_TYPES)}.")
        return
    unknown = sorted(set(node) - _KEYS[kind])
    if unknown:
        errors.add(path, f"Unknown key(s) for a {kind} rule: {', '.join(map(str, unknown))[:200]}.")
        return
    if kind in ("and", "or", "not"):
        _group(node, kind, path, depth + 1, errors, context, counter)
    elif kind in ("field", "attribute"):
        _condition(node, kind, path, errors, context)
    else:
        _CHECKS[kind](node, path, errors, context)


def _group(node: dict, kind: str, path: str, depth: int, errors: _Errors, context, counter) -> None:
    if depth > MAX_DEPTH:
        errors.add(path, f"Groups nest at most {MAX_DEPTH} levels deep.")
        return
    if kind == "not":
        if "rule" not in node:
            errors.add(path, "A not rule needs one `rule`.")
            return
        _node(node["rule"], f"{path}.rule", depth, errors, context, counter)
        return
    children = node.get("rules")
    if not isinstance(children, list) or not children:
        errors.add(path, f"An {kind} group needs a non-empty list `rules`.")
        return
    if len(children) > MAX_GROUP_RULES:
        errors.add(path, f"A group holds at most {MAX_GROUP_RULES} rules (this one has {len(children)}).")
        return
    prefix = "" if path == "rules" else f"{path}."
    for i, child in enumerate(children):
        _node(child, f"{prefix}rules[{i}]", depth, errors, context, counter)


def segment_conditions(node: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every condition (leaf) of a validated tree, whatever groups and negations hold it."""
    if node["type"] in ("and", "or"):
        for child in node["rules"]:
            yield from segment_conditions(child)
    elif node["type"] == "not":
        yield from segment_conditions(node["rule"])
    else:
        yield node


def condition_type(node: Mapping[str, Any], fields: Mapping[str, Any]) -> str | None:
    """The value type a field or attribute condition compares with (None: unknown name)."""
    if node.get("type") == "field":
        return SUBSCRIBER_FIELDS.get(node.get("field"))
    field = fields.get(node.get("key"))
    return field.type if field is not None else None


def _condition(node: dict, kind: str, path: str, errors: _Errors, context: RulesContext) -> None:
    name = node.get("field") if kind == "field" else node.get("key")
    value_type = condition_type(node, context.fields)
    if value_type is None:
        known = SUBSCRIBER_FIELDS if kind == "field" else context.fields
        what = "subscriber field" if kind == "field" else "custom field (define it under Subscriber fields)"
        errors.add(path, f"Unknown {what} {str(name)[:60]!r}; known: {', '.join(sorted(known)) or 'none'}.")
        return
    op = node.get("op")
    if op not in OPERATORS[value_type]:
        allowed = ", ".join(sorted(OPERATORS[value_type]))
        errors.add(path, f"Operator {str(op)[:30]!r} does not apply to {name} ({value_type}); use {allowed}.")
        return
    choices = _choices(node, kind, context)
    problem = _value_problem(value_type, op, node.get("value"), choices, has_value="value" in node)
    if problem:
        errors.add(path, f"{name}: {problem}")


def _choices(node: dict, kind: str, context: RulesContext) -> list[str]:
    if kind == "field":
        return list(SubscriberStatus.values) if node.get("field") == "status" else []
    field = context.fields.get(node.get("key"))
    return list(getattr(field, "choices", None) or [])


def _value_problem(value_type: str, op: str, value: Any, choices: list[str], *, has_value: bool) -> str:
    if op == "exists":
        return "exists takes no value." if has_value and value is not None else ""
    if op == "within_days":
        return _days_problem(value)
    if op == "in":
        if not isinstance(value, list) or not value:
            return "in takes a non-empty list."
        if len(value) > MAX_LIST_VALUES:
            return f"in takes at most {MAX_LIST_VALUES} values."
        return next((p for p in (_scalar_problem(value_type, v, choices) for v in value) if p), "")
    if op == "range":
        return _range_problem(value_type, value)
    if op == "contains" and (not isinstance(value, str) or not value):
        return "contains takes non-empty text."
    return _scalar_problem(value_type, value, choices)


def _scalar_problem(value_type: str, value: Any, choices: list[str]) -> str:
    if value_type in (FieldType.TEXT, FieldType.CHOICE):
        if not isinstance(value, str):
            return f"expected text, got {_json_type(value)}."
        if len(value) > MAX_TEXT:
            return f"text values have at most {MAX_TEXT} characters."
        if value_type == FieldType.CHOICE and value not in choices:
            return f"{value[:40]!r} is not one of {', '.join(choices)}."
        return ""
    if value_type == FieldType.NUMBER:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return f"expected a number, got {_json_type(value)}."
        # 1e400 reads as infinity and a 400-digit integer overflows a float column: both were 500s.
        if abs(value) > MAX_NUMBER or not math.isfinite(value):  # abs first: a huge int is no float
            return f"numbers are between -{MAX_NUMBER:,} and {MAX_NUMBER:,} (2^53: what JSON readers keep exactly)."
        return ""
    if value_type == FieldType.BOOLEAN:
        return "" if isinstance(value, bool) else f"expected true or false, got {_json_type(value)}."
    if value_type == FieldType.DATE:
        return "" if isinstance(value, str) and _is_date(value) else "expected a date as YYYY-MM-DD."
    return "" if datetime_bound(value, upper=False) is not None else "expected an ISO date or date-time."


def _range_problem(value_type: str, value: Any) -> str:
    if not isinstance(value, dict) or not value or set(value) - {"min", "max"}:
        return 'range takes {"min": ..., "max": ...} (either may be left out).'
    problem = next((p for p in (_scalar_problem(value_type, v, []) for v in value.values()) if p), "")
    if problem:
        return problem
    if "min" in value and "max" in value:
        low, high = value["min"], value["max"]
        if value_type == DATETIME:
            low, high = datetime_bound(low, upper=False), datetime_bound(high, upper=False)
        if low > high:
            return "range: min is greater than max."
    return ""


def _days_problem(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
        return f"within_days is a whole number of days from 1 to {MAX_DAYS}."
    return ""


def _topic(node: dict, path: str, errors: _Errors, context: RulesContext) -> None:
    if node.get("topic") not in context.topics:
        errors.add(path, f"Unknown topic {str(node.get('topic'))[:60]!r}.")
    frequencies = node.get("frequencies", [])
    allowed = [f for f in Frequency.values if f != Frequency.OFF]
    if not isinstance(frequencies, list) or any(f not in allowed for f in frequencies):
        errors.add(path, f"frequencies: a list of {', '.join(allowed)}.")
    if "channel_kind" in node and node["channel_kind"] not in personal_kinds():
        errors.add(path, f"channel_kind: one of {', '.join(personal_kinds())}.")


def _activity(node: dict, path: str, errors: _Errors, context: RulesContext) -> None:
    if node.get("action") not in ACTIONS:
        errors.add(path, f"action: one of {', '.join(ACTIONS)}.")
    if "within_days" in node and _days_problem(node["within_days"]):
        errors.add(path, _days_problem(node["within_days"]))
    if "publication" in node and "topic" in node:
        errors.add(path, "Name a publication or a topic, not both.")
    elif "publication" in node:
        pk = node["publication"]
        if isinstance(pk, bool) or not isinstance(pk, int) or not context.publication_exists(pk):
            errors.add(path, f"Unknown publication {str(pk)[:40]!r}.")
    elif "topic" in node and node["topic"] not in context.topics:
        errors.add(path, f"Unknown topic {str(node['topic'])[:60]!r}.")


def _tier(node: dict, path: str, errors: _Errors, context: RulesContext) -> None:
    tiers = node.get("tiers")
    if not isinstance(tiers, list) or not tiers or any(t not in EngagementTier.values for t in tiers):
        errors.add(path, f"tiers: a non-empty list of {', '.join(EngagementTier.values)}.")


def _soft_bounced(node: dict, path: str, errors: _Errors, context: RulesContext) -> None:
    if "within_days" in node and _days_problem(node["within_days"]):
        errors.add(path, _days_problem(node["within_days"]))


_CHECKS = {
    "topic": _topic,
    "activity": _activity,
    "engagement_tier": _tier,
    "soft_bounced": _soft_bounced,
    "never_opened": lambda node, path, errors, context: None,
}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", str: "text", list: "a list", dict: "an object"}.get(type(value), "a number")


def _is_date(value: str) -> bool:
    try:
        return len(value) == 10 and value[:4].isdigit() and parse_date(value) is not None
    except ValueError:  # the shape of a date, not a real one (2025-02-30)
        return False


def datetime_bound(value: Any, *, upper: bool) -> datetime | None:
    """An ISO date-time (naive = UTC), or a date: its start, or as an upper bound its last instant."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = parse_datetime(value)
        if moment is None:
            day = parse_date(value)
            if day is None:
                return None
            moment = datetime.combine(day, time.min)
            if upper:
                moment += timedelta(days=1) - timedelta(microseconds=1)
        # In UTC: Python accepts offsets up to ±23:59, PostgreSQL only ±15:59 (`+20:00` was a
        # 500 at query time, after the segment had been saved); a time that leaves the calendar
        # when converted (year 1 at +01:00) is refused.
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


def since(days: int | None, now: datetime) -> datetime | None:
    return now - timedelta(days=days) if days else None
