"""ledger.reconciliation: the matcher — set-based SQL over a staging table, never a loop per line.

A report's lines are COPY'd into a temporary staging table, then a handful of statements
classify all of them at once:

1. `recon_keyed`: each line with the payment it is about — captures, chargebacks and their
   reversals through `ledger_recon_references` (our attempt id, else the provider's id),
   refunds through the ledger's own `refund` transaction (its reference is our refund id) —
   and, apart, the lines the report repeats (every occurrence after the first is a duplicate).
2. `recon_ledger`: for those payments, what the ledger booked on this provider's receivable
   account in this mode, per transaction kind (and per reference for refunds).
3. One INSERT into `ledger_recon_lines` with each line's outcome: duplicate, missing in the
   ledger, amount mismatch or matched; payouts against the bank statement credits.
4. Captures of the provider's expected settlement day with no capture line in any report:
   missing in the report.

Amounts are signed from our side, as the provider reports them: a capture's gross is what the
ledger debited the receivable, a refund's or chargeback's what it credited.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import connection

# The ledger kinds a settlement line of each type is matched against, and the kind of the fee
# the ledger books with it (a dispute fee, charged to the merchant at withdrawal).
PRIMARY_KINDS = {
    "capture": "capture",
    "refund": "refund",
    "chargeback": "chargeback",
    "chargeback_reversal": "chargeback_reversal",
}
FEE_KINDS = {"chargeback": "chargeback_fee", "chargeback_reversal": "chargeback_fee_reversal"}
# A payout credit is looked for on the bank statement up to this many days after the report.
PAYOUT_WINDOW_DAYS = 5
# A line matched in a report of the last this many days makes the same line again a duplicate.
DUPLICATE_WINDOW_DAYS = 31
# Memory for the matcher's sorts and hashes (one nightly batch; SET LOCAL: this transaction only).
MATCH_WORK_MEM = "256MB"

STAGE_COLUMNS = (
    "line_no",
    "type",
    "reference",
    "provider_reference",
    "payout_reference",
    "gross",
    "fee",
    "net",
    "currency",
)

_CREATE_STAGE = """
CREATE TEMP TABLE recon_stage (
    line_no integer, type text, reference text, provider_reference text,
    payout_reference text, gross bigint, fee bigint, net bigint, currency text
) ON COMMIT DROP
"""

_KEYED = """
CREATE TEMP TABLE recon_keyed ON COMMIT DROP AS
SELECT s.*, r.payment_id
FROM recon_stage s
LEFT JOIN ledger_recon_references r
       ON s.type IN ('capture', 'chargeback', 'chargeback_reversal')
      AND r.provider = %(provider)s AND r.livemode = %(livemode)s AND r.reference = s.reference
"""

# The few lines the attempt id did not key: by the provider's reference, and refunds by the
# ledger's own refund transaction (index probes, once the staged rows are analyzed).
_KEYED_FALLBACKS = (
    """
UPDATE recon_keyed k SET payment_id = r.payment_id
FROM ledger_recon_references r
WHERE k.payment_id IS NULL AND k.type IN ('capture', 'chargeback', 'chargeback_reversal')
  AND k.provider_reference <> '' AND r.provider = %(provider)s AND r.livemode = %(livemode)s
  AND r.provider_reference = k.provider_reference
""",
    """
UPDATE recon_keyed k SET payment_id = t.payment_id
FROM ledger_transactions t
WHERE k.type = 'refund' AND t.kind = 'refund' AND t.reference = k.reference
  AND t.reverses_id IS NULL
""",
)

# Lines the report repeats: every occurrence after the first is a duplicate.
_REPEATED = """
CREATE TEMP TABLE recon_repeated ON COMMIT DROP AS
SELECT type, reference, provider_reference, payout_reference, currency,
       min(line_no) AS first_line_no
FROM recon_stage
GROUP BY type, reference, provider_reference, payout_reference, currency
HAVING count(*) > 1
"""

# What the ledger booked on the provider's receivable (this mode) for the keyed payments.
_LEDGER = """
CREATE TEMP TABLE recon_ledger ON COMMIT DROP AS
WITH keyed AS MATERIALIZED (
    SELECT DISTINCT payment_id FROM recon_keyed WHERE payment_id IS NOT NULL
), txn AS MATERIALIZED (  -- the semi-join first: its estimate is good, the entries' is not
    SELECT t.id, t.payment_id, t.ts, t.kind,
           CASE WHEN t.kind = 'refund' THEN t.reference ELSE '' END AS reference
    FROM ledger_transactions t JOIN keyed k ON k.payment_id = t.payment_id
    WHERE t.kind IN ('capture', 'refund', 'chargeback', 'chargeback_fee', 'chargeback_reversal',
                     'chargeback_fee_reversal')
)
SELECT x.payment_id, x.kind, x.reference, min(e.currency) AS currency,
       sum(e.debit - e.credit) AS amount
