from django.db import migrations

from core.partition_migration import convert_if_small


class Migration(migrations.Migration):
    """Partition the delivery table by month if it is small (else: manage.py partition_tables).
    After analytics dropped the foreign keys pointing at it."""

    dependencies = [
        ("channels_app", "0014_delivery_period"),
        ("analytics", "0005_event_partition_keys"),
    ]

    operations = [convert_if_small("channels_app.partitions.DELIVERIES")]
