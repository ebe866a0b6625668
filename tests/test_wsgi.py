"""config/wsgi.py: a worker loads the whole application, then freezes it out of the cyclic
garbage collector's reach (full collections no longer walk it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import gc, json, sys
before = gc.get_freeze_count()
import config.wsgi
print(json.dumps({
    "before": before,
    "frozen": gc.get_freeze_count(),
    "views_loaded": "payments.api" in sys.modules and "tokenization.api" in sys.modules,
    "application": callable(config.wsgi.application),
}))
"""


def test_loading_the_wsgi_application_freezes_it_with_its_views():
    env = {**os.environ, "DJANGO_ENV": "test"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["before"] == 0
    assert probe["frozen"] > 50_000  # the loaded application, not a handful of objects
    assert probe["views_loaded"] is True
    assert probe["application"] is True
