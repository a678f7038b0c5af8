"""Filters for API query parameters: strict about what the schema says, within PostgreSQL's limits."""

from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField


class UTCIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time converted to UTC before it reaches a query.

    Python accepts offsets up to ±23:59, PostgreSQL only up to ±15:59: `+20:00` was a DataError
    (a 500). In UTC every offset Python parses is fine; a time that leaves the calendar when
    converted (year 1 at +01:00) is a field error.
    """

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")


class UTCIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCIsoDateTimeField


class StrictFilterSet(django_filters.FilterSet):
    """A parameter given blank (`?created_after=`) is an error unless it is text: django-filter
    reads it as "no filter", while the schema says a date-time (or a choice) is expected."""

    def is_valid(self) -> bool:
        valid = super().is_valid()
        for name, filter_ in self.filters.items():
            if isinstance(filter_, django_filters.CharFilter) or name not in self.data:
                continue
            if "" in self.data.getlist(name):
                self.form.add_error(name, "Give a value, or leave the parameter out.")
                valid = False
        return valid
