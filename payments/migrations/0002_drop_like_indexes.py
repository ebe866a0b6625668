from django.db import migrations

from core.migration_operations import DropLikeIndexes


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY

    dependencies = [("payments", "0001_initial")]

    operations = [DropLikeIndexes(["payment", "paymentevent"])]
