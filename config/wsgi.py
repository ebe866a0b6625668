"""WSGI entry point for gunicorn.

Once the application is loaded — settings, apps, models and, through the URLconf, every view,
serializer and service module — its objects are moved out of reach of the cyclic garbage
collector (`gc.freeze()`). They live as long as the worker, yet each full collection walked
all of them again (~150,000 objects, ~100 ms, once every few hundred payments, stalling the
request that triggered it). gunicorn imports this module in each worker after forking, so the
freeze is per worker. Reference counting still frees whatever of them is dropped; only cycles
among them would stay, and nothing loaded here is meant to go away.
"""

import gc

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

from config.env import set_default_settings_module

set_default_settings_module()
application = get_wsgi_application()
get_resolver().url_patterns  # noqa: B018 — imports every module the URLs reach, before the freeze
gc.freeze()
