"""The Celery app: tasks are discovered in each app's tasks.py; beat uses the database scheduler.

Workers and beat log exactly as the web process does: Django's LOGGING (the card-number
scrubber on the console handler, JSON in production) is applied on Celery's `setup_logging`
signal, which also stops Celery from installing its own, unscrubbed root handler.
"""

import logging.config

from celery import Celery
from celery.signals import setup_logging
from django.conf import settings

from config.env import set_default_settings_module

set_default_settings_module()

app = Celery("qr_payments")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def use_django_logging(**kwargs) -> None:
    """Celery calls this instead of configuring logging itself (worker and beat alike)."""
    logging.config.dictConfig(settings.LOGGING)