FROM txn x
JOIN ledger_entries e ON e.transaction_id = x.id AND e.payment_id = x.payment_id AND e.ts = x.ts
WHERE e.account_id = ANY(%(receivables)s)
GROUP BY x.payment_id, x.kind, x.reference
"""

_CLASSIFY = """
INSERT INTO ledger_recon_lines
    (report_id, line_no, type, reference, provider_reference, payout_reference, gross_minor,
     fee_minor, net_minor, currency, outcome, payment_id, ledger_minor, settled_minor)
SELECT %(report_id)s, k.line_no, k.type, k.reference, k.provider_reference, k.payout_reference,
       k.gross, k.fee, k.net, k.currency,
       CASE
           WHEN rep.first_line_no < k.line_no OR earlier.type IS NOT NULL THEN 'duplicate'
           WHEN k.type = 'payout' THEN 'payout_not_received'  -- decided by the bank pass below
           WHEN k.type = 'fee' THEN 'matched'  -- the provider's own charge: booked from here
           WHEN lp.amount IS NULL OR lp.currency <> k.currency THEN 'missing_in_ledger'
           WHEN lp.amount <> k.gross THEN 'amount_mismatch'
           ELSE 'matched'
       END,
       coalesce(k.payment_id, ''), lp.amount,
       coalesce(lp.amount, 0) + coalesce(lf.amount, 0)
FROM recon_keyed k
LEFT JOIN recon_repeated rep
       ON rep.type = k.type AND rep.reference = k.reference
      AND rep.provider_reference = k.provider_reference
      AND rep.payout_reference = k.payout_reference AND rep.currency = k.currency
LEFT JOIN recon_ledger lp
       ON lp.payment_id = k.payment_id
      AND lp.kind = CASE k.type WHEN 'capture' THEN 'capture' WHEN 'refund' THEN 'refund'
                                WHEN 'chargeback' THEN 'chargeback'
                                WHEN 'chargeback_reversal' THEN 'chargeback_reversal' END
      AND lp.reference = CASE WHEN k.type = 'refund' THEN k.reference ELSE '' END
LEFT JOIN recon_ledger lf
       ON lf.payment_id = k.payment_id
      AND lf.kind = CASE k.type WHEN 'chargeback' THEN 'chargeback_fee'
                                WHEN 'chargeback_reversal' THEN 'chargeback_fee_reversal' END
LEFT JOIN (  -- lines this provider's recent reports already matched
    SELECT DISTINCT l.type, l.reference, l.provider_reference
    FROM ledger_recon_lines l JOIN ledger_recon_reports r ON r.id = l.report_id
    WHERE r.provider = %(provider)s AND r.livemode = %(livemode)s AND r.id <> %(report_id)s
      AND r.report_date >= %(duplicate_since)s AND l.outcome = 'matched' AND l.type <> 'payout'
      AND l.reference <> ''
) earlier ON earlier.type = k.type AND earlier.reference = k.reference
         AND earlier.provider_reference = k.provider_reference
"""

# Payout lines against the bank: a credit naming the payout (remittance, bank reference or
# end-to-end id) on the mode's statements; else one of the same amount within the window.
_PAYOUTS = """
UPDATE ledger_recon_lines l
SET outcome = d.outcome, ledger_minor = d.bank_minor
FROM (
    SELECT p.id,
           CASE WHEN named.amount_minor = abs(p.net_minor) THEN 'matched'
                WHEN named.amount_minor IS NOT NULL THEN 'payout_amount_mismatch'
                WHEN by_amount.id IS NOT NULL THEN 'matched'
                ELSE 'payout_not_received' END AS outcome,
           coalesce(named.amount_minor, by_amount.amount_minor) AS bank_minor
    FROM ledger_recon_lines p
    LEFT JOIN LATERAL (
        SELECT b.id, b.amount_minor FROM ledger_statementline b
        WHERE p.payout_reference <> '' AND b.credit AND b.livemode = %(livemode)s
          AND b.currency = p.currency
          AND (b.remittance LIKE '%%' || p.payout_reference || '%%'
               OR b.bank_reference = p.payout_reference OR b.end_to_end_id = p.payout_reference)
        ORDER BY b.id LIMIT 1
    ) named ON true
    LEFT JOIN LATERAL (
        SELECT b.id, b.amount_minor FROM ledger_statementline b
        WHERE b.credit AND b.payment_id = '' AND b.livemode = %(livemode)s
          AND b.currency = p.currency AND b.amount_minor = abs(p.net_minor)
          AND coalesce(b.value_date, b.booking_date) BETWEEN %(date)s AND %(window_end)s
        ORDER BY b.id LIMIT 1
    ) by_amount ON true
    WHERE p.report_id = %(report_id)s AND p.type = 'payout' AND p.outcome <> 'duplicate'
) d
WHERE l.id = d.id
"""

# Two steps with an ANALYZE between: the estimate of the transactions-entries join is far too
# low (three correlated join columns), and a plan built on it loops over the reported lines.
_CAPTURED = """
CREATE TEMP TABLE recon_captured ON COMMIT DROP AS
SELECT t.payment_id, min(e.currency) AS currency, sum(e.debit - e.credit) AS amount
FROM ledger_transactions t
JOIN ledger_entries e ON e.transaction_id = t.id AND e.payment_id = t.payment_id AND e.ts = t.ts
WHERE t.kind = 'capture' AND t.ts >= %(start)s AND t.ts < %(end)s AND e.ts >= %(start)s
  AND e.ts < %(end)s AND e.account_id = ANY(%(receivables)s)
