"""Keeping DeliveryCount small: the triggers append, compaction folds.

Each statement that changes deliveries appends a row per cell it changed, so a 100,000-recipient
send leaves a few thousand rows behind while it runs. Folding a send's rows into one per
(channel, state) keeps reads to a handful of rows. It is safe beside running writers: the DELETE
takes only rows committed before it started, and the INSERT puts back their sums in the same
transaction, so every total is the same before, during (to readers) and after.
"""

from __future__ import annotations

from django.db import connection, transaction

# Sends with more rows than this get folded; fewer is already cheap to read.
FOLD_ABOVE = 32

_FOLD = """
WITH folded AS (
    DELETE FROM channels_app_deliverycount
    WHERE send_id IN (
        SELECT send_id FROM channels_app_deliverycount GROUP BY send_id HAVING count(*) > %s
    )
    RETURNING send_id, channel_id, state, n
)
INSERT INTO channels_app_deliverycount (send_id, channel_id, state, n)
SELECT send_id, channel_id, state, sum(n) FROM folded GROUP BY 1, 2, 3 HAVING sum(n) <> 0
"""

_ORPHANS = """
DELETE FROM channels_app_deliverycount AS c
WHERE NOT EXISTS (SELECT 1 FROM channels_app_send AS s WHERE s.id = c.send_id)
"""


def delivery_counts_compact(*, fold_above: int = FOLD_ABOVE) -> dict[str, int]:
    """Fold busy sends' count rows and drop those of deleted sends. PostgreSQL only (elsewhere
    there are no count rows)."""
    if connection.vendor != "postgresql":
        return {"folded": 0, "orphans": 0}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_FOLD, [fold_above])
        folded = cursor.rowcount
        cursor.execute(_ORPHANS)
        orphans = cursor.rowcount
    return {"folded": folded, "orphans": orphans}
