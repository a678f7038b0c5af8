"""Indexes that only PostgreSQL has, degrading to a plain index elsewhere (the embedded SQLite
default), so one migration runs on both."""

from __future__ import annotations

from django.contrib.postgres.indexes import GinIndex
from django.db import models


class PortableGinIndex(GinIndex):
    """GIN on PostgreSQL (jsonb `@>` and `?` use it); a plain index on other databases."""

    def create_sql(self, model, schema_editor, using="", **kwargs):
        if schema_editor.connection.vendor != "postgresql":
            return models.Index.create_sql(self, model, schema_editor, using=using, **kwargs)
        return super().create_sql(model, schema_editor, using=using, **kwargs)

    def check_supported(self, schema_editor) -> None:
        return None
