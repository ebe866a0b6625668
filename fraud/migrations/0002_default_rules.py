"""Seed the default ruleset and starter FX rates (fraud/defaults.py)."""

from django.db import migrations

from fraud.defaults import seed_default_rules, seed_fx_rates


def seed(apps, schema_editor):
    seed_default_rules(apps.get_model("fraud", "Rule"))
    seed_fx_rates(apps.get_model("fraud", "FxRate"))


class Migration(migrations.Migration):
    dependencies = [("fraud", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
