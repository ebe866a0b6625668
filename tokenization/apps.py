from django.apps import AppConfig


class TokenizationConfig(AppConfig):
    name = "tokenization"
