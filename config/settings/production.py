"""Production: secrets required from the environment, HTTPS everywhere, no dev sinks."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import env

DEBUG = False
SECRET_KEY = env.str("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
DEV_SINKS_ENABLED = False
# Outbound connections to private addresses are a development convenience only (SSRF).
if OUTBOUND_ALLOW_PRIVATE_TARGETS:  # noqa: F405
    raise ImproperlyConfigured("OUTBOUND_ALLOW_PRIVATE_TARGETS is for development only; production refuses it.")

# --- HTTPS and cookies -------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
# Load balancers probe over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^health"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Outgoing mail defaults to Amazon SES through anymail in production.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="anymail.backends.amazon_ses.EmailBackend")
