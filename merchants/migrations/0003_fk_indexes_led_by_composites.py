import django.db.models.deletion
from django.db import migrations, models

from core.migration_operations import DropForeignKeyIndex


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY

    dependencies = [("merchants", "0002_drop_like_indexes")]

    operations = [
        # idempotency_key_unique_per_merchant (merchant, livemode, key) leads with merchant_id.
        DropForeignKeyIndex(
            model_name="idempotencykey",
            name="merchant",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                to="merchants.merchant",
            ),
        ),
    ]
