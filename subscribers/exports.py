"""Streamed CSV export of any admin changelist (filters, search and ordering kept).

Cells are escaped against spreadsheet formula injection (OWASP "CSV injection"): a cell
starting with = + - @ tab or CR gets a leading apostrophe.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.urls import path
from django.utils import timezone

from subscribers.validators import csv_escape


class _Echo:
    """csv.writer writes into this and gets the line back, so rows stream without a buffer."""

    def write(self, value: str) -> str:
        return value


def csv_stream_response(
    *, filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield "\ufeff"  # BOM: spreadsheets then read the file as UTF-8
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([csv_escape(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class CsvExportAdminMixin:
    """An "Export CSV" button on the changelist (the filtered list, every page) and an action
    for selected rows. Override `csv_export_fields` / `csv_export_row` for other columns."""

    change_list_template = "admin/csv_export_change_list.html"
    csv_export_fields: Sequence[str] | None = None
    csv_export_chunk_size = 2000

    def get_csv_export_fields(self) -> list[str]:
        if self.csv_export_fields is not None:
            return list(self.csv_export_fields)
        skip = (models.BinaryField, models.ManyToManyField)
        return [f.attname for f in self.model._meta.concrete_fields if not isinstance(f, skip)]

    def csv_export_row(self, obj: models.Model, fields: list[str]) -> list[Any]:
        return [getattr(obj, name) for name in fields]

    def get_urls(self):
        opts = self.model._meta
        name = f"{opts.app_label}_{opts.model_name}_export"
        export = path("export.csv", self.admin_site.admin_view(self.csv_export_view), name=name)
        return [export, *super().get_urls()]

    def csv_export_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseBadRequest("Unknown filter in the export link.")
        return self.csv_export_response(changelist.get_queryset(request))

    @admin.action(description="Export selected to CSV")
    def export_selected_csv(self, request: HttpRequest, queryset: models.QuerySet) -> HttpResponse:
        return self.csv_export_response(queryset)

    def csv_export_response(self, queryset: models.QuerySet) -> StreamingHttpResponse:
        fields = self.get_csv_export_fields()
        rows = (self.csv_export_row(obj, fields) for obj in queryset.iterator(chunk_size=self.csv_export_chunk_size))
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        return csv_stream_response(filename=f"{self.model._meta.model_name}-{stamp}.csv", header=fields, rows=rows)
