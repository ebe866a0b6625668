"""ledger: partition guards, replay checks, future-dated postings, default-partition handling."""

from pathlib import Path

from django.db import migrations

GUARDS_SQL = (Path(__file__).parent / "0002_guards.sql").read_text()


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [migrations.RunSQL(GUARDS_SQL, reverse_sql=migrations.RunSQL.noop)]
