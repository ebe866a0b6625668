"""Settings by environment: base.py, then local.py (development), test.py or production.py.

The entry points (manage.py, wsgi.py, asgi.py, celery.py) pick the module with
`config.env.settings_module()` from DJANGO_ENV; tests use config.settings.test.
"""
