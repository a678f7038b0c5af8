import django.db.models.deletion
from django.db import migrations, models

from core.partition_migration import InlineOnly, convert_if_small

TABLE = "analytics_engagementevent"


class Migration(migrations.Migration):
    """Foreign keys to deliveries lose their database constraint (the delivery table is about
    to be partitioned), events dedupe on (dedupe_key, occurred_at), and the event table is
    partitioned by month if it is small (else: manage.py partition_tables)."""

    dependencies = [
        ("analytics", "0004_notification_dead_status"),
        ("channels_app", "0014_delivery_period"),
    ]

    operations = [
        migrations.AlterField(
            model_name="engagementevent",
            name="delivery",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="events",
                to="channels_app.delivery",
            ),
        ),
        migrations.AlterField(
            model_name="deliveryengagement",
            name="delivery",
            field=models.OneToOneField(
                db_constraint=False,
                on_delete=django.db.models.deletion.CASCADE,
                primary_key=True,
                related_name="engagement",
                serialize=False,
                to="channels_app.delivery",
            ),
        ),
        migrations.AlterField(
            model_name="hygieneaction",
            name="delivery",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="channels_app.delivery",
            ),
        ),
        InlineOnly(
            TABLE,
            migrations.AlterField(
                model_name="engagementevent",
                name="dedupe_key",
                field=models.CharField(blank=True, max_length=200, null=True),
            ),
        ),
        InlineOnly(
            TABLE,
            migrations.AddConstraint(
                model_name="engagementevent",
                constraint=models.UniqueConstraint(fields=("dedupe_key", "occurred_at"), name="event_dedupe_unique"),
            ),
        ),
        convert_if_small("analytics.services.partitions.EVENTS"),
    ]
