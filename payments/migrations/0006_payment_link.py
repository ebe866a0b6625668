"""Payment links (a hosted page and its QR code for one payment) and the publishable key our
hosted pages give the vault's card fields, per merchant and mode. New tables: no lock on the
payments table."""

import django.db.models.deletion
from django.db import migrations, models

import core.ids


class Migration(migrations.Migration):
    dependencies = [
        ("merchants", "0003_fk_indexes_led_by_composites"),
        ("payments", "0005_collection_methods"),
    ]

    operations = [
        migrations.CreateModel(
            name="HostedPageKey",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("livemode", models.BooleanField(default=False)),
                ("api_key_id", models.CharField(max_length=40)),
                ("publishable_key", models.CharField(max_length=100)),
                ("created", models.DateTimeField(auto_now_add=True)),
                (
                    "merchant",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        to="merchants.merchant",
                    ),
                ),
            ],
            options={
                "db_table": "hosted_page_keys",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("merchant", "livemode"), name="hosted_page_key_per_mode"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="PaymentLink",
            fields=[
                (
                    "id",
                    core.ids.PrefixedIdField(
                        editable=False,
                        max_length=40,
                        prefix="plink",
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("livemode", models.BooleanField(default=False)),
                ("amount_minor", models.BigIntegerField(db_column="amount")),
                ("currency", models.CharField(max_length=3)),
                ("description", models.CharField(blank=True, max_length=1000)),
                ("methods", models.JSONField(default=list)),
                ("expires_at", models.DateTimeField()),
                ("deactivated_at", models.DateTimeField(blank=True, null=True)),
                ("created", models.DateTimeField(auto_now_add=True)),
                (
                    "merchant",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="payment_links",
                        to="merchants.merchant",
                    ),
                ),
            ],
            options={
                "db_table": "payment_links",
                "ordering": ["-created"],
                "indexes": [
                    models.Index(
                        fields=["merchant", "livemode", "-created"], name="payment_links_list"
                    )
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("amount_minor__gt", 0)),
                        name="payment_link_amount_positive",
                    )
                ],
            },
        ),
    ]
