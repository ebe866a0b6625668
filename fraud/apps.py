"""fraud: real-time risk assessment of payments (features, CEL rules, score, review queue)."""

from django.apps import AppConfig


class FraudConfig(AppConfig):
    name = "fraud"
    verbose_name = "Fraud"
