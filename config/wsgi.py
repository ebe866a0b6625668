"""WSGI entry point for gunicorn."""

from django.core.wsgi import get_wsgi_application

from config.env import set_default_settings_module

set_default_settings_module()
application = get_wsgi_application()
