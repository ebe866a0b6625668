from django.apps import AppConfig


class DisputesConfig(AppConfig):
    name = "disputes"

    def ready(self) -> None:
        # routing tells disputes of provider dispute events through its registry.
        from disputes import services
        from routing import events as routing_events

        routing_events.register_dispute_handler(services.handle_notice)
