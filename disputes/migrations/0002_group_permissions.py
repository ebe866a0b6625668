"""The support and finance groups get the disputes console's permissions.

Support works disputes (view, change, submit evidence, accept, notes, files); finance gets the
same. Neither gets anything else here: refunds and the ledger belong to finance through
merchants.roles (support never has them). The lists match merchants.roles.GROUP_PERMISSIONS,
which `sync_staff_groups` keeps in force afterwards.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

DISPUTE_PERMISSIONS = [
    "view_dispute",
    "change_dispute",
    "submit_evidence",
    "accept_dispute",
    "view_disputeevent",
    "view_disputenote",
    "add_disputenote",
    "view_evidence",
    "view_evidencefile",
    "add_evidencefile",
    "view_providernotice",
    "view_reminder",
    "view_merchantcontact",
]
GROUPS = {"support": DISPUTE_PERMISSIONS, "finance": DISPUTE_PERMISSIONS}


def grant(apps, schema_editor):
    # Permissions are made after all migrations by default; this one needs them now.
    config = apps.get_app_config("disputes")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(
            *Permission.objects.filter(
                content_type__app_label="disputes", codename__in=codenames
            )
        )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group = Group.objects.filter(name=name).first()
        if group:
            group.permissions.remove(
                *Permission.objects.filter(
                    content_type__app_label="disputes", codename__in=codenames
                )
            )


class Migration(migrations.Migration):
    dependencies = [
        ("disputes", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
