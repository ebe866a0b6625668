"""The vault app: checks its keys when the process starts, not at the first payment."""

from __future__ import annotations

import logging
import warnings

from django.apps import AppConfig
from django.core import checks
from django.db import DatabaseError

logger = logging.getLogger("qr.vault")


def startup_key_check(*, environment: str) -> None:
    """Load the keyring (raising VaultConfigError when missing or malformed) and, in production,
    verify the key-check values against the database: a wrong key stops the process here."""
    from tokenization import services
    from tokenization.conf import VaultConfigError, reload_vault_keys

    keys = reload_vault_keys()
    if environment != "production":
        return
    try:
        with warnings.catch_warnings():
            # Django discourages queries in ready(); here one query is the point: a wrong key
            # must stop the process before it serves anything.
            warnings.simplefilter("ignore", RuntimeWarning)
            problems = services.verify_keys(keys=keys)
    except DatabaseError:
        # Before the first migrate there is nothing to check against; the system check and
        # the first wrap (which records/compares the KCV) still guard the keys.
        logger.warning("vault key check skipped: the vault tables are not reachable yet")
        return
    if problems:
        raise VaultConfigError("Vault keys do not match the stored data: " + "; ".join(problems))


class TokenizationConfig(AppConfig):
    name = "tokenization"
    verbose_name = "Tokenization vault"

    def ready(self) -> None:
        from tokenization.conf import django_env

        startup_key_check(environment=django_env())
        checks.register(vault_keys_check, checks.Tags.security, deploy=False)
        checks.register(cvc_cache_check, checks.Tags.security, deploy=False)


def vault_keys_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """`manage.py check` (and migrate, runserver): the keys match the stored key-check values."""
    from tokenization import services
    from tokenization.conf import VaultConfigError, vault_keys

    try:
        problems = services.verify_keys(keys=vault_keys())
    except VaultConfigError as exc:
        return [checks.Error(str(exc), id="tokenization.E001")]
    except DatabaseError:
        return []
    return [checks.Error(problem, id="tokenization.E002") for problem in problems]


def cvc_cache_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """In production without Redis, a CVC waits in one process's memory: a payment served by
    another web worker or host authorizes without it."""
    from tokenization.conf import django_env, redis_cache_configured

    if django_env() != "production" or redis_cache_configured():
        return []
    return [
        checks.Warning(
            "REDIS_URL is not set: the vault holds CVCs in process-local memory (never in the "
            "database), so only the web process that tokenized a card can use its CVC.",
            hint="Set REDIS_URL when running more than one web process (docs/vault.md, CVC).",
            id="tokenization.W001",
        )
    ]
