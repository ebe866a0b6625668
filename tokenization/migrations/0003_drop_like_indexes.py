from django.db import migrations

from core.migration_operations import DropLikeIndexes


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY

    dependencies = [("tokenization", "0002_audit_append_only")]

    operations = [DropLikeIndexes(["detokenizationevent"])]
