import datetime

from django.db import migrations, models

import channels_app.models
from core.partition_migration import InlineOnly

TABLE = "channels_app_delivery"

# Existing rows get their send's month. On a large PostgreSQL table this UPDATE is skipped
# (it would rewrite every row): `manage.py partition_tables` computes period while it copies.
FILL = """
UPDATE channels_app_delivery SET period = (
    SELECT {month} FROM channels_app_send s WHERE s.id = channels_app_delivery.send_id
)
"""


def fill_period(apps, schema_editor):
    postgresql = schema_editor.connection.vendor == "postgresql"
    month = "date_trunc('month', s.created_at AT TIME ZONE 'UTC')::date" if postgresql else (
        "date(s.created_at, 'start of month')"
    )
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(FILL.format(month=month))


class Migration(migrations.Migration):

    dependencies = [
        ("channels_app", "0013_warmup_plans"),
    ]

    operations = [
        # Instant on PostgreSQL 11+ (a constant default is not written to existing rows).
        migrations.AddField(
            model_name="delivery",
            name="period",
            field=channels_app.models.DeliveryPeriodField(
                default=datetime.date(1970, 1, 1),
                editable=False,
                help_text="The month of its send (the partition key).",
            ),
            preserve_default=False,
        ),
        InlineOnly(TABLE, migrations.RunPython(fill_period, migrations.RunPython.noop)),
        InlineOnly(TABLE, migrations.RemoveConstraint(model_name="delivery", name="delivery_unique_per_recipient")),
        InlineOnly(
            TABLE,
            migrations.AddConstraint(
                model_name="delivery",
                constraint=models.UniqueConstraint(
                    fields=("send", "channel", "recipient_key", "period"), name="delivery_unique_per_recipient"
                ),
            ),
        ),
    ]
