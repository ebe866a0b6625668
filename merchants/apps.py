from django.apps import AppConfig

from merchants import sealed


class MerchantsConfig(AppConfig):
    name = "merchants"
    verbose_name = "Merchants and API keys"

    def ready(self) -> None:
        from merchants import schema  # noqa: F401  (registers the OpenAPI auth extension)

        # Production has no default WEBHOOK_SECRET_KEY: stop here, naming it, not at the first
        # webhook endpoint.
        sealed.check_key()
