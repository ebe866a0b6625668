"""routing app config: drops the provider metadata cache whenever a Provider row changes."""

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class RoutingConfig(AppConfig):
    name = "routing"

    def ready(self) -> None:
        from routing.models import Provider
        from routing.providers import invalidate

        post_save.connect(invalidate, sender=Provider, dispatch_uid="routing-provider-saved")
        post_delete.connect(invalidate, sender=Provider, dispatch_uid="routing-provider-deleted")
