"""ledger: ledger_post_sale(), a sale's hold row and both postings in one statement."""

from pathlib import Path

from django.db import migrations

SALE_SQL = (Path(__file__).parent / "0003_sale.sql").read_text()

DROP_SQL = (
    "DROP FUNCTION ledger_post_sale(text, text, text, text, timestamptz, text, text, text, "
    "bigint[], bigint[], bigint[], text, text, text, bigint[], bigint[], bigint[], integer, "
    "double precision)"
)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0002_guards")]

    operations = [migrations.RunSQL(SALE_SQL, reverse_sql=DROP_SQL)]
