"""The test-mode contract and card testing (docs/fraud.md, "Default ruleset"):

- assessments remember the API key that made the payment; velocity counts per key, over the
  index (api_key_id, created), built concurrently (the table takes every payment);
- the unedited per-card defaults leave a published test card's own repeats alone (`!test_card`);
- new default rules block a decline-ratio spike per merchant and per API key;
- every currency payments accepts gets a starter FX rate (existing rates are kept).
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models
from django.db.models import F
from django.utils import timezone

from fraud.defaults import (
    CARD_TESTING_BURST,
    REPEATED_DECLINES,
    seed_default_rules,
    seed_fx_rates,
)

# name -> (expression as 0003 left it, new expression); edited rules are left alone.
TEST_CARD_GUARDS = {
    "card_testing_burst": (
        "velocity.card_1m >= 3 "
        "|| (velocity.ip_cards_1h >= 4 && amount_ref_known && amount_ref <= 1000)",
        CARD_TESTING_BURST,
    ),
    "repeated_declines": ("declines_1h >= 3", REPEATED_DECLINES),
}


def update_defaults(apps, schema_editor):
    rule_model = apps.get_model("fraud", "Rule")
    for name, (old, new) in TEST_CARD_GUARDS.items():
        # A new version and `updated` so every process recompiles (historical models have
        # neither the custom save() nor auto_now on update()).
        rule_model.objects.filter(name=name, expression=old).update(
            expression=new, version=F("version") + 1, updated=timezone.now()
        )
    seed_default_rules(rule_model)  # only the rules that are missing: the two spike rules
    seed_fx_rates(apps.get_model("fraud", "FxRate"))  # only the currencies without a rate


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [("fraud", "0005_list_lookup_indexes")]

    operations = [
        migrations.AddField(
            model_name="assessment",
            name="api_key_id",
            field=models.CharField(blank=True, default="", max_length=40),
        ),
        AddIndexConcurrently(
            model_name="assessment",
            index=models.Index(fields=["api_key_id", "created"], name="fraud_as_key_created"),
        ),
        migrations.RunPython(update_defaults, migrations.RunPython.noop, atomic=True),
    ]
