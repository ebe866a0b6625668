"""The detokenization audit log is append-only, enforced by PostgreSQL itself.

Row UPDATE and DELETE are refused by a trigger. TRUNCATE is left to database privileges (the
application role should not own the table): test runs flush the database with TRUNCATE.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION tokenization_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'tokenization_detokenizationevent is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER tokenization_detokenizationevent_no_update_delete
    BEFORE UPDATE OR DELETE ON tokenization_detokenizationevent
    FOR EACH ROW EXECUTE FUNCTION tokenization_audit_append_only();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS tokenization_detokenizationevent_no_update_delete
    ON tokenization_detokenizationevent;
DROP FUNCTION IF EXISTS tokenization_audit_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("tokenization", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
