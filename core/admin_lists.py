"""Admin lists that stay fast on big tables (a million subscribers, tens of millions of
deliveries): no COUNT(*) over the whole table on each page, and search on indexed columns only.

- Unfiltered, the count is PostgreSQL's own estimate (pg_class.reltuples, kept by autovacuum).
- Filtered or searched, rows are counted up to a cap (COUNT over a LIMITed subquery), so the
  count costs at most CAP rows; the list says "10,000+" beyond it.
- Elsewhere (the embedded SQLite) lists are small: Django's own count.
"""

from __future__ import annotations

from functools import cached_property

from django.conf import settings
from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections

COUNT_CAP = 10_000


def estimated_rows(*, table: str, using: str = "default") -> int | None:
    """The planner's row estimate of a table; None before its first ANALYZE (reltuples -1)."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", [table])
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] is not None and row[0] >= 0 else None


class EstimatedCountPaginator(Paginator):
    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        connection = connections[queryset.db]
        if connection.vendor != "postgresql":
            return super().count
        if not queryset.query.where:
            estimate = estimated_rows(table=queryset.model._meta.db_table, using=queryset.db)
            if estimate is not None:
                return estimate
        return queryset.order_by()[: COUNT_CAP + 1].count()


class FastChangeListMixin:
    """For a ModelAdmin of a big table. `indexed_search` maps a search term to a filter that an
    index answers (or None: no match); search_fields then only feeds the search box's presence."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def indexed_search(self, queryset, term: str):  # pragma: no cover - each admin says its own
        raise NotImplementedError

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        matched = self.indexed_search(queryset, term)
        return (matched if matched is not None else queryset.none()), False


class LanguageListFilter(admin.SimpleListFilter):
    """A `locale` filter offering the configured languages: Django's default for a plain
    CharField lists its values with a SELECT DISTINCT over the whole table."""

    title = "locale"
    parameter_name = "locale"

    def lookups(self, request, model_admin):
        return list(settings.LANGUAGES)

    def queryset(self, request, queryset):
        return queryset.filter(locale=self.value()) if self.value() else queryset
