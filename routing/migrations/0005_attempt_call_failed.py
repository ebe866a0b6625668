"""Attempts remember whether the call itself failed (error or timeout), so the circuit breaker's
error-rate window still counts a timeout after a status inquiry resolved its outcome. Rows
written before this migration are marked from their current outcome."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0004_attempt_provider_created"),
    ]

    operations = [
        migrations.AddField(
            model_name="attempt",
            name="call_failed",
            field=models.BooleanField(db_default=False, default=False),
        ),
        migrations.RunSQL(
            "UPDATE routing_attempt SET call_failed = true "
            "WHERE outcome IN ('provider_error', 'timeout_unknown')",
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
