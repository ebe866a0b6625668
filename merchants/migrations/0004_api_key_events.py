"""API-key create/revoke events, append-only, enforced by PostgreSQL itself; the revoke permission.

Row UPDATE and DELETE are refused by a trigger. TRUNCATE is left to database privileges (the
application role should not own the table): test runs flush the database with TRUNCATE.
"""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

FORWARD = """
CREATE OR REPLACE FUNCTION merchants_apikeyevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'merchants_apikeyevent is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER merchants_apikeyevent_no_update_delete
    BEFORE UPDATE OR DELETE ON merchants_apikeyevent
    FOR EACH ROW EXECUTE FUNCTION merchants_apikeyevent_append_only();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS merchants_apikeyevent_no_update_delete ON merchants_apikeyevent;
DROP FUNCTION IF EXISTS merchants_apikeyevent_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("merchants", "0003_fk_indexes_led_by_composites"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="apikey",
            options={
                "ordering": ["-created"],
                "permissions": [
                    ("create_api_key", "Can create an API key (shown once)"),
                    ("revoke_apikey", "Can revoke an API key"),
                ],
            },
        ),
        migrations.CreateModel(
            name="ApiKeyEvent",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "action",
                    models.CharField(
                        choices=[("create", "create"), ("revoke", "revoke")], max_length=6
                    ),
                ),
                ("actor", models.CharField(max_length=200)),
                ("ip", models.GenericIPAddressField(blank=True, null=True)),
                (
                    "at",
                    models.DateTimeField(db_index=True, default=django.utils.timezone.now),
                ),
                (
                    "api_key",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="events",
                        to="merchants.apikey",
                    ),
                ),
            ],
            options={"ordering": ["-at", "-id"]},
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
