"""Which settings module a process uses, decided once from DJANGO_ENV."""

import os

SETTINGS_BY_ENV = {
    "production": "config.settings.production",
    "test": "config.settings.test",
    "development": "config.settings.local",
    "local": "config.settings.local",
}


def settings_module() -> str:
    """The settings module for DJANGO_ENV (default: development)."""
    name = os.environ.get("DJANGO_ENV", "development").strip().lower()
    try:
        return SETTINGS_BY_ENV[name]
    except KeyError:
        raise SystemExit(
            f"DJANGO_ENV={name!r} is not known; use one of: {', '.join(sorted(SETTINGS_BY_ENV))}"
        ) from None


def set_default_settings_module() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module())
