"""routing app config: drops the provider metadata cache whenever a Provider row changes, and
this process's memo of routing profiles and rules whenever one of those changes; registers the
check that enabled providers have their credentials (routing.checks)."""

from django.apps import AppConfig
from django.core import checks
from django.db.models.signals import post_delete, post_save


class RoutingConfig(AppConfig):
    name = "routing"

    def ready(self) -> None:
        # Registers routing's Celery tasks in every process: services queue them by name
        # (routing/jobs.py).
        import routing.tasks  # noqa: F401
        from routing.checks import provider_settings_check
        from routing.models import Provider, RoutingProfile, RoutingRule
        from routing.providers import invalidate
        from routing.strategies import forget_config_memo

        post_save.connect(invalidate, sender=Provider, dispatch_uid="routing-provider-saved")
        post_delete.connect(invalidate, sender=Provider, dispatch_uid="routing-provider-deleted")
        for model in (RoutingProfile, RoutingRule):
            name = model.__name__.lower()
            post_save.connect(
                forget_config_memo, sender=model, dispatch_uid=f"routing-{name}-saved"
            )
            post_delete.connect(
                forget_config_memo, sender=model, dispatch_uid=f"routing-{name}-deleted"
            )
        checks.register(provider_settings_check, checks.Tags.security, deploy=False)
