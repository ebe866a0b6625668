"""OpenAPI: how our API-key authentication appears in the schema."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "merchants.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A secret key `sk_test_…` / `sk_live_…` (publishable `pk_…` keys "
            "may only create tokens).",
        }
