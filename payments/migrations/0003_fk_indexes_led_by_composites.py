import django.db.models.deletion
from django.db import migrations, models

from core.migration_operations import DropForeignKeyIndex


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY

    dependencies = [
        ("merchants", "0003_fk_indexes_led_by_composites"),
        ("payments", "0002_drop_like_indexes"),
    ]

    operations = [
        # payments_list (merchant, livemode, created) leads with merchant_id.
        DropForeignKeyIndex(
            model_name="payment",
            name="merchant",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="payments",
                to="merchants.merchant",
            ),
        ),
        # payment_events_by_payment (payment, created) leads with payment_id.
        DropForeignKeyIndex(
            model_name="paymentevent",
            name="payment",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="events",
                to="payments.payment",
            ),
        ),
    ]
