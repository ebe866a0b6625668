"""An embedded PostgreSQL for machines without one: used when DATABASE_URL is unset.

pgserver ships the PostgreSQL binaries in a wheel. Every process (manage.py, gunicorn, Celery,
pytest) asks for the same data directory; pgserver starts the server once, shares it between
processes under an inter-process lock, and stops it when the last process using it exits.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path


def database_url(pgdata: Path) -> str:
    """Start (or join) the embedded server under `pgdata` and return its URL."""
    # pgserver keeps its lock file under XDG_RUNTIME_DIR; give it a stable one when unset.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(pgdata.parent / "run"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        server = pgserver.get_server(pgdata, cleanup_mode="stop")
    return server.get_uri()
