"""The delivery table's monthly partitions (PostgreSQL; see core.partitioning, docs/partitioning.md)."""

from __future__ import annotations

from core.partitioning import MonthlyTable

# Delivery.period of the send `{send_id}` (an SQL expression), for SQL that inserts deliveries
# without the send at hand: the same value as Send.delivery_period.
PERIOD_OF_SEND_SQL = (
    "(SELECT date_trunc('month', s.created_at AT TIME ZONE 'UTC')::date FROM channels_app_send s "
    "WHERE s.id = {send_id})"
)

DELIVERIES = MonthlyTable(
    table="channels_app_delivery",
    key="period",
    # Converting a large install's table: its rows' period comes from their send, whatever the
    # column holds (the migration gave rows of before the upgrade a placeholder).
    key_from_row=PERIOD_OF_SEND_SQL.format(send_id="{row}.send_id"),
    unique_name="delivery_unique_per_recipient",
    first_month_sql="SELECT min(created_at) FROM channels_app_send",
)
