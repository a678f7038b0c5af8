"""Bulk inserts for imports: one statement per chunk, conflicts skipped.

PostgreSQL gets `INSERT … SELECT … FROM unnest(%s::type[], …) ON CONFLICT DO NOTHING RETURNING …`
(SPEC §3): the rows travel as one array per column, so a 5,000-row chunk costs one round trip
and no per-row SQL building, and the database tells us exactly which rows it inserted. Other
databases (SQLite for the embedded default) use bulk_create(ignore_conflicts=True).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django.db import connection, models
from django.utils import timezone


def bulk_insert_ignore(
    model: type[models.Model],
    *,
    columns: dict[str, Sequence[Any]],
    constants: dict[str, Any] | None = None,
    returning: Sequence[str] = (),
) -> list[tuple] | None:
    """Insert one row per position of the `columns` lists, with `constants` (and model defaults)
    for every other field; rows breaking a unique constraint are skipped. Returns the `returning`
    values of the inserted rows on PostgreSQL, None elsewhere (read them back if needed)."""
    constants = constants or {}
    size = len(next(iter(columns.values()), []))
    if size == 0:
        return []
    if connection.vendor != "postgresql":
        names = list(columns)
        objects = [
            model(**dict(zip(names, values, strict=True)), **constants)
            for values in zip(*columns.values(), strict=True)
        ]
        model.objects.bulk_create(objects, ignore_conflicts=True)
        return None
    return _postgres_insert(model, columns, _with_defaults(model, columns, constants), returning)


def _with_defaults(model: type[models.Model], columns: dict[str, Sequence[Any]], constants: dict[str, Any]) -> dict:
    """Every other concrete field gets what Model(**constants) would save: defaults, auto_now times."""
    template, now, values = model(**constants), timezone.now(), {}
    for field in model._meta.concrete_fields:
        if field.primary_key or field.name in columns or field.attname in columns:
            continue
        value = getattr(template, field.attname)
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            value = value or now
        values[field.attname] = field.get_db_prep_save(value, connection)
    return values


def _postgres_insert(model, columns, constants, returning) -> list[tuple]:
    quote = connection.ops.quote_name
    opts = model._meta
    fields = [opts.get_field(name) for name in columns]
    constant_fields = [opts.get_field(name) for name in constants]
    array_params = [
        [json.dumps(v) for v in values] if isinstance(field, models.JSONField) else list(values)
        for field, values in zip(fields, columns.values(), strict=True)
    ]
    unnest = ", ".join(f"%s::{_element_type(field)}[]" for field in fields)
    aliases = [f"c{i}" for i in range(len(fields))]
    select = [f"t.{alias}::{field.db_type(connection)}" for alias, field in zip(aliases, fields, strict=True)]
    select += [f"%s::{field.db_type(connection)}" for field in constant_fields]
    target = ", ".join(quote(field.column) for field in [*fields, *constant_fields])
    # Identifiers come from model metadata (quoted); every value is a query parameter.
    table = quote(opts.db_table)
    rows = f"SELECT {', '.join(select)} FROM unnest({unnest}) AS t({', '.join(aliases)})"  # noqa: S608
    sql = f"INSERT INTO {table} ({target}) {rows} ON CONFLICT DO NOTHING"  # noqa: S608
    if returning:
        sql += " RETURNING " + ", ".join(quote(opts.get_field(name).column) for name in returning)
    with connection.cursor() as cursor:
        # Placeholders in text order: the constants (SELECT list) come before the arrays (FROM).
        cursor.execute(sql, [*constants.values(), *array_params])
        return cursor.fetchall() if returning else []


def _element_type(field: models.Field) -> str:
    return "text" if isinstance(field, models.JSONField) else field.db_type(connection)
