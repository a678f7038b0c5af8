"""Settings for the peers, each configured as its documentation recommends for bulk sending:
django-post-office with Celery (CELERY_ENABLED, a batch per task, several threads per process,
templates rendered on delivery) and one held-open connection per thread; django-newsletter's
own submission loop. Both send through django-anymail's Amazon SES backend to the same SES v2
emulator as Bulletin, or through Django's SMTP backend to a local aiosmtpd sink."""

import os
from pathlib import Path
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "peers-bench"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
_db = urlsplit(os.environ["PEERS_DATABASE_URL"])
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _db.path.lstrip("/"),
        "USER": _db.username or "postgres",
        "PASSWORD": _db.password or "",
        "HOST": _db.hostname,
        "PORT": _db.port or 5432,
        "CONN_MAX_AGE": 60,
    }
}
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sites",
    "post_office",
    "newsletter",
]
SITE_ID = 1
ROOT_URLCONF = "peerproject.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {},
    }
]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DEFAULT_FROM_EMAIL = "Bulletin <news@bench.example.com>"

PEER_BACKEND = os.environ.get("PEER_BACKEND", "anymail")
if PEER_BACKEND == "smtp":
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST, EMAIL_PORT = "127.0.0.1", int(os.environ.get("PEER_SMTP_PORT", "2525"))
else:
    EMAIL_BACKEND = "anymail.backends.amazon_ses.EmailBackend"
ANYMAIL = {
    "AMAZON_SES_CLIENT_PARAMS": {
        "endpoint_url": os.environ.get("PEER_SES_ENDPOINT", ""),
        "region_name": "us-east-1",
        "aws_access_key_id": "AKIABENCH",
        "aws_secret_access_key": "bench",
        "config": {"connect_timeout": 5, "read_timeout": 20, "retries": {"total_max_attempts": 1}},
    }
}
POST_OFFICE = {
    "BACKENDS": {"default": EMAIL_BACKEND},
    "CELERY_ENABLED": True,
    "BATCH_SIZE": int(os.environ.get("PEER_BATCH_SIZE", "500")),
    "THREADS_PER_PROCESS": int(os.environ.get("PEER_THREADS", "8")),
    "DEFAULT_PRIORITY": "medium",
    "LOG_LEVEL": 0,
    "MESSAGE_ID_ENABLED": True,
}
CELERY_BROKER_URL = os.environ["PEERS_REDIS_URL"]
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
NEWSLETTER_CONFIRM_EMAIL = False
NEWSLETTER_THUMBNAIL = "sorl-thumbnail"
NEWSLETTER_USE_HTTPS = True
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
