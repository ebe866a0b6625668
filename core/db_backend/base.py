"""Django's PostgreSQL backend with timestamptz values loaded by psycopg's C loader.

Django registers its own timestamptz loader on every connection: a subclass of psycopg's
pure-Python ``TimestamptzLoader`` that replaces the tzinfo of each value with the connection's
timezone (``datetime.timezone.utc`` for us). Being a subclass defined outside psycopg, psycopg
cannot swap in the C implementation that psycopg_binary ships, so every timestamptz goes through
a regular expression in Python.

When psycopg's C loader would return exactly what Django's loader returns, this backend
registers the C loader instead. That is the case when:

* psycopg runs its C implementation ("binary" or "c"), and
* ``USE_TZ`` is on and the connection's timezone is ``datetime.timezone.utc`` (DATABASES
  ``TIME_ZONE`` unset), and
* the session's ``TimeZone`` is exactly ``UTC``: psycopg then loads values as
  ``datetime.timezone.utc``, the very object Django would set.

The first two are checked when the connection is opened; the session ``TimeZone`` and the
settings again for every cursor, and a cursor that fails them gets Django's own loader, as
Django does itself when the timezone changes after connecting (``override_settings`` in tests).
Results in binary format are untouched: Django never registers a binary loader, and ours come
back as text anyway. docs/decisions.md has the why.

It also lets psycopg keep its parse of statements with up to ``CACHED_STATEMENT_PARAMS``
parameters (psycopg's own limit is 50): the payment's booking statements bind ~60–90 values, and
psycopg split their SQL text again on every execution (see ``cache_long_statements``).
"""

from __future__ import annotations

import datetime
import functools

from django.conf import settings
from django.db.backends.postgresql import base as postgresql_base
from django.db.backends.postgresql.psycopg_any import is_psycopg3
from django.utils.asyncio import async_unsafe

if is_psycopg3:
    import psycopg
    from django.db.backends.postgresql.psycopg_any import register_tzloader
    from psycopg import adapt
    from psycopg.pq import Format
    from psycopg.types.datetime import TimestamptzLoader

    TIMESTAMPTZ_OID = psycopg.adapters.types["timestamptz"].oid


def _c_timestamptz_loader() -> type | None:
    """psycopg's C text TimestamptzLoader, or None if psycopg runs its Python implementation.

    Registering psycopg's own Python class makes AdaptersMap substitute its C counterpart when
    there is one, which is the public way to ask which class psycopg would use.
    """
    if not is_psycopg3:
        return None
    probe = adapt.AdaptersMap(psycopg.adapters)
    probe.register_loader(TIMESTAMPTZ_OID, TimestamptzLoader)
    loader = probe.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
    if loader is TimestamptzLoader or not loader.__module__.startswith(
        ("psycopg_binary.", "psycopg_c.")
    ):
        return None
    return loader


C_TIMESTAMPTZ_LOADER = _c_timestamptz_loader()

# psycopg caches the parse of a statement (its `%s` placeholders turned into `$n`) only when it
# binds at most 50 values, so that ORM bulk inserts with ever-changing row counts do not crowd
# the cache. The hot path's statements (core/rows.py: a payment's state change with its event
# rows and the updates that ride along) bind more, and are the same text every time.
CACHED_STATEMENT_PARAMS = 200


def cache_long_statements() -> None:
    """Raise psycopg's parameter limit for its statement-parse cache to CACHED_STATEMENT_PARAMS.

    The limit is a module constant psycopg reads at each call (psycopg 3.1–3.3,
    `psycopg._queries.MAX_CACHED_STATEMENT_PARAMS`); where it is missing nothing is changed
    and statements are parsed as before. Only what is cached changes, never a statement or its
    values: the cache is keyed by the whole SQL text. It holds 128 statements (LRU), so a
    one-off statement evicts no more than it did before.
    """
    if not is_psycopg3:
        return
    from psycopg import _queries

    current = getattr(_queries, "MAX_CACHED_STATEMENT_PARAMS", None)
    if isinstance(current, int) and current < CACHED_STATEMENT_PARAMS:
        _queries.MAX_CACHED_STATEMENT_PARAMS = CACHED_STATEMENT_PARAMS


cache_long_statements()


@functools.lru_cache
def _adapters_with_c_loader(template: adapt.AdaptersMap) -> adapt.AdaptersMap:
    """Django's adapters map with psycopg's C text timestamptz loader in place of Django's."""
    context = adapt.AdaptersMap(template)
    context.register_loader(TIMESTAMPTZ_OID, C_TIMESTAMPTZ_LOADER)
    return context


class DatabaseWrapper(postgresql_base.DatabaseWrapper):
    def _c_loader_gives_djangos_values(self) -> bool:
        """Whether the C loader's values are Django's: aware, in ``datetime.timezone.utc``.

        (``datetime.UTC`` is that very object; Django's ``timezone`` is it when DATABASES
        ``TIME_ZONE`` is unset, and ``ZoneInfo("UTC")`` when it is set to "UTC".)
        """
        return (
            C_TIMESTAMPTZ_LOADER is not None and settings.USE_TZ and self.timezone is datetime.UTC
        )

    def get_connection_params(self):
        conn_params = super().get_connection_params()
        if self._c_loader_gives_djangos_values():
            conn_params["context"] = _adapters_with_c_loader(conn_params["context"])
        return conn_params

    @async_unsafe
    def create_cursor(self, name=None):
        if (
            C_TIMESTAMPTZ_LOADER is None
            or self.connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)
            is not C_TIMESTAMPTZ_LOADER
        ):
            # A connection opened with Django's loader: Django's code, unchanged.
            return super().create_cursor(name)

        # Django's create_cursor() (5.2) without its timezone check, which reads the
        # `timezone` attribute that only Django's loader has; ours follows.
        if name:
            if self.settings_dict["OPTIONS"].get("server_side_binding") is not True:
                cursor = postgresql_base.ServerSideCursor(
                    self.connection,
                    name=name,
                    scrollable=False,
                    withhold=self.connection.autocommit,
                )
            else:
                cursor = self.connection.cursor(
                    name, scrollable=False, withhold=self.connection.autocommit
                )
        else:
            cursor = self.connection.cursor()

        # The C loader returns values in the session's TimeZone; only "UTC" maps to
        # datetime.timezone.utc. Otherwise (or if USE_TZ / the timezone changed since the
        # connection was opened) this cursor loads with Django's loader, as Django would.
        if not (
            self._c_loader_gives_djangos_values()
            and self.connection.pgconn.parameter_status(b"TimeZone") == b"UTC"
        ):
            register_tzloader(self.timezone, cursor)
        return cursor
