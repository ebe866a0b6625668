from django.db import migrations

from core.migration_operations import DropLikeIndexes


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY

    dependencies = [("routing", "0005_attempt_call_failed")]

    operations = [DropLikeIndexes(["attempt", "decision"])]