GROUP BY t.payment_id
HAVING sum(e.debit - e.credit) > 0
"""

_MISSING_IN_REPORT = """
WITH missing AS MATERIALIZED (
    SELECT c.* FROM recon_captured c
    LEFT JOIN (
        SELECT DISTINCT l.payment_id FROM ledger_recon_lines l
        JOIN ledger_recon_reports rr ON rr.id = l.report_id
        WHERE l.type = 'capture' AND l.payment_id <> ''
          AND rr.provider = %(provider)s AND rr.livemode = %(livemode)s
          AND rr.report_date >= %(capture_date)s  -- no report settles a capture before it
    ) reported ON reported.payment_id = c.payment_id
    WHERE reported.payment_id IS NULL
)
SELECT m.payment_id, m.currency, m.amount, coalesce(min(r.reference), ''),
       coalesce(min(r.provider_reference), '')
FROM missing m
LEFT JOIN ledger_recon_references r
       ON r.payment_id = m.payment_id AND r.provider = %(provider)s AND r.livemode = %(livemode)s
GROUP BY m.payment_id, m.currency, m.amount
"""


def receivable_accounts(*, provider: str, livemode: bool) -> list[int]:
    """The provider's receivable account ids in this mode (one per currency)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM ledger_accounts WHERE owner = %s AND kind = 'psp_receivable' "
            "AND livemode = %s",
            [f"provider:{provider}", livemode],
        )
        return [row[0] for row in cursor.fetchall()]


def stage_lines(rows: Iterable[tuple]) -> int:
    """COPY the report's lines (tuples in STAGE_COLUMNS order) into the staging table."""
    count = 0
    with connection.cursor() as cursor:
        # A caller's outer transaction (a test's) may still hold the last run's tables.
        cursor.execute(
            "DROP TABLE IF EXISTS recon_stage, recon_keyed, recon_ledger, recon_repeated"
        )
        cursor.execute(_CREATE_STAGE)
        with cursor.cursor.copy(
            f"COPY recon_stage ({', '.join(STAGE_COLUMNS)}) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        cursor.execute("ANALYZE recon_stage")
    return count


def classify_staged(*, report_id: int, provider: str, livemode: bool, report_date: dt.date) -> None:
    """Classify every staged line and store it with its outcome (inside the caller's
    transaction: the staging tables are dropped at its commit)."""
    params = {
        "report_id": report_id,
        "provider": provider,
        "livemode": livemode,
        "receivables": receivable_accounts(provider=provider, livemode=livemode),
        "duplicate_since": report_date - dt.timedelta(days=DUPLICATE_WINDOW_DAYS),
    }
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL work_mem = '{MATCH_WORK_MEM}'")
        cursor.execute(_KEYED, params)
        cursor.execute("ANALYZE recon_keyed")
        for fallback in _KEYED_FALLBACKS:
            cursor.execute(fallback, params)
        cursor.execute(_REPEATED)
        cursor.execute(_LEDGER, params)
        cursor.execute("ANALYZE recon_ledger")
        cursor.execute(_CLASSIFY, params)
    match_payouts(report_id=report_id, livemode=livemode, report_date=report_date)


def match_payouts(*, report_id: int, livemode: bool, report_date: dt.date) -> None:
    """(Re)decide the report's payout lines against the bank statement credits: a statement
    that arrived since the last run can turn a payout that was not received into a match."""
    params = {
        "report_id": report_id,
        "livemode": livemode,
        "date": report_date,
        "window_end": report_date + dt.timedelta(days=PAYOUT_WINDOW_DAYS),
    }
    with connection.cursor() as cursor:
        cursor.execute(_PAYOUTS, params)


def missing_in_report(
    *, provider: str, livemode: bool, capture_date: dt.date
) -> list[tuple[str, str, int, str, str]]:
    """Captures of `capture_date` (UTC) on this provider's receivable with no capture line in
    any of its reports: (payment_id, currency, amount_minor, reference, provider_reference)."""
    start = dt.datetime.combine(capture_date, dt.time(), tzinfo=dt.UTC)
    params = {
        "provider": provider,
        "livemode": livemode,
        "start": start,
        "end": start + dt.timedelta(days=1),
        "capture_date": capture_date,
        "receivables": receivable_accounts(provider=provider, livemode=livemode),
    }
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL work_mem = '{MATCH_WORK_MEM}'")
        cursor.execute("DROP TABLE IF EXISTS recon_captured")
        cursor.execute(_CAPTURED, params)
        cursor.execute("ANALYZE recon_captured")
        cursor.execute(_MISSING_IN_REPORT, params)
        return [(p, c, int(a), r, pr) for p, c, a, r, pr in cursor.fetchall()]
