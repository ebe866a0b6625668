"""Index for the breaker's window: a provider's attempts by time. Built concurrently, so the
attempts table (written on every provider call) is not locked while it builds."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("routing", "0003_attempt_capture_requested_breaker_counts_from_attempts"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="attempt",
            index=models.Index(fields=["provider", "created"], name="attempt_provider_created"),
        ),
    ]
