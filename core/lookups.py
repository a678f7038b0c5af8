"""`field__any=[...]`: membership with the whole list as one array parameter on PostgreSQL.

`field__in` writes one placeholder per value, and psycopg parses the statement's placeholders
again for every execution: for the tracking drain's thousand-id lookups that parsing cost more
than the queries. `= ANY(%s)` keeps the statement text short and constant whatever the list's
length. Other databases (the embedded SQLite) get the usual IN list.
"""

from __future__ import annotations

from django.db.models import Field, ForeignObject, Lookup


@Field.register_lookup
@ForeignObject.register_lookup  # relations keep lookups of their own
class AnyOf(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        values = [field.get_db_prep_value(value, connection, prepared=False) for value in self.rhs]
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", [*lhs_params, values]
        if not values:
            return "1 = 0", list(lhs_params)
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]
