"""ledger: test and live money in separate accounts (the mode in every account's identity).

The SQL (0005_account_modes.sql) adds `livemode` to accounts and holds — every existing row
becomes test mode — and makes ledger_ensure_account(), ledger_post_sale() and the commit-time
balance check mode-aware. Then `reclassify_live_payments` moves what live payments booked into
those (test) accounts to their live twins, by NEW journal transactions: posted entries are
never edited. It is the one place where the ledger reads the payments table (by raw SQL, only
here and only to learn which payments were live): on a fresh database, or one without live
payments, it posts nothing.
"""

import hashlib
from collections import defaultdict
from pathlib import Path

from django.db import migrations, models

MODES_SQL = (Path(__file__).parent / "0005_account_modes.sql").read_text()

RECLASSIFICATION_KIND = "adjustment"

# Per live payment and test account it touched, the net of its entries there (debit − credit),
# left out once it nets to zero (so a second run finds nothing).
_LIVE_PAYMENT_NETS_SQL = """
SELECT e.payment_id, a.owner, a.kind, a.currency, a.normal_side, a.id,
       sum(e.debit) - sum(e.credit)
FROM ledger_entries e
JOIN ledger_accounts a ON a.id = e.account_id AND NOT a.livemode
JOIN payments p ON p.payment_id = e.payment_id AND p.livemode
GROUP BY e.payment_id, a.owner, a.kind, a.currency, a.normal_side, a.id
HAVING sum(e.debit) <> sum(e.credit)
ORDER BY e.payment_id, a.id
"""

# Hold rows are append-only too; a live payment's hold must name its mode, or its capture,
# refund and disputes would resolve test accounts. Not an entry: the row says who and in which
# currency, never how much.
_LIVE_HOLDS_SQL = """
ALTER TABLE ledger_holds DISABLE TRIGGER ledger_holds_append_only;
UPDATE ledger_holds h SET livemode = true FROM payments p
    WHERE p.payment_id = h.payment_id AND p.livemode AND NOT h.livemode;
ALTER TABLE ledger_holds ENABLE TRIGGER ledger_holds_append_only;
"""


def _digest(lines: list[tuple[int, int, int]]) -> str:
    canonical = "|".join(f"{a}:{d}:{c}" for a, d, c in sorted(lines))
    return hashlib.sha256(f"lines|{canonical}".encode()).hexdigest()


def reclassify_live_payments(cursor) -> int:
    """Move every live payment's balances out of test-mode accounts into the live accounts of
    the same (owner, kind, currency): one `adjustment` per payment, reference
    `{payment_id}:livemode`, Cr the test account / Dr the live one for a debit net (and the
    reverse for a credit net). A payment's transactions balance per currency, so each of these
    balances in each mode on its own. Returns how many payments were moved."""
    cursor.execute("SELECT to_regclass('payments') IS NOT NULL")
    if not cursor.fetchone()[0]:
        return 0
    cursor.execute(_LIVE_HOLDS_SQL)
    cursor.execute(_LIVE_PAYMENT_NETS_SQL)
    nets_by_payment = defaultdict(list)
    for payment_id, *account in cursor.fetchall():
        nets_by_payment[payment_id].append(account)
    if nets_by_payment:
        cursor.execute("SELECT ledger_ensure_partitions(now(), 1)")
    for payment_id, accounts in nets_by_payment.items():
        lines = []
        for owner, kind, currency, side, test_id, net in accounts:
            cursor.execute(
                "SELECT ledger_ensure_account(%s, %s, %s, %s, true)", [owner, kind, currency, side]
            )
            live_id = cursor.fetchone()[0]
            amount = abs(int(net))
            if net > 0:  # a debit net: the live account takes the debit
                lines += [(live_id, amount, 0), (test_id, 0, amount)]
            else:
                lines += [(test_id, amount, 0), (live_id, 0, amount)]
        cursor.execute(
            "SELECT o_id FROM ledger_post(%s, %s, %s, %s, NULL, NULL, %s::bigint[], "
            "%s::bigint[], %s::bigint[], %s)",
            [
                RECLASSIFICATION_KIND,
                f"{payment_id}:livemode",
                payment_id,
                "Live payment moved from test-mode accounts to live ones (ledger modes)",
                [line[0] for line in lines],
                [line[1] for line in lines],
                [line[2] for line in lines],
                _digest(lines),
            ],
        )
    return len(nets_by_payment)


def _reclassify(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        reclassify_live_payments(cursor)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0004_bank_statements")]

    operations = [
        migrations.RunSQL(MODES_SQL, reverse_sql=migrations.RunSQL.noop),
        migrations.RunPython(_reclassify, migrations.RunPython.noop),
        migrations.AddField(
            model_name="trialbalancerun",
            name="livemode",
            field=models.BooleanField(
                null=True,
                help_text="The mode whose books the run checked; empty for runs from before the "
                "ledger kept the modes apart.",
            ),
        ),
        migrations.AlterModelOptions(
            name="account",
            options={
                "managed": False,
                "ordering": ["livemode", "owner", "kind", "currency"],
            },
        ),
    ]
