"""Indexes for the list lookup of every assessment (fraud/lists.py): (kind, value) for cards,
emails and BINs, and a GiST index of IP entries as `inet` for the containment of an address in a
range. Before, the lookup read the whole list table on every payment."""

from django.db import migrations, models

# The expression is written exactly as fraud/lists.py queries it: PostgreSQL uses an expression
# index only for the same expression. The CASE keeps the cast away from non-IP values.
IP_INDEX_SQL = """
CREATE INDEX fraud_list_ip_range ON fraud_listentry
USING gist ((CASE WHEN kind = 'ip' THEN value::inet END) inet_ops) WHERE kind = 'ip'
"""


class Migration(migrations.Migration):
    dependencies = [("fraud", "0004_drop_like_indexes")]

    operations = [
        migrations.AddIndex(
            model_name="listentry",
            index=models.Index(fields=["kind", "value"], name="fraud_list_kind_value"),
        ),
        migrations.RunSQL(IP_INDEX_SQL, "DROP INDEX fraud_list_ip_range"),
    ]
