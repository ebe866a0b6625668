"""Sale flag on attempts; breakers stop counting calls in their own row.

An authorize attempt records whether it was sent as a sale (`capture_requested`). A breaker's
window is now read from the provider's attempt rows when a failure is recorded, so the row's
own counters go; `closed_at` (when the breaker last closed) bounds that window instead.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0002_provider_fee_schedule_validator"),
    ]

    operations = [
        migrations.AddField(
            model_name="attempt",
            name="capture_requested",
            # A database default too: a process still running the previous code can insert.
            field=models.BooleanField(default=False, db_default=False),
        ),
        migrations.RemoveField(model_name="breakerstate", name="window_started_at"),
        migrations.RemoveField(model_name="breakerstate", name="window_calls"),
        migrations.RemoveField(model_name="breakerstate", name="window_failures"),
        migrations.AddField(
            model_name="breakerstate",
            name="closed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
