"""An index of a card payment's last four digits for the back office's search (payments/admin.py),
built CONCURRENTLY: the payments table takes writes all the time. A concurrent build that fails
leaves an INVALID index of that name behind; drop it (DROP INDEX CONCURRENTLY
payments_card_last4) before migrating again."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models
from django.db.models.fields.json import KeyTextTransform


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("merchants", "0003_fk_indexes_led_by_composites"),
        ("payments", "0003_fk_indexes_led_by_composites"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="payment",
            index=models.Index(
                KeyTextTransform("last4", "method_details"), name="payments_card_last4"
            ),
        ),
    ]
