"""Building adapters from provider configuration and credentials held in the environment."""

from __future__ import annotations

import threading
from collections.abc import Callable

from core.errors import NotFound
from routing import conf
from routing.adapters.adyen import AdyenAdapter
from routing.adapters.simulator import SimulatorAdapter
from routing.adapters.stripe import StripeAdapter
from routing.interface import Adapter
from routing.providers import ProviderConfig, provider_config

# Adapters hold pooled HTTP clients, so they are built once per configuration and reused; the
# key includes everything they are built from, so a changed config or env builds a new one.
_adapters: dict[tuple, Adapter] = {}
_adapters_lock = threading.Lock()
MAX_CACHED_ADAPTERS = 64


def adapter_for(provider: str) -> Adapter:
    config = provider_config(provider)
    if config is None:
        raise NotFound(f"No such provider: '{provider}'", param="provider")
    return adapter_for_config(config)


def adapter_for_config(config: ProviderConfig) -> Adapter:
    """The adapter for a configuration the caller already holds: authorize reads the provider
    configurations once per payment and hands each call its own."""
    key, build = _builder(config)
    with _adapters_lock:
        adapter = _adapters.get(key)
        if adapter is None:
            if len(_adapters) >= MAX_CACHED_ADAPTERS:
                _adapters.clear()
            adapter = _adapters[key] = build()
        return adapter


def _builder(config: ProviderConfig) -> tuple[tuple, Callable[[], Adapter]]:
    timeout_s = config.timeout_ms / 1000
    if config.kind == "simulator":
        base_url = config.base_url or conf.sim_base_url()
        secrets = tuple(conf.sim_webhook_secrets())
        key = ("simulator", config.name, base_url, secrets, timeout_s)
        return key, lambda: SimulatorAdapter(
            config.name, base_url, timeout_s=timeout_s, webhook_secrets=secrets
        )
    prefix = config.credentials_env
    if config.kind == "stripe":
        args = StripeAdapter.settings_from_env(prefix)
        args["api_base"] = args["api_base"] or config.base_url
        key = ("stripe", config.name, timeout_s, tuple(sorted(args.items())))
        return key, lambda: StripeAdapter(config.name, timeout_s=timeout_s, **args)
    if config.kind == "adyen":
        args = AdyenAdapter.settings_from_env(prefix)
        args["api_base"] = args["api_base"] or config.base_url
        key = ("adyen", config.name, timeout_s, tuple(sorted(args.items())))
        return key, lambda: AdyenAdapter(config.name, timeout_s=timeout_s, **args)
    raise NotFound(f"Provider '{config.name}' has an unknown kind '{config.kind}'")
