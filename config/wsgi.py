import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

django_application = get_wsgi_application()

from analytics.wsgi import TrackingFastPath  # noqa: E402 (needs the settings configured above)

# Open pixels and click redirects are answered before Django's middleware (see analytics/wsgi.py).
application = TrackingFastPath(django_application)
