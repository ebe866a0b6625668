"""Migration operations shared by the apps.

`DropLikeIndexes`: on PostgreSQL, Django gives every indexed or unique CharField a second index,
`<name>_like` with `varchar_pattern_ops`, which serves only case-sensitive `LIKE 'prefix%'`
(`startswith`, `contains`). Nothing queries the hot path's tables that way — ids, references and
fingerprints are matched exactly, and the admin's searches are case-insensitive, which these
indexes cannot serve — yet every INSERT, and every UPDATE that is not HOT, maintains them.
Dropping them from the tables written on every payment saves that work. Reversible: going back
creates them as Django would have. Outside a transaction (`atomic = False`) it drops and creates
CONCURRENTLY, so a live deploy does not block the payments tables while it runs.
"""

from __future__ import annotations

from django.db import migrations


class DropLikeIndexes(migrations.operations.base.Operation):
    reduces_to_sql = False  # which indexes to drop is read from the catalog at run time
    reversible = True

    def __init__(self, model_names: list[str]) -> None:
        self.model_names = model_names

    def deconstruct(self):
        return self.__class__.__qualname__, [], {"model_names": self.model_names}

    def state_forwards(self, app_label, state) -> None:
        pass  # indexes Django adds implicitly are not part of the migration state

    def _tables(self, app_label, state) -> list[str]:
        return [state.apps.get_model(app_label, name)._meta.db_table for name in self.model_names]

    def database_forwards(self, app_label, schema_editor, from_state, to_state) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
                "AND tablename = ANY(%s) AND (indexdef LIKE '%%varchar_pattern_ops%%' "
                "OR indexdef LIKE '%%text_pattern_ops%%')",
                [self._tables(app_label, from_state)],
            )
            names = [row[0] for row in cursor.fetchall()]
        for name in names:
            schema_editor.execute(
                f"DROP INDEX {self._concurrently(schema_editor)}IF EXISTS "
                f"{schema_editor.quote_name(name)}"
            )

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for name in self.model_names:
            model = to_state.apps.get_model(app_label, name)
            for field in model._meta.local_fields:
                statement = schema_editor._create_like_index_sql(model, field)
                if statement is not None:
                    schema_editor.execute(
                        str(statement).replace(
                            "CREATE INDEX ", f"CREATE INDEX {self._concurrently(schema_editor)}", 1
                        )
                    )

    @staticmethod
    def _concurrently(schema_editor) -> str:
        """Without the table's exclusive lock while payments are written — possible only
        outside a transaction (the migrations using this set `atomic = False`)."""
        return "" if schema_editor.connection.in_atomic_block else "CONCURRENTLY "

    def describe(self) -> str:
        return f"Drop the unused varchar_pattern_ops indexes of {', '.join(self.model_names)}"

    @property
    def migration_name_fragment(self) -> str:
        return "drop_like_indexes"


class DropForeignKeyIndex(migrations.operations.base.Operation):
    """`AlterField(db_index=False)` for a foreign key already served by a composite index that
    leads with its column, without what Django's own AlterField does to get there: drop and
    re-add the foreign key constraint, which checks every row of the table again under lock.
    Here only the column's own single-column index is dropped (CONCURRENTLY outside a
    transaction); the state is the AlterField's. Reversible: going back creates the index as
    Django names it."""

    reduces_to_sql = False  # the index's name is read from the catalog at run time
    reversible = True

    def __init__(self, model_name: str, name: str, field) -> None:
        self.model_name, self.name, self.field = model_name, name, field

    def deconstruct(self):
        return (
            self.__class__.__qualname__,
            [],
            {"model_name": self.model_name, "name": self.name, "field": self.field},
        )

    def _alter(self) -> migrations.AlterField:
        return migrations.AlterField(model_name=self.model_name, name=self.name, field=self.field)

    def state_forwards(self, app_label, state) -> None:
        self._alter().state_forwards(app_label, state)

    def database_forwards(self, app_label, schema_editor, from_state, to_state) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        model = from_state.apps.get_model(app_label, self.model_name)
        column = model._meta.get_field(self.name).column
        for name in schema_editor._constraint_names(
            model, [column], index=True, unique=False, primary_key=False
        ):
            schema_editor.execute(
                f"DROP INDEX {DropLikeIndexes._concurrently(schema_editor)}IF EXISTS "
                f"{schema_editor.quote_name(name)}"
            )

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        model = to_state.apps.get_model(app_label, self.model_name)
        statement = schema_editor._create_index_sql(
            model, fields=[model._meta.get_field(self.name)]
        )
        schema_editor.execute(
            str(statement).replace(
                "CREATE INDEX ", f"CREATE INDEX {DropLikeIndexes._concurrently(schema_editor)}", 1
            )
        )

    def describe(self) -> str:
        return f"Drop the own index of {self.model_name}.{self.name} (a composite leads with it)"

    @property
    def migration_name_fragment(self) -> str:
        return f"drop_{self.model_name}_{self.name}_index"
