"""A validated segment tree becomes one SQL condition on subscribers (a Django Q).

Nothing is evaluated in Python per subscriber: groups become AND/OR/NOT, conditions become
column comparisons, jsonb operators on `attributes` (`@>` and `?` use the GIN index), or EXISTS
subqueries (subscriptions, deliveries, human engagement events, hygiene actions), which
PostgreSQL turns into semi-joins, anti-joins or hashed subplans. Callers add it to a queryset
(`subscribers.selectors.segment_subscribers` adds "mailable" too). Behaviour scoped to a
publication or a topic names its sends as a list of ids, read just before (`_ScopedSends`: at
most one small read per kind of scope, never per subscriber).

Typed attributes compare only values of their own JSON type (`jsonb_typeof`): a number field
never matches a string someone imported before the field was defined, and vice versa. The JSON
expressions have a SQLite form with the same meaning (json_sql.py), for the embedded default.
"""

from __future__ import annotations

import functools
import operator
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Exists, JSONField, OuterRef, Q, Value
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Coalesce
from django.db.models.lookups import Exact

from subscribers.engagement import engagement_tier_q
from subscribers.models import FieldType, Frequency, Subscription
from subscribers.segments.json_sql import JsonType, KeyTextIContains, attribute_equals_q
from subscribers.segments.rules import DATETIME, condition_type, datetime_bound, segment_conditions, since

DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"


def segment_q(rules: Mapping[str, Any], *, now: datetime, fields: Mapping[str, Any] | None = None) -> Q:
    """The condition of a validated tree, relative to `now` (for "within N days")."""
    if fields is None:
        from subscribers.fields import fields_by_key

        fields = fields_by_key()
    return _Compiler(now=now, fields=fields, tree=rules).node(rules)


@dataclass(frozen=True)
class _ScopedSends:
    """The ids of the sends that behaviour conditions scoped to a publication or a topic mean,
    read before the audience query (one read per kind of scope, however many conditions), so
    the query names them as a list: PostgreSQL then estimates their deliveries from the
    statistics of `send_id`, where a join to the send table left it guessing an average send,
    and a newsletter's 1,000,000 deliveries planned as 50,000 picked 180,000 index lookups."""

    publications: dict[int, list[int]]
    topics: dict[str, list[int]]

    @classmethod
    def read(cls, tree: Mapping[str, Any]) -> _ScopedSends:
        from analytics.models import SendTopic
        from channels_app.models import Send

        publication_ids, topic_slugs = set(), set()
        for node in segment_conditions(tree):
            if node["type"] == "activity" and "publication" in node:
                publication_ids.add(node["publication"])
            elif node["type"] == "activity" and "topic" in node:
                topic_slugs.add(node["topic"])
        publications, topics = defaultdict(list), defaultdict(list)
        if publication_ids:
            for send_id, publication_id in Send.objects.filter(publication_id__in=publication_ids).values_list(
                "pk", "publication_id"
            ):
                publications[publication_id].append(send_id)
        if topic_slugs:
            for send_id, slug in SendTopic.objects.filter(topic__slug__in=topic_slugs).values_list(
                "send_id", "topic__slug"
            ):
                topics[slug].append(send_id)
        return cls(publications=dict(publications), topics=dict(topics))


