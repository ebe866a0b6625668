"""The Celery app: tasks are discovered in each app's tasks.py; beat uses the database scheduler."""

from celery import Celery

from config.env import set_default_settings_module

set_default_settings_module()

app = Celery("qr_payments")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
