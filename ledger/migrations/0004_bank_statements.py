"""ledger: bank statements, their lines and finance's manual decisions (append-only)."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

# Finance's decisions are evidence: PostgreSQL refuses to change or delete one (LG001).
DECISIONS_APPEND_ONLY = """
CREATE TRIGGER ledger_manualdecision_append_only BEFORE UPDATE OR DELETE ON ledger_manualdecision
    FOR EACH ROW EXECUTE FUNCTION ledger_forbid_change();
"""
DROP_DECISIONS_APPEND_ONLY = (
    "DROP TRIGGER ledger_manualdecision_append_only ON ledger_manualdecision"
)


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0003_sale"),
    ]

    operations = [
        migrations.CreateModel(
            name="BankStatement",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("livemode", models.BooleanField()),
                (
                    "format",
                    models.CharField(
                        choices=[
                            ("camt053", "camt.053 (ISO 20022 XML)"),
                            ("mt940", "MT940 (SWIFT)"),
                            ("synthetic", "Synthetic (test mode)"),
                        ],
                        max_length=12,
                    ),
                ),
                ("account_iban", models.CharField(max_length=34)),
                ("currency", models.CharField(blank=True, max_length=3)),
                ("bank_statement_id", models.CharField(blank=True, max_length=140)),
                ("filename", models.CharField(blank=True, max_length=255)),
                ("raw", models.BinaryField()),
                ("sha256", models.CharField(max_length=64, unique=True)),
                ("entries_count", models.PositiveIntegerField(default=0)),
                ("duplicates_count", models.PositiveIntegerField(default=0)),
                ("imported_by", models.CharField(max_length=160)),
                ("imported_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                "ordering": ["-imported_at", "-id"],
                "permissions": [
                    ("import_bank_statement", "Can upload bank statements"),
                    ("match_bank_credit", "Can match bank credits to payments"),
                ],
            },
        ),
        migrations.CreateModel(
            name="StatementLine",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("livemode", models.BooleanField()),
                ("account_iban", models.CharField(max_length=34)),
                ("entry_key", models.CharField(max_length=200)),
                ("credit", models.BooleanField()),
                ("amount_minor", models.BigIntegerField()),
                ("currency", models.CharField(max_length=3)),
                ("booking_date", models.DateField(blank=True, null=True)),
                ("value_date", models.DateField(blank=True, null=True)),
                ("bank_reference", models.CharField(blank=True, max_length=140)),
                ("end_to_end_id", models.CharField(blank=True, max_length=140)),
                ("payer_name", models.CharField(blank=True, max_length=140)),
                ("payer_iban", models.CharField(blank=True, max_length=34)),
                ("remittance", models.TextField(blank=True)),
                ("reference", models.CharField(blank=True, max_length=35)),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("unmatched", "Unmatched (not yet matched)"),
                            ("matched", "Matched"),
                            ("manual_queue", "Needs a decision"),
                            ("held_overpaid", "Held: overpaid"),
                            ("held_underpaid", "Held: underpaid"),
                            ("ignored", "Ignored"),
                        ],
                        default="unmatched",
                        max_length=16,
                    ),
                ),
                ("payment_id", models.CharField(blank=True, max_length=64)),
                ("note", models.TextField(blank=True)),
                ("suggestions", models.JSONField(blank=True, default=list)),
                ("created", models.DateTimeField(default=django.utils.timezone.now)),
                ("updated", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "statement",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="lines",
                        to="ledger.bankstatement",
                    ),
                ),
            ],
            options={
                "ordering": ["-created", "-id"],
            },
        ),
        migrations.CreateModel(
            name="ManualDecision",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "decision",
                    models.CharField(
                        choices=[("matched", "Matched to a payment"), ("ignored", "Ignored")],
                        max_length=8,
                    ),
                ),
                ("payment_id", models.CharField(blank=True, max_length=64)),
                ("reason", models.TextField(blank=True)),
                ("username", models.CharField(max_length=150)),
                ("decided_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "line",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="decisions",
                        to="ledger.statementline",
                    ),
                ),
            ],
            options={
                "ordering": ["-decided_at", "-id"],
            },
        ),
        migrations.AddIndex(
            model_name="statementline",
            index=models.Index(
                condition=models.Q(
                    ("state__in", ["manual_queue", "held_overpaid", "held_underpaid"])
                ),
                fields=["created"],
                name="ledger_stmtline_queue",
            ),
        ),
        migrations.AddIndex(
            model_name="statementline",
            index=models.Index(fields=["statement", "state"], name="ledger_stmtline_stmt_state"),
        ),
        migrations.AddIndex(
            model_name="statementline",
            index=models.Index(
                condition=models.Q(("payment_id", ""), _negated=True),
                fields=["payment_id"],
                name="ledger_stmtline_payment",
            ),
        ),
        migrations.AddConstraint(
            model_name="statementline",
            constraint=models.UniqueConstraint(
                fields=("account_iban", "entry_key"), name="ledger_stmtline_entry_once"
            ),
        ),
        migrations.AddConstraint(
            model_name="statementline",
            constraint=models.CheckConstraint(
                condition=models.Q(("amount_minor__gt", 0)), name="ledger_stmtline_amount_positive"
            ),
        ),
        migrations.AddConstraint(
            model_name="statementline",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "state__in",
                        [
                            "unmatched",
                            "matched",
                            "manual_queue",
                            "held_overpaid",
                            "held_underpaid",
                            "ignored",
                        ],
                    )
                ),
                name="ledger_stmtline_state_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="statementline",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("state", "matched"), _negated=True),
                    models.Q(("payment_id", ""), _negated=True),
                    _connector="OR",
                ),
                name="ledger_stmtline_matched_has_payment",
            ),
        ),
        migrations.AddConstraint(
            model_name="statementline",
            constraint=models.CheckConstraint(
                condition=models.Q(("credit", True), ("state", "ignored"), _connector="OR"),
                name="ledger_stmtline_debit_ignored",
            ),
        ),
        migrations.AddConstraint(
            model_name="manualdecision",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("decision", "matched"), _negated=True),
                    models.Q(("payment_id", ""), _negated=True),
                    _connector="OR",
                ),
                name="ledger_decision_match_has_payment",
            ),
        ),
        migrations.AddConstraint(
            model_name="manualdecision",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("decision", "ignored"), _negated=True),
                    models.Q(("reason", ""), _negated=True),
                    _connector="OR",
                ),
                name="ledger_decision_ignore_has_reason",
            ),
        ),
        migrations.AddConstraint(
            model_name="manualdecision",
            constraint=models.CheckConstraint(
                condition=models.Q(("username", ""), _negated=True), name="ledger_decision_has_user"
            ),
        ),
        migrations.RunSQL(DECISIONS_APPEND_ONLY, reverse_sql=DROP_DECISIONS_APPEND_ONLY),
    ]
