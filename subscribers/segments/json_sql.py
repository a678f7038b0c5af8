"""The JSON conditions segments put on `Subscriber.attributes`, per database.

PostgreSQL keeps its jsonb operators (`@>` uses the GIN index the segment bench relies on) and
SQL that does not change; SQLite (the embedded default of `make run`) gets conditions with the
same meaning from its JSON1 functions. SQLite names types differently (integer/real, text,
true/false) and its json_extract turns true/false into 1/0, so comparisons check the type first:
a number never equals the string "5", true never equals 1, 5 equals 5.0, as in jsonb.

Keys reach SQLite only inside a JSON path passed as a parameter (Django's `compile_json_path`,
which quotes the key as a JSON string), never in the SQL text.
"""

from __future__ import annotations

import re
from typing import Any

from django.db.models import CharField, F, Func, Q
from django.db.models.fields.json import DataContains, KeyTransform, KeyTransformIContains, compile_json_path

# jsonb_typeof's names for the types SQLite's json_type reports.
_SQLITE_TYPE_NAMES = {"integer": "number", "real": "number", "text": "string", "true": "boolean", "false": "boolean"}


def _sqlite_json_types(value: Any) -> tuple[str, ...]:
    """The SQLite json_type names a value of this JSON type may be stored as."""
    if value is True:
        return ("true",)
    if value is False:
        return ("false",)
    if value is None:
        return ("null",)
    if isinstance(value, (int, float)):
        return ("integer", "real")
    return ("text",)


def _sqlite_path(key_transform: KeyTransform, compiler, connection) -> tuple[str, list, str]:
    """The JSON column's SQL, its params and the JSON path of the key (a parameter)."""
    lhs, params, keys = key_transform.preprocess_lhs(compiler, connection)
    return lhs, list(params), compile_json_path(keys)


class JsonType(Func):
    """The JSON type of `column -> key` named as jsonb_typeof names it (number, string, boolean,
    null, object, array), NULL when the key is missing. Takes a KeyTransform."""

    function = "jsonb_typeof"
    output_field = CharField()

    def as_sqlite(self, compiler, connection, **extra_context):
        lhs, params, path = _sqlite_path(self.source_expressions[0], compiler, connection)
        cases = " ".join(f"WHEN '{sqlite}' THEN '{name}'" for sqlite, name in _SQLITE_TYPE_NAMES.items())
        sql = f"(CASE JSON_TYPE({lhs}, %s) {cases} ELSE JSON_TYPE({lhs}, %s) END)"
        return sql, (*params, path, *params, path)


class AttributeEquals(DataContains):
    """`column[key]` is this JSON scalar, built as `AttributeEquals(F(column), {key: value})`.

    PostgreSQL: `column @> {key: value}` (jsonb containment, unchanged SQL). SQLite: the stored
    type is one the value's JSON type is stored as, and for text and numbers the extracted value
    equals it; never NULL (a missing key is false), so a NOT around it means what it says."""

    def __init__(self, lhs, rhs: dict[str, Any]):
        self.pair = rhs
        super().__init__(lhs, rhs)

    def resolve_expression(self, *args, **kwargs):
        # Built on F(column), the value could not be prepared by the column's JSONField at
        # construction (Django wraps it in a bare Value); prepare it now, as `column__contains` does.
        resolved = super().resolve_expression(*args, **kwargs)
        resolved.rhs = self.pair
        resolved.rhs = resolved.get_prep_lookup()
        return resolved

    def as_sqlite(self, compiler, connection):
        ((key, value),) = self.pair.items()
        lhs, params = self.process_lhs(compiler, connection)
        path = compile_json_path([key])
        types = _sqlite_json_types(value)
        placeholders = ", ".join(["%s"] * len(types))
        sql = f"COALESCE(JSON_TYPE({lhs}, %s), 'missing') IN ({placeholders})"
        params = [*params, path, *types]
        if value is None or isinstance(value, bool):
            return f"({sql})", params
        lhs_again, params_again = self.process_lhs(compiler, connection)
        return f"({sql} AND JSON_EXTRACT({lhs_again}, %s) = %s)", [*params, *params_again, path, value]


def attribute_equals_q(key: str, value: Any, column: str = "attributes") -> Q:
    """`column[key]` is this JSON scalar (jsonb `@>` on PostgreSQL, GIN-indexed)."""
    return Q(AttributeEquals(F(column), {key: value}))


class KeyTextIContains(KeyTransformIContains):
    """`column -> key` contains this text, ignoring case. On PostgreSQL Django's lookup
    (UPPER ... LIKE UPPER, Unicode-aware); SQLite's LIKE folds only ASCII letters, so there the
    test is Django's registered REGEXP (Python's re) with the escaped text, case-insensitive."""

    def as_sqlite(self, compiler, connection):
        lhs, params, path = _sqlite_path(self.lhs, compiler, connection)
        pattern = "(?i)" + re.escape(self.rhs)
        return f"(JSON_EXTRACT({lhs}, %s) REGEXP %s)", [*params, path, pattern]
