"""Attribute rules against every awkward JSON value, on whichever database this run uses (CI:
PostgreSQL; test_segments_on_sqlite.py runs this module again on SQLite). SQLite's JSON reads
true/false as 1/0, keeps integers and reals apart and compares strings with numbers, and its
LIKE folds only ASCII letters: the SQL must still select exactly what the oracle (jsonb's
meaning) selects, with and without a NOT around the rule."""

from __future__ import annotations

import pytest
from django.utils import timezone

from subscribers.models import Subscriber, SubscriberField
from subscribers.segments.compile import segment_q
from subscribers.segments.rules import RulesContext, segment_rules_validate
from tests.factories import SubscriberFactory
from tests.subscribers.segment_oracle import Person, evaluate

pytestmark = pytest.mark.django_db

FIELDS = {"n": "number", "t": "text", "b": "boolean", "d": "date"}
MISSING = object()
STORED = [
    MISSING, None, True, False, 0, 1, 1.0, 5, 5.5, -2, "1", "5", "", "true",
    "Äpfel", "äpfel 50%", "a_b", "axb", "2026-01-15", "2026-12-31", "2026-1-5", ["x"], {"a": 1}, [5],
]  # fmt: skip
RULES = [
    ("n", "eq", 5), ("n", "eq", 1), ("n", "eq", 1.0), ("n", "eq", 5.5), ("n", "in", [1, 5]), ("n", "eq", 0),
    ("n", "range", {"min": 1}), ("n", "range", {"max": 5}), ("n", "range", {"min": 1.0, "max": 5.5}),
    ("n", "exists", None),
    ("t", "eq", "5"), ("t", "eq", ""), ("t", "eq", "true"), ("t", "in", ["1", "Äpfel"]), ("t", "contains", "äP"),
    ("t", "contains", "0%"), ("t", "contains", "a_b"), ("t", "contains", "_"), ("t", "contains", "1"),
    ("t", "exists", None),
    ("b", "eq", True), ("b", "eq", False), ("b", "exists", None),
    ("d", "eq", "2026-01-15"), ("d", "range", {"min": "2026-01-01"}), ("d", "range", {"max": "2026-06-30"}),
    ("d", "exists", None),
]  # fmt: skip


@pytest.fixture
def people():
    for key, kind in FIELDS.items():
        SubscriberField.objects.create(key=key, label=key, type=kind)
    people = []
    for value in STORED:
        attributes = {} if value is MISSING else dict.fromkeys(FIELDS, value)
        subscriber = SubscriberFactory(attributes=attributes)
        people.append(Person(pk=subscriber.pk, columns={}, attributes=dict(subscriber.attributes)))
    return people


@pytest.mark.parametrize(("key", "op", "value"), RULES)
def test_an_attribute_rule_selects_what_jsonb_means_whatever_the_stored_json(people, key, op, value):
    fields = {f.key: f for f in SubscriberField.objects.all()}
    rule = {"type": "attribute", "key": key, "op": op} | ({} if op == "exists" else {"value": value})
    segment_rules_validate(rule, context=RulesContext(fields=fields, topics=set(), publication_ids=set()))
    now = timezone.now()
    for tree in (rule, {"type": "not", "rule": rule}):
        expected = {p.pk for p in people if evaluate(tree, p, FIELDS, now)}
        got = set(Subscriber.objects.filter(segment_q(tree, now=now, fields=fields)).values_list("pk", flat=True))
        assert got == expected, tree
    assert 0 < len({p.pk for p in people if evaluate(rule, p, FIELDS, now)}) < len(people), rule  # not degenerate