class _Compiler:
    def __init__(self, *, now: datetime, fields: Mapping[str, Any], tree: Mapping[str, Any]):
        self.now, self.fields, self.tree = now, fields, tree

    @functools.cached_property
    def sends_in_scope(self) -> _ScopedSends:
        return _ScopedSends.read(self.tree)

    def node(self, node: Mapping[str, Any]) -> Q:
        kind = node["type"]
        if kind in ("and", "or"):
            parts = [self.node(child) for child in node["rules"]]
            combined = parts[0]
            for part in parts[1:]:
                combined = (combined & part) if kind == "and" else (combined | part)
            return combined
        if kind == "not":
            return ~self.node(node["rule"])
        return getattr(self, kind)(node)

    # --- subscriber fields and custom attributes -----------------------------------------------
    def field(self, node: Mapping[str, Any]) -> Q:
        name, op, value = node["field"], node["op"], node.get("value")
        value_type = condition_type(node, self.fields)
        if value_type == DATETIME:
            return _datetime_q(name, op, value, self.now)
        if op == "exists":
            if value_type == FieldType.NUMBER:
                return Q(**{f"{name}__isnull": False})
            return ~Q(**{name: ""})
        if op == "contains":
            return Q(**{f"{name}__icontains": value})
        if op == "in":
            return Q(**{f"{name}__in": value})
        if op == "range":
            return _range_q(name, value)
        return Q(**{name: value})

    def attribute(self, node: Mapping[str, Any]) -> Q:
        key, op, value = node["key"], node["op"], node.get("value")
        value_type = condition_type(node, self.fields)
        if op == "exists":
            present = Q(attributes__has_key=key)
            return present & ~attribute_equals_q(key, "") & ~attribute_equals_q(key, None)
        if op == "eq":
            return attribute_equals_q(key, value)
        if op == "in":
            return _any(attribute_equals_q(key, v) for v in value)
        if op == "contains":
            key_value = KeyTransform(key, "attributes")
            return _typed(key, "string") & Q(KeyTextIContains(key_value, value))
        # range: numbers compare as jsonb numbers, dates as ISO strings (same order as the dates)
        bounds = _key_lookup(key, "gte", value["min"]) if "min" in value else Q()
        if "max" in value:
            bounds &= _key_lookup(key, "lte", value["max"])
        if value_type == FieldType.NUMBER:
            return _typed(key, "number") & bounds
        return _typed(key, "string") & _key_lookup(key, "regex", DATE_PATTERN) & bounds

    # --- relations: subscriptions and behaviour ------------------------------------------------
    def topic(self, node: Mapping[str, Any]) -> Q:
        frequencies = node.get("frequencies") or [f for f in Frequency.values if f != Frequency.OFF]
        rows = Subscription.objects.filter(
            subscriber=OuterRef("pk"), topic__slug=node["topic"], frequency__in=list(frequencies)
        )
        if node.get("channel_kind"):
            rows = rows.filter(channel_kind=node["channel_kind"])
        return Q(Exists(rows))

    def activity(self, node: Mapping[str, Any]) -> Q:
        from analytics.models import SubscriberEngagement
        from channels_app.models import HANDED_OVER, Delivery

        cutoff = since(node.get("within_days"), self.now)
        action = node["action"]
        scope = {}
        if "publication" in node:
            scope["send_id__in"] = self.sends_in_scope.publications.get(node["publication"], [])
        elif "topic" in node:
            scope["send_id__in"] = self.sends_in_scope.topics.get(node["topic"], [])
        if action == "sent":
            rows = Delivery.objects.filter(subscriber=OuterRef("pk"), state__in=HANDED_OVER, **scope)
            return Q(Exists(rows.filter(sent_at__gte=cutoff) if cutoff else rows.filter(sent_at__isnull=False)))
        column = "last_open_at" if action == "opened" else "last_click_at"
        if not scope:
            # Any message: the subscriber's last human open/click, kept by analytics (to the hour).
            condition = {f"{column}__gte": cutoff} if cutoff else {f"{column}__isnull": False}
            return Q(Exists(SubscriberEngagement.objects.filter(subscriber=OuterRef("pk"), **condition)))
        return Q(Exists(self._events(action, cutoff, scope)))

    def _events(self, action: str, cutoff: datetime | None, scope: dict):
        from analytics.models import EngagementEvent

        kind = EngagementEvent.Kind.OPEN if action == "opened" else EngagementEvent.Kind.CLICK
        rows = EngagementEvent.objects.filter(
            kind=kind,
            is_machine=False,
            delivery__subscriber=OuterRef("pk"),
            **{f"delivery__{k}": v for k, v in scope.items()},
        )
        return rows.filter(occurred_at__gte=cutoff) if cutoff else rows

    def engagement_tier(self, node: Mapping[str, Any]) -> Q:
        return _any(engagement_tier_q(tier, now=self.now) for tier in node["tiers"])

    def soft_bounced(self, node: Mapping[str, Any]) -> Q:
        from analytics.models import HygieneAction

        rows = HygieneAction.objects.filter(subscriber=OuterRef("pk"), kind=HygieneAction.Kind.SOFT_BOUNCE)
        cutoff = since(node.get("within_days"), self.now)
        return Q(Exists(rows.filter(created_at__gte=cutoff) if cutoff else rows))

    def never_opened(self, node: Mapping[str, Any]) -> Q:
        from analytics.models import SubscriberEngagement

        opened = SubscriberEngagement.objects.filter(subscriber=OuterRef("pk"), last_open_at__isnull=False)
        return ~Q(Exists(opened))


def _any(parts) -> Q:
    return functools.reduce(operator.or_, parts)


def _typed(key: str, json_type: str) -> Q:
    """The key holds a value of this JSON type. Never NULL (a missing key is "missing"), so the
    conditions it guards are plain true or false and a NOT around them means what it says."""
    return Q(Exact(Coalesce(JsonType(KeyTransform(key, "attributes")), Value("missing")), json_type))


def _key_lookup(key: str, lookup: str, value: Any) -> Q:
    """`attributes -> key <lookup> value` built from expressions, so no key can be read as a
    lookup name the way `attributes__<key>__gte` would read a key called "contains"."""
    lhs = KeyTransform(key, "attributes")
    if lookup in ("gte", "lte"):  # jsonb against jsonb: numbers as numbers, dates as JSON strings
        value = Value(value, output_field=JSONField())
    return Q(lhs.get_lookup(lookup)(lhs, value))


def _range_q(lhs: str, value: Mapping[str, Any]) -> Q:
    condition = Q()
    if "min" in value:
        condition &= Q(**{f"{lhs}__gte": value["min"]})
    if "max" in value:
        condition &= Q(**{f"{lhs}__lte": value["max"]})
    return condition


def _datetime_q(name: str, op: str, value: Any, now: datetime) -> Q:
    if op == "exists":
        return Q(**{f"{name}__isnull": False})
    if op == "within_days":
        return Q(**{f"{name}__gte": now - timedelta(days=value)})
    condition = Q()
    if "min" in value:
        condition &= Q(**{f"{name}__gte": datetime_bound(value["min"], upper=False)})
    if "max" in value:
        condition &= Q(**{f"{name}__lte": datetime_bound(value["max"], upper=True)})
    return condition
