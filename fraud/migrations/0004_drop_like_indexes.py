from django.db import migrations

from core.migration_operations import DropLikeIndexes


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY

    dependencies = [("fraud", "0003_review_rejecting_and_unknown_fx")]

    operations = [DropLikeIndexes(["assessment"])]
