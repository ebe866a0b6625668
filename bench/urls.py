"""bench: the URLconf of the load benchmark (ROOT_URLCONF in config/settings/loadbench.py):
the whole application (config.urls) plus the framework-ceiling endpoint."""

from __future__ import annotations

from django.urls import include, path

from bench.ceiling import CeilingView

urlpatterns = [
    path("bench/ceiling", CeilingView.as_view(), name="bench-ceiling"),
    path("", include("config.urls")),
]
