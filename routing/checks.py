"""routing's system checks (`manage.py check`, migrate, runserver).

In production (settings.PROVIDER_WEBHOOK_CREDENTIALS_REQUIRED) every enabled provider must have
the variables its adapter needs: without its webhook secret nothing authenticates the
provider's events, and without its API credentials no call goes through. The provider rows are
read from the database; before the first migrate (or without a reachable database) there is
nothing to check yet.
"""

from __future__ import annotations

from django.core import checks
from django.db import DatabaseError

from routing import conf
from routing.models import Provider
from routing.services.adapters import missing_settings


def provider_settings_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    if not conf.webhook_credentials_required():
        return []
    try:
        enabled = list(
            Provider.objects.filter(enabled=True)
            .order_by("name")
            .values_list("name", "kind", "credentials_env")
        )
    except DatabaseError:
        return []
    return [
        checks.Error(
            f"{variable} is not set: provider {name!r} ({kind}) is enabled and needs it.",
            hint="Set it in the environment, or disable the provider in the admin.",
            id="routing.E001",
        )
        for name, kind, prefix in enabled
        for variable in missing_settings(kind=kind, credentials_env=prefix)
    ]
