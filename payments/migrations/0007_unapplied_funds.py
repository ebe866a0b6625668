"""Unapplied funds: money a provider collected for a payment that could not take it, held for
finance. A new table: no lock on the payments table."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0006_payment_link"),
    ]

    operations = [
        migrations.CreateModel(
            name="UnappliedFunds",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("payment_id", models.CharField(max_length=40)),
                ("livemode", models.BooleanField(default=False)),
                ("provider", models.CharField(max_length=40)),
                ("source_reference", models.CharField(max_length=200)),
                ("amount_minor", models.BigIntegerField(db_column="amount")),
                ("currency", models.CharField(max_length=3)),
                (
                    "reason",
                    models.CharField(
                        choices=[
                            ("amount_mismatch", "Another amount"),
                            ("currency_mismatch", "Another currency"),
                            ("not_open", "Payment no longer open"),
                            ("other_provider", "Another provider than the payment's"),
                        ],
                        max_length=20,
                    ),
                ),
                ("detail", models.CharField(blank=True, max_length=500)),
                ("ledger_transaction_id", models.BigIntegerField(blank=True, null=True)),
                ("created", models.DateTimeField(auto_now_add=True)),
                ("resolved_at", models.DateTimeField(blank=True, null=True)),
                ("resolved_by", models.CharField(blank=True, max_length=160)),
            ],
            options={
                "verbose_name_plural": "unapplied funds",
                "db_table": "payment_unapplied_funds",
                "ordering": ["-created"],
                "indexes": [models.Index(fields=["payment_id"], name="unapplied_funds_by_payment")],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("provider", "source_reference"), name="unapplied_funds_once"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("amount_minor__gt", 0)),
                        name="unapplied_funds_amount_positive",
                    ),
                ],
            },
        ),
    ]
