"""Bank transfers and QR payments: the customer's payment reference (unique where set) and the
payment link a payment was made from. The columns are added with a constant default (no table
rewrite); their indexes are built CONCURRENTLY, since the payments table takes writes all the
time. A concurrent build that fails leaves an INVALID index behind; drop it (DROP INDEX
CONCURRENTLY <name>) before migrating again."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models
from django.db.models import Q


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [
        ("payments", "0004_card_last4_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="payment",
            name="reference",
            field=models.CharField(blank=True, max_length=35, default=""),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="payment",
            name="payment_link_id",
            field=models.CharField(blank=True, max_length=40, default=""),
            preserve_default=False,
        ),
        AddIndexConcurrently(
            model_name="payment",
            index=models.Index(fields=["payment_link_id"], name="payments_by_link"),
        ),
        # A partial unique constraint is a unique index in PostgreSQL: built concurrently here,
        # declared to Django's state as the constraint.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddConstraint(
                    model_name="payment",
                    constraint=models.UniqueConstraint(
                        condition=~Q(reference=""),
                        fields=("reference",),
                        name="payments_reference_unique",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql="CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS payments_reference_unique "
                    "ON payments (reference) WHERE NOT (reference = '')",
                    reverse_sql="DROP INDEX CONCURRENTLY IF EXISTS payments_reference_unique",
                ),
            ],
        ),
    ]
