from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"

    def ready(self) -> None:
        # Lower apps tell payments what happened through registries, never by importing it.
        from fraud import hooks as fraud_hooks
        from ledger.statements import hooks as statement_hooks
        from payments import bank_transfers, handlers, services
        from routing import events as routing_events

        routing_events.register_attempt_resolved_handler(services.on_attempt_resolved)
        routing_events.register_webhook_handler("payment.", handlers.on_provider_payment_event)
        fraud_hooks.register_reject_handler(services.reject_for_fraud)
        statement_hooks.register_credit_matcher(bank_transfers.MATCHER)
