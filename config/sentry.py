"""What we send to Sentry: exceptions and messages without frame locals or request bodies.

Frame locals would carry key material (a DEK unwrapped in `tokenization.services`) and card
data the scrubber cannot recognise; request bodies are the vault's and the providers' inputs.
Neither is sent, on any path; what is sent still goes through the card-number scrubber.
"""

from __future__ import annotations

from typing import Any

from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration

from tokenization.scrubbing import scrub_sentry_event


def sentry_options(*, dsn: str, environment: str) -> dict[str, Any]:
    """Keyword arguments for `sentry_sdk.init`."""
    return {
        "dsn": dsn,
        "integrations": [DjangoIntegration(), CeleryIntegration()],
        "send_default_pii": False,
        "include_local_variables": False,
        "max_request_body_size": "never",
        "before_send": scrub_sentry_event,
        "environment": environment,
    }
