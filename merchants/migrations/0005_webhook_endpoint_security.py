"""Webhook endpoint secrets sealed at rest (and the previous one kept for a roll); a lease for
the delivery attempt in flight, with the partial indexes its claims read.

Existing clear secrets are sealed here with WEBHOOK_SECRET_KEY (merchants/sealed.py).
"""

from django.db import migrations, models
from django.db.models import Q

from merchants import sealed


def seal_clear_secrets(apps, schema_editor) -> None:
    endpoint_model = apps.get_model("merchants", "WebhookEndpoint")
    for endpoint in endpoint_model.objects.only("pk", "secret_sealed").iterator():
        if not sealed.is_sealed(endpoint.secret_sealed):
            endpoint_model.objects.filter(pk=endpoint.pk).update(
                secret_sealed=sealed.seal(endpoint.secret_sealed)
            )


def unseal_secrets(apps, schema_editor) -> None:
    endpoint_model = apps.get_model("merchants", "WebhookEndpoint")
    for endpoint in endpoint_model.objects.only("pk", "secret_sealed").iterator():
        if sealed.is_sealed(endpoint.secret_sealed):
            endpoint_model.objects.filter(pk=endpoint.pk).update(
                secret_sealed=sealed.unseal(endpoint.secret_sealed)
            )


class Migration(migrations.Migration):
    dependencies = [
        ("merchants", "0004_api_key_events"),
    ]

    operations = [
        migrations.RenameField(
            model_name="webhookendpoint", old_name="secret", new_name="secret_sealed"
        ),
        migrations.AlterField(
            model_name="webhookendpoint",
            name="secret_sealed",
            field=models.TextField(editable=False),
        ),
        migrations.AddField(
            model_name="webhookendpoint",
            name="previous_secret_sealed",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.AddField(
            model_name="webhookendpoint",
            name="previous_secret_expires_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="locked_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="webhookdelivery",
            index=models.Index(
                condition=Q(locked_until__isnull=False),
                fields=["endpoint", "locked_until"],
                name="webhook_delivery_in_flight",
            ),
        ),
        migrations.AddIndex(
            model_name="webhookdelivery",
            index=models.Index(
                condition=Q(status="pending"),
                fields=["endpoint", "next_attempt_at"],
                name="webhook_delivery_pending",
            ),
        ),
        migrations.RunPython(seal_clear_secrets, unseal_secrets, elidable=False),
    ]
