"""Settings shared by every environment.

Every value comes from the environment (django-environ) with a default that is safe and
works on a laptop with nothing installed: SQLite, an embedded filesystem Celery broker and a
local outbox for mail. One commented block per integration.
"""

from __future__ import annotations

import importlib.util
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab  # noqa: F401  (kept for operators editing schedules)
from csp.constants import NONE, SELF, UNSAFE_INLINE
from kombu import Exchange, Queue

BASE_DIR = Path(__file__).resolve().parent.parent.parent
# A source checkout keeps its state (.env, var/, staticfiles/) beside manage.py; an installed
# wheel (site-packages) keeps it in the directory it is run from.
SOURCE_CHECKOUT = (BASE_DIR / "manage.py").is_file()
PROJECT_DIR = BASE_DIR if SOURCE_CHECKOUT else Path.cwd()


def asset_dir(folder: str) -> Path:
    """templates/, static/ or locale/: the folder of a source checkout, else the data package
    an installed wheel carries it in (`bulletin_<folder>`, see setup.py)."""
    if SOURCE_CHECKOUT:
        return BASE_DIR / folder
    spec = importlib.util.find_spec(f"bulletin_{folder}")
    return Path(next(iter(spec.submodule_search_locations))) if spec else BASE_DIR / folder


env = environ.Env()
# A .env file next to manage.py is read when present; the real environment wins.
environ.Env.read_env(PROJECT_DIR / ".env", overwrite=False)

# Where the embedded defaults keep their state (database, broker, outbox, sinks).
VAR_DIR = Path(env.str("BULLETIN_VAR_DIR", default=str(PROJECT_DIR / "var")))

# --- Core --------------------------------------------------------------------------------
SECRET_KEY = env.str("SECRET_KEY", default="insecure-local-development-key-change-me-0123456789")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Absolute base of public links in messages (unsubscribe, preferences, tracking).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
SITE_NAME = env.str("SITE_NAME", default="Bulletin")
# One or two sentences under the name on the home page, in feeds and in link previews.
SITE_DESCRIPTION = env.str(
    "SITE_DESCRIPTION", default="News, product updates and security alerts, by email, Slack, webhooks and RSS."
)
# Postal address printed in every email footer (CAN-SPAM).
POSTAL_ADDRESS = env.str("POSTAL_ADDRESS", default="Bulletin, 1 Example Street, Springfield")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.syndication",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "anymail",
    "csp",
    "axes",
    "core",
    "subscribers",
    "channels_app",
    "publishing",
    "analytics",
]

MIDDLEWARE = [
    "core.observability.middleware.RequestObservabilityMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Outermost but one, so every response gets the Content-Security-Policy header.
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # NUL characters in a path, query or form field are a 400 before any view (PostgreSQL refuses them).
    "core.middleware.NulCharacterMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "core.middleware.PublicLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Admin in the editor's own time zone (publishing.EditorProfile).
    "publishing.middleware.AdminTimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: turns a locked-out login into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [asset_dir("templates")],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "core.context_processors.site",
            ],
        },
    },
]

# --- Database ----------------------------------------------------------------------------
# PostgreSQL in production (DATABASE_URL=postgres://user:pass@host:5432/bulletin, psycopg 3);
# SQLite under var/ when unset.
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'bulletin.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # web, worker and beat share one file: WAL and IMMEDIATE transactions avoid
    # "database is locked" between them.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis and cache -----------------------------------------------------------------------
# Redis holds rate-limit buckets, circuit state, form throttles and the event buffer.
# Unset: a file cache under var/ shared by the local processes.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "bulletin",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- Celery --------------------------------------------------------------------------------
# Broker: CELERY_BROKER_URL, else REDIS_URL, else kombu's filesystem transport under var/broker
# (no server needed). Settings are tuned so no task is lost: late acks, reject on worker
# loss, prefetch 1; long waits live in the database, not in broker countdowns.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
BULLETIN_BROKER_FOLDER = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BULLETIN_BROKER_FOLDER / "queue"),
        "data_folder_out": str(BULLETIN_BROKER_FOLDER / "queue"),
        "control_folder": str(BULLETIN_BROKER_FOLDER / "control"),
        "processed_folder": str(BULLETIN_BROKER_FOLDER / "processed"),
        "store_processed": False,
        "polling_interval": 0.2,
    }
else:
    # Redis re-delivers an unacked message after this long; every task finishes well inside it.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    }
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=600)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=540)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
# The schedule lives in the database (django-celery-beat); only one beat process applies it at a
# time, however many run (core.beat_scheduler: a lease renewed each tick, a standby takes over).
CELERY_BEAT_SCHEDULER = "core.beat_scheduler:SingleBeatScheduler"
BEAT_LEADER_TTL_SECONDS = env.float("BEAT_LEADER_TTL_SECONDS", default=15.0)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Alerts get their own queue so they never wait behind a digest fan-out.
CELERY_TASK_DEFAULT_QUEUE = "default"
# Provider feedback (SNS notifications, tracking hits) has a queue of its own, so a burst of
# bounces never waits behind a newsletter and a slow feedback worker never delays sending.
CELERY_TASK_QUEUES = (
    Queue("alerts", Exchange("alerts"), routing_key="alerts"),
    Queue("default", Exchange("default"), routing_key="default"),
    Queue("bulk", Exchange("bulk"), routing_key="bulk"),
    Queue("feedback", Exchange("feedback"), routing_key="feedback"),
)
CELERY_TASK_ROUTES = {
    "analytics.tasks.provider_notification_process_task": {"queue": "feedback"},
    "analytics.tasks.provider_notifications_retry_task": {"queue": "feedback"},
    "analytics.tasks.tracking_buffer_drain_task": {"queue": "feedback"},
    "analytics.tasks.guard_sends_check_task": {"queue": "feedback"},
}

# --- Email ---------------------------------------------------------------------------------
# System mail (confirmations, guard alerts). Channels choose their own ESP per channel;
# this backend is the default for the "email" channel kind when none is configured.
# Unset: every message is written as an .eml file to var/outbox (browse it at /admin/outbox/).
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="core.mail.OutboxEmailBackend")
BULLETIN_OUTBOX_DIR = Path(env.str("BULLETIN_OUTBOX_DIR", default=str(VAR_DIR / "outbox")))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Bulletin <bulletin@example.com>")
SERVER_EMAIL = env.str("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)

# --- Amazon SES (django-anymail) -------------------------------------------------------------
# Credentials come from the standard AWS chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
# instance role) unless a channel stores its own. Endpoint URL points at SES-compatible
# services or a local emulator.
AWS_REGION = env.str("AWS_REGION", default="us-east-1")
SES_ENDPOINT_URL = env.str("SES_ENDPOINT_URL", default="")
ANYMAIL = {
    "AMAZON_SES_CLIENT_PARAMS": {
        "region_name": AWS_REGION,
        **({"endpoint_url": SES_ENDPOINT_URL} if SES_ENDPOINT_URL else {}),
    },
    "AMAZON_SES_CONFIGURATION_SET_NAME": env.str("SES_CONFIGURATION_SET", default="") or None,
    # Basic auth for the SNS tracking webhook ("user:password").
    "WEBHOOK_SECRET": env.str("ANYMAIL_WEBHOOK_SECRET", default="") or None,
}
# Inbound mail (the mailto unsubscribe, subscribers.inbound): Mailgun's webhook signing key and
# Brevo's API key (Brevo's inbound parser needs it), when unsubscribe mail arrives through them.
if env.str("ANYMAIL_MAILGUN_WEBHOOK_SIGNING_KEY", default=""):
    ANYMAIL["MAILGUN_WEBHOOK_SIGNING_KEY"] = env.str("ANYMAIL_MAILGUN_WEBHOOK_SIGNING_KEY")
if env.str("ANYMAIL_BREVO_API_KEY", default=""):
    ANYMAIL["BREVO_API_KEY"] = env.str("ANYMAIL_BREVO_API_KEY")

# --- Field encryption ----------------------------------------------------------------------
# Channel credentials are encrypted at rest with Fernet. Comma-separated keys: the first
# encrypts, all decrypt; rotate with `manage.py rotate_encryption_key` (see README).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEY", default=[])

# --- API (DRF, drf-spectacular, JWT) ------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        "core.api.jwt.PlatformJWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["core.api.permissions.RolePermission"],
    # JSON only, within API_MAX_BODY_BYTES and API_MAX_JSON_DEPTH, no NUL characters (core.api.parsers).
    "DEFAULT_PARSER_CLASSES": ["core.api.parsers.BoundedJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "core.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "core.api.schema.BulletinAutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_THROTTLE_RATES": {
        "public": env.str("THROTTLE_PUBLIC", default="30/minute"),
        "user": env.str("THROTTLE_USER", default="6000/minute"),
    },
    "DEFAULT_THROTTLE_CLASSES": ["core.api.throttling.UserWindowThrottle"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")
SPECTACULAR_SETTINGS = {
    "TITLE": "Bulletin API",
    "DESCRIPTION": "Publications, subscribers, topics, channels and analytics.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1/publishing",
    # Self-hosted: Swagger UI assets are served from our static files, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ChannelKindEnum": "channels_app.adapters.kind_choices",
        "SendKindEnum": "channels_app.models.SendKind",
        "DeliveryStateEnum": "channels_app.models.DeliveryState",
        "EventDeliveryStateEnum": "channels_app.event_models.EventDeliveryState",
        # Publications kept the name they had before other "state" fields came (clients use it).
        "StateEnum": "publishing.models.PublicationState",
    },
}
# Request bodies: API JSON (and SES/SNS webhook posts) larger than this are refused with 413
# before they are read; JSON nested deeper than this is refused with 400 (RecursionError otherwise).
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1024 * 1024)
API_MAX_JSON_DEPTH = env.int("API_MAX_JSON_DEPTH", default=32)
# JWTs issued by the platform's auth service (RS256). Disabled unless a public key is set.
JWT_PUBLIC_KEY = env.str("JWT_PUBLIC_KEY", default="").replace("\\n", "\n")
JWT_ISSUER = env.str("JWT_ISSUER", default="")
JWT_AUDIENCE = env.str("JWT_AUDIENCE", default="bulletin")
JWT_ROLE_CLAIM = env.str("JWT_ROLE_CLAIM", default="bulletin_role")

# --- Auth, i18n, static ----------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Admin login brute-force protection (django-axes): after AXES_FAILURE_LIMIT failed logins for
# one username from one address, that pair is locked out (429) for AXES_COOLOFF_MINUTES, even
# with the right password. A successful login resets the count. Unlock early with
# `manage.py axes_reset_username <name>` or in admin (Axes → Access attempts). API tokens and
# JWTs never go through a password login, so they are not affected.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The client address as the rest of Bulletin sees it (TRUSTED_PROXY_COUNT decides X-Forwarded-For).
AXES_CLIENT_IP_CALLABLE = "subscribers.http.client_ip"
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"

# --- Content-Security-Policy (django-csp) ----------------------------------------------------
# Scripts only from this site (no inline scripts, no eval): the admin, the compose preview and
# Swagger UI load theirs as files. Inline styles are allowed because email previews are HTML
# with inlined CSS, shown in sandboxed srcdoc iframes that inherit this policy. Images may come
# from any https host (publication bodies and emails link them). Nothing may frame Bulletin.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:", "https:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        **({"report-uri": env.str("CSP_REPORT_URI")} if env.str("CSP_REPORT_URI", default="") else {}),
    },
}

# Public pages and Bulletin's own emails are in the subscriber's language (Subscriber.locale,
# else the browser's); admin and the API stay in LANGUAGE_CODE. Catalogues: locale/<code>/,
# compiled to .mo by the install (core.i18n, `manage.py compile_translations`).
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [asset_dir("locale")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(PROJECT_DIR / "staticfiles")))
STATICFILES_DIRS = [asset_dir("static")]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = env.str("MEDIA_URL", default="/media/")

# --- Uploaded images (the compose editor) ---------------------------------------------------
# Embedded default: files in MEDIA_ROOT, served by Bulletin at MEDIA_URL (SERVE_MEDIA).
# Production: any S3-compatible bucket through django-storages when MEDIA_S3_BUCKET is set.
# URLs never expire (no query-string signatures): emails show them for years, so the bucket
# (or MEDIA_S3_CUSTOM_DOMAIN's CDN) must allow public reads of these objects.
MEDIA_S3_BUCKET = env.str("MEDIA_S3_BUCKET", default="")
if MEDIA_S3_BUCKET:
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": MEDIA_S3_BUCKET,
            "endpoint_url": env.str("MEDIA_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("MEDIA_S3_REGION", default="") or None,
            "access_key": env.str("MEDIA_S3_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("MEDIA_S3_SECRET_ACCESS_KEY", default="") or None,
            "custom_domain": env.str("MEDIA_S3_CUSTOM_DOMAIN", default="") or None,
            "location": env.str("MEDIA_S3_PREFIX", default=""),
            "querystring_auth": False,
            "file_overwrite": False,
        },
    }
SERVE_MEDIA = env.bool("SERVE_MEDIA", default=not MEDIA_S3_BUCKET)
EDITOR_IMAGE_MAX_BYTES = env.int("EDITOR_IMAGE_MAX_BYTES", default=10 * 1024 * 1024)
EDITOR_IMAGE_MAX_WIDTH = env.int("EDITOR_IMAGE_MAX_WIDTH", default=1200)
EDITOR_IMAGE_PREFIX = "editor"
LOGIN_URL = "admin:login"

# --- Send pipeline -------------------------------------------------------------------------
# Deliveries per Celery task (one broker message per batch, not per email).
DELIVERY_BATCH_SIZE = env.int("DELIVERY_BATCH_SIZE", default=500)
# Subscribers materialized into deliveries per INSERT ... SELECT (keyset pages).
DELIVERY_MATERIALIZE_CHUNK = env.int("DELIVERY_MATERIALIZE_CHUNK", default=10000)
# Send-time optimization (issue 18): how far back opens and clicks teach a subscriber's best
# hour, and the local hour used when nobody has engaged yet.
SEND_TIME_LOOKBACK_DAYS = env.int("SEND_TIME_LOOKBACK_DAYS", default=90)
SEND_TIME_DEFAULT_HOUR = env.int("SEND_TIME_DEFAULT_HOUR", default=9)
# Attempts before a delivery is dead (dead-letter view in admin, with requeue).
DELIVERY_MAX_ATTEMPTS = env.int("DELIVERY_MAX_ATTEMPTS", default=6)
# Exponential backoff with jitter: base * 2^(attempt-1), capped; Retry-After is a floor.
DELIVERY_RETRY_BASE_SECONDS = env.float("DELIVERY_RETRY_BASE_SECONDS", default=10.0)
DELIVERY_RETRY_MAX_SECONDS = env.float("DELIVERY_RETRY_MAX_SECONDS", default=3600.0)
# Retries due within this many seconds are re-enqueued with a countdown; longer waits stay in
# the database (next_attempt_at) for the sweeper, never as long broker countdowns.
DELIVERY_RETRY_INLINE_MAX_SECONDS = env.float("DELIVERY_RETRY_INLINE_MAX_SECONDS", default=30.0)
# Outbound events (webhook endpoints): attempts before an event delivery is dead (the backoff is
# the pipeline's, DELIVERY_RETRY_*: 12 attempts span about four hours), and a claim's lease.
EVENT_DELIVERY_MAX_ATTEMPTS = env.int("EVENT_DELIVERY_MAX_ATTEMPTS", default=12)
EVENT_DELIVERY_LEASE_SECONDS = env.int("EVENT_DELIVERY_LEASE_SECONDS", default=60)
# Transactional messages (POST messages): provider attempts before a message is failed.
MESSAGE_MAX_ATTEMPTS = env.int("MESSAGE_MAX_ATTEMPTS", default=5)
# A batch holds its claimed deliveries under a lease it renews every RENEW seconds while it
# works; the sweeper takes back the claims of a worker that died once the lease runs out.
DELIVERY_LEASE_SECONDS = env.int("DELIVERY_LEASE_SECONDS", default=30)
DELIVERY_LEASE_RENEW_SECONDS = env.float("DELIVERY_LEASE_RENEW_SECONDS", default=5.0)
# Deliveries put back because our own infrastructure (database, Redis, broker) failed are due
# again after this long, without spending an attempt.
DELIVERY_INFRA_RETRY_SECONDS = env.float("DELIVERY_INFRA_RETRY_SECONDS", default=5.0)
# Queued work whose broker message was published this long ago and never arrived is
# re-enqueued (a broker that lost its data is detected at once; see core.broker).
DELIVERY_REDISPATCH_AFTER_SECONDS = env.int("DELIVERY_REDISPATCH_AFTER_SECONDS", default=600)
# ... and after this long when no message waits in the broker at all (a worker that died took
# the message with it; Redis would give it back only after its visibility timeout).
DELIVERY_IDLE_REDISPATCH_AFTER_SECONDS = env.int("DELIVERY_IDLE_REDISPATCH_AFTER_SECONDS", default=10)
# A write that must not be lost (a provider's acceptance) waits this long at most for the
# database to come back, reconnecting, before the batch gives up on it.
DB_WRITE_RETRY_SECONDS = env.float("DB_WRITE_RETRY_SECONDS", default=60.0)
# A started send with no fan-out alive after GRACE seconds gets one from the sweeper; a
# fan-out renews its lease on the send while it works.
SEND_FANOUT_GRACE_SECONDS = env.float("SEND_FANOUT_GRACE_SECONDS", default=5.0)
SEND_FANOUT_LEASE_SECONDS = env.float("SEND_FANOUT_LEASE_SECONDS", default=60.0)
# A send waits at most this long for rate-limit tokens before deferring the rest to later.
RATE_LIMIT_MAX_WAIT_SECONDS = env.float("RATE_LIMIT_MAX_WAIT_SECONDS", default=20.0)
# A destination limited on its own (a Slack conversation, ~1/s) that is full for longer than
# this is not waited for: its messages go back to the queue due when it has room, and the
# batch's other destinations go ahead (channels_app.ratelimit).
RATE_LIMIT_TARGET_MAX_WAIT_SECONDS = env.float("RATE_LIMIT_TARGET_MAX_WAIT_SECONDS", default=0.5)
# Circuit breaker per channel.
CIRCUIT_FAILURE_THRESHOLD = env.int("CIRCUIT_FAILURE_THRESHOLD", default=5)
CIRCUIT_COOLDOWN_SECONDS = env.float("CIRCUIT_COOLDOWN_SECONDS", default=30.0)
# A batch tells the circuit of its successes at most this often (they only clear the failure count).
CIRCUIT_SUCCESS_EVERY_SECONDS = env.float("CIRCUIT_SUCCESS_EVERY_SECONDS", default=1.0)
CIRCUIT_PAUSED_COOLDOWN_SECONDS = env.float("CIRCUIT_PAUSED_COOLDOWN_SECONDS", default=900.0)
# A provider throttling every call ("slow down", 429) pauses the channel briefly, doubling while it lasts.
CIRCUIT_THROTTLED_COOLDOWN_SECONDS = env.float("CIRCUIT_THROTTLED_COOLDOWN_SECONDS", default=5.0)
CIRCUIT_MAX_COOLDOWN_SECONDS = env.float("CIRCUIT_MAX_COOLDOWN_SECONDS", default=600.0)
CIRCUIT_PROBE_TIMEOUT_SECONDS = env.int("CIRCUIT_PROBE_TIMEOUT_SECONDS", default=60)
# Outbound connections (webhooks, Discord, Slack base_url, SES endpoint_url, SMTP host, personal
# webhooks) may not reach private, loopback, link-local, multicast or reserved addresses (SSRF)
# unless this is on: development only (the demo sinks and test emulators are on loopback).
# Production settings refuse it (core.outbound).
OUTBOUND_ALLOW_PRIVATE_TARGETS = env.bool("OUTBOUND_ALLOW_PRIVATE_TARGETS", default=False)
# Test sends ("Send test" on a channel or a publication) go to the requesting user's own email
# and the addresses admins list under Channels → Test recipients, at most this many at once.
TEST_SEND_MAX_RECIPIENTS = env.int("TEST_SEND_MAX_RECIPIENTS", default=5)
# The publish page warns about what went to an overlapping audience (a shared topic or the same
# segment) in the last this many hours; 0 turns the warning off.
PUBLISH_OVERLAP_WARNING_HOURS = env.int("PUBLISH_OVERLAP_WARNING_HOURS", default=24)

# --- Pre-send checks (publishing.services.checks) -------------------------------------------
# SpamAssassin's spamd (Debian's `spamd` package; `make run` and .ci/run start it when installed).
# Unreachable: the spam check says "scoring unavailable" and blocks nothing.
SPAMD_HOST = env.str("SPAMD_HOST", default="127.0.0.1")
SPAMD_PORT = env.int("SPAMD_PORT", default=783)
SPAMD_TIMEOUT_SECONDS = env.float("SPAMD_TIMEOUT_SECONDS", default=10.0)
# A score at or above WARN warns; at or above FAIL blocks publishing (SpamAssassin's own is 5.0).
SPAM_SCORE_WARN = env.float("SPAM_SCORE_WARN", default=3.0)
SPAM_SCORE_FAIL = env.float("SPAM_SCORE_FAIL", default=5.0)
# Links of a message are checked (HEAD, then GET) with this timeout; answers are cached this long.
PRESEND_LINK_TIMEOUT_SECONDS = env.float("PRESEND_LINK_TIMEOUT_SECONDS", default=3.0)
PRESEND_LINK_CACHE_SECONDS = env.int("PRESEND_LINK_CACHE_SECONDS", default=3600)
PRESEND_LINK_WORKERS = env.int("PRESEND_LINK_WORKERS", default=8)
# Publishing (now or scheduled) is refused while a check fails, unless a publisher overrides
# it with a recorded reason. Off: the checks are only shown.
PRESEND_CHECKS_GATE = env.bool("PRESEND_CHECKS_GATE", default=True)

# --- Publishing: digests, personalization, archive ---------------------------------------
# Items per digest, and how late a digest may still go out after its local hour (beat was
# down): later than this, that period is skipped and its items roll into the next digest.
DIGEST_TOP_N = env.int("DIGEST_TOP_N", default=10)
DIGEST_CATCH_UP_HOURS = env.int("DIGEST_CATCH_UP_HOURS", default=12)
# Oldest publication a digest may list, however long ago the subscriber's last digest was.
DIGEST_MAX_LOOKBACK_DAYS = env.int("DIGEST_MAX_LOOKBACK_DAYS", default=14)
# Subscribers ranked, claimed and written per transaction.
DIGEST_BATCH_SIZE = env.int("DIGEST_BATCH_SIZE", default=1000)
# The next window starts this much before a run, for publications committed during it.
DIGEST_WINDOW_GRACE_SECONDS = env.int("DIGEST_WINDOW_GRACE_SECONDS", default=60)
# Ranking: score = weights x (topic match, recency, quality, engagement); see publishing.services.ranking.
RANKING_WEIGHT_TOPIC = env.float("RANKING_WEIGHT_TOPIC", default=1.0)
RANKING_WEIGHT_RECENCY = env.float("RANKING_WEIGHT_RECENCY", default=1.0)
RANKING_WEIGHT_QUALITY = env.float("RANKING_WEIGHT_QUALITY", default=0.5)
RANKING_WEIGHT_ENGAGEMENT = env.float("RANKING_WEIGHT_ENGAGEMENT", default=1.0)
RANKING_RECENCY_HALF_LIFE_HOURS = env.float("RANKING_RECENCY_HALF_LIFE_HOURS", default=24.0)
RANKING_DEFAULT_QUALITY = env.float("RANKING_DEFAULT_QUALITY", default=0.5)
RANKING_CLICK_HALF_LIFE_DAYS = env.float("RANKING_CLICK_HALF_LIFE_DAYS", default=30.0)
RANKING_CLICK_LOOKBACK_DAYS = env.int("RANKING_CLICK_LOOKBACK_DAYS", default=180)
RANKING_CLICK_SATURATION = env.float("RANKING_CLICK_SATURATION", default=3.0)
# Public archive pages and RSS/Atom feeds: cache lifetime (seconds) and items per page.
ARCHIVE_CACHE_SECONDS = env.int("ARCHIVE_CACHE_SECONDS", default=300)
ARCHIVE_PAGE_SIZE = env.int("ARCHIVE_PAGE_SIZE", default=20)
HOME_LATEST_COUNT = env.int("HOME_LATEST_COUNT", default=6)  # publications on the home page

# --- Subscriber links ---------------------------------------------------------------------
# Signed-token lifetimes (seconds). Unsubscribe links must keep working for months.
CONFIRM_TOKEN_MAX_AGE = env.int("CONFIRM_TOKEN_MAX_AGE", default=7 * 24 * 3600)
PREFERENCES_TOKEN_MAX_AGE = env.int("PREFERENCES_TOKEN_MAX_AGE", default=180 * 24 * 3600)
UNSUBSCRIBE_TOKEN_MAX_AGE = env.int("UNSUBSCRIBE_TOKEN_MAX_AGE", default=2 * 365 * 24 * 3600)
# The mailto: form of List-Unsubscribe (blank: HTTPS only). Set it only once mail to
# `<local>+<token>@<domain>` reaches one of the inbound webhooks (README: mailto unsubscribe).
LIST_UNSUBSCRIBE_MAILTO = env.str("LIST_UNSUBSCRIBE_MAILTO", default="")

# --- Subscribers: double opt-in, public forms, contact points, import ---------------------
# A pending address gets at most one confirmation (or "already subscribed" notice) per this
# many seconds, however often the form is submitted.
SUBSCRIBE_CONFIRMATION_RESEND_INTERVAL = env.int("SUBSCRIBE_CONFIRMATION_RESEND_INTERVAL", default=300)
# Public form rate limits ("<count>/<second|minute|hour|day>"), counted in Redis when REDIS_URL
# is set, else in Django's cache.
SUBSCRIBE_RATE_LIMIT_PER_IP = env.str("SUBSCRIBE_RATE_LIMIT_PER_IP", default="20/hour")
SUBSCRIBE_RATE_LIMIT_PER_EMAIL = env.str("SUBSCRIBE_RATE_LIMIT_PER_EMAIL", default="5/hour")
# Reverse proxies in front of Bulletin that append to X-Forwarded-For (0: use REMOTE_ADDR).
# Used for rate limits and the IP kept in consent records; never trust the header without it.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# Personal webhook URLs must be https unless this allows plain http (local testing only).
SUBSCRIBER_WEBHOOK_ALLOW_HTTP = env.bool("SUBSCRIBER_WEBHOOK_ALLOW_HTTP", default=False)
# CSV import: largest file accepted (bytes) and rows written per transaction.
SUBSCRIBERS_IMPORT_MAX_BYTES = env.int("SUBSCRIBERS_IMPORT_MAX_BYTES", default=20 * 1024 * 1024)
SUBSCRIBERS_IMPORT_CHUNK_SIZE = env.int("SUBSCRIBERS_IMPORT_CHUNK_SIZE", default=5000)

# --- Segments and engagement tiers -----------------------------------------------------------
# Engagement tiers (subscribers/engagement.py): active from this score up; otherwise new while
# younger than ENGAGEMENT_TIER_NEW_DAYS; otherwise at risk from ENGAGEMENT_TIER_AT_RISK_MIN up;
# otherwise dormant. The score (analytics/services/engagement.py, nightly) sums human opens (1)
# and clicks (ENGAGEMENT_SCORE_CLICK_WEIGHT) of the last ENGAGEMENT_SCORE_LOOKBACK_DAYS, each
# halved every ENGAGEMENT_SCORE_HALF_LIFE_DAYS.
ENGAGEMENT_TIER_ACTIVE_MIN = env.float("ENGAGEMENT_TIER_ACTIVE_MIN", default=2.0)
ENGAGEMENT_TIER_AT_RISK_MIN = env.float("ENGAGEMENT_TIER_AT_RISK_MIN", default=0.25)
ENGAGEMENT_TIER_NEW_DAYS = env.int("ENGAGEMENT_TIER_NEW_DAYS", default=30)
ENGAGEMENT_SCORE_HALF_LIFE_DAYS = env.float("ENGAGEMENT_SCORE_HALF_LIFE_DAYS", default=30.0)
ENGAGEMENT_SCORE_CLICK_WEIGHT = env.float("ENGAGEMENT_SCORE_CLICK_WEIGHT", default=3.0)
ENGAGEMENT_SCORE_LOOKBACK_DAYS = env.int("ENGAGEMENT_SCORE_LOOKBACK_DAYS", default=180)
# Subscribers shown per page of a segment preview (API and the admin editor's sample).
SEGMENT_PREVIEW_PAGE_SIZE = env.int("SEGMENT_PREVIEW_PAGE_SIZE", default=20)
# Memory per sort or hash of an audience count (PostgreSQL work_mem, for that query only).
SEGMENT_QUERY_WORK_MEM = env.str("SEGMENT_QUERY_WORK_MEM", default="64MB")
# PostgreSQL's parallel_tuple_cost for audience queries only (its default is 0.1). A segment's
# behavioural conditions hash hundreds of thousands of deliveries and events; at 0.1 the
# planner kept those joins on one core, 940 ms for the nested benchmark segment, 700 ms at 0.01.
SEGMENT_QUERY_PARALLEL_TUPLE_COST = env.float("SEGMENT_QUERY_PARALLEL_TUPLE_COST", default=0.01)

# --- Analytics: tracking, SES feedback, list hygiene, deliverability guard, rollups -------
# Tracking hits go to a Redis stream ("redis", the default with REDIS_URL) and a beat task
# writes them in bulk; "direct" writes each hit in the request (the embedded default).
TRACKING_BUFFER = env.str("TRACKING_BUFFER", default="redis" if REDIS_URL else "direct")
TRACKING_STREAM_KEY = env.str("TRACKING_STREAM_KEY", default="bulletin:tracking")
# Hits per drain transaction, and how long one drain task may run before the next takes over.
TRACKING_DRAIN_BATCH_SIZE = env.int("TRACKING_DRAIN_BATCH_SIZE", default=1000)
TRACKING_DRAIN_MAX_SECONDS = env.float("TRACKING_DRAIN_MAX_SECONDS", default=10.0)
# Hits read by a drain that died are claimed again after being pending this long.
TRACKING_DRAIN_RECLAIM_IDLE_SECONDS = env.float("TRACKING_DRAIN_RECLAIM_IDLE_SECONDS", default=30.0)
# Clicks this soon after delivery are security scanners, not people.
TRACKING_MACHINE_CLICK_SECONDS = env.float("TRACKING_MACHINE_CLICK_SECONDS", default=2.0)
# How long a web process keeps a send's link table.
TRACKING_LINKS_CACHE_SECONDS = env.float("TRACKING_LINKS_CACHE_SECONDS", default=300.0)
# Answer open pixels and click redirects in a WSGI wrapper, before Django's middleware
# (analytics/wsgi.py): the same services and responses, a fraction of the cost per hit.
TRACKING_FAST_PATH = env.bool("TRACKING_FAST_PATH", default=True)

# SES feedback arrives through SNS at /anymail/amazon_ses/tracking/. Only notifications whose
# signature verifies (SignatureVersion 1 or 2, certificate from https://sns.<region>.amazonaws.com/)
# and whose TopicArn is listed here are accepted; an empty list accepts none.
SNS_TOPIC_ARNS = env.list("SNS_TOPIC_ARNS", default=[])
# A PEM file of the certificate trusted to sign notifications instead of downloading
# SigningCertURL (tests sign with their own key; air-gapped hosts pin AWS's certificate).
SNS_CERTIFICATE_FILE = env.str("SNS_CERTIFICATE_FILE", default="")
# Where subscription confirmations are sent (blank: the SubscribeURL SNS gave, on amazonaws.com).
SNS_ENDPOINT_URL = env.str("SNS_ENDPOINT_URL", default="")
# Notifications whose signed Timestamp is older than this are refused (403) as replays.
SNS_MAX_AGE_SECONDS = env.int("SNS_MAX_AGE_SECONDS", default=3600)
# Other ESPs post feedback to /anymail/<esp>/tracking/<channel id>/ (analytics.esp_webhooks),
# verified with that channel's webhook credentials; a signed Mailgun timestamp older than this
# (or as far in the future) is refused as a replay.
ESP_WEBHOOK_MAX_AGE_SECONDS = env.int("ESP_WEBHOOK_MAX_AGE_SECONDS", default=3600)
# A notification for a message whose delivery is not recorded yet is retried for this long.
FEEDBACK_UNMATCHED_RETRY_SECONDS = env.int("FEEDBACK_UNMATCHED_RETRY_SECONDS", default=900)
# A stored notification whose processing raised is retried (backoff from a minute, doubling)
# until this many attempts; then it is dead, its error shown in admin (Provider notifications).
FEEDBACK_MAX_ATTEMPTS = env.int("FEEDBACK_MAX_ATTEMPTS", default=5)

# List hygiene: soft bounces (SES Transient/Undetermined) suppress an address after this many
# within the window; hard bounces (Permanent) and complaints suppress at once.
HYGIENE_SOFT_BOUNCE_LIMIT = env.int("HYGIENE_SOFT_BOUNCE_LIMIT", default=3)
HYGIENE_SOFT_BOUNCE_WINDOW_DAYS = env.int("HYGIENE_SOFT_BOUNCE_WINDOW_DAYS", default=30)
# Sunset policy (daily beat): active subscribers with no human open or click for
# SUNSET_INACTIVE_DAYS, who got at least SUNSET_MIN_DELIVERIES messages in that time, are
#   off       left alone
#   mark      marked inactive (visible in admin: List hygiene actions)
#   reengage  marked and sent one "still interested?" message; suppressed if still silent
#             SUNSET_GRACE_DAYS later
#   suppress  marked and suppressed
SUNSET_ACTION = env.str("SUNSET_ACTION", default="mark")
SUNSET_INACTIVE_DAYS = env.int("SUNSET_INACTIVE_DAYS", default=180)
SUNSET_MIN_DELIVERIES = env.int("SUNSET_MIN_DELIVERIES", default=5)
SUNSET_GRACE_DAYS = env.int("SUNSET_GRACE_DAYS", default=14)

# Deliverability guard (modelled on SES's account limits): a send pauses itself when its hard
# bounce rate or complaint rate crosses these, once at least GUARD_MIN_SAMPLE of its messages
# were handed over; channels are watched over a rolling GUARD_CHANNEL_WINDOW_DAYS.
GUARD_BOUNCE_RATE = env.float("GUARD_BOUNCE_RATE", default=0.05)
GUARD_COMPLAINT_RATE = env.float("GUARD_COMPLAINT_RATE", default=0.001)
GUARD_MIN_SAMPLE = env.int("GUARD_MIN_SAMPLE", default=200)
GUARD_CHANNEL_WINDOW_DAYS = env.int("GUARD_CHANNEL_WINDOW_DAYS", default=7)
# Reports warn when a rate reaches this share of its threshold ("near the limit").
GUARD_WARNING_RATIO = env.float("GUARD_WARNING_RATIO", default=0.8)
# Where guard alerts go: a channel's name (posted through its adapter, e.g. a Slack channel)
# and/or email addresses (through EMAIL_BACKEND).
GUARD_ALERT_CHANNEL = env.str("GUARD_ALERT_CHANNEL", default="")
GUARD_ALERT_EMAILS = env.list("GUARD_ALERT_EMAILS", default=[])

# Raw engagement events older than this are deleted (daily); rollups are kept forever.
ANALYTICS_EVENT_RETENTION_DAYS = env.int("ANALYTICS_EVENT_RETENTION_DAYS", default=400)
# --- Partitions (PostgreSQL; docs/partitioning.md) -----------------------------------------
# Deliveries and engagement events are partitioned by month; beat creates this many months ahead.
PARTITION_MONTHS_AHEAD = env.int("PARTITION_MONTHS_AHEAD", default=3)
# Months of deliveries kept (whole months, by their send's month; 0 keeps them all). Their
# counts stay in the rollups and the send's counts; a month is dropped only once rolled up.
DELIVERY_RETENTION_MONTHS = env.int("DELIVERY_RETENTION_MONTHS", default=0)
# `migrate` converts tables up to this many rows itself; larger ones: manage.py partition_tables.
PARTITION_INLINE_MAX_ROWS = env.int("PARTITION_INLINE_MAX_ROWS", default=100_000)
# Incremental scans look back this far past their cursor (transactions that committed late).
ANALYTICS_SCAN_OVERLAP_SECONDS = env.int("ANALYTICS_SCAN_OVERLAP_SECONDS", default=300)

# --- Health ----------------------------------------------------------------------------------
# A worker heartbeat older than this is reported as stale by /health/ready.
WORKER_HEARTBEAT_MAX_AGE = env.int("WORKER_HEARTBEAT_MAX_AGE", default=180)
# Whether a stale worker heartbeat makes /health/ready fail (web can serve without workers).
HEALTH_REQUIRE_WORKER = env.bool("HEALTH_REQUIRE_WORKER", default=False)
# No heartbeat recorded at all this long after a web process started: /health/ready is 503
# (beat sends one a minute: workers and beat never started, or cannot reach the broker).
WORKER_HEARTBEAT_GRACE_SECONDS = env.int("WORKER_HEARTBEAT_GRACE_SECONDS", default=300)

# --- Development sinks -----------------------------------------------------------------
# Local endpoints that accept Slack, Discord and webhook posts and keep them under var/sinks,
# so the demo channels deliver somewhere safe. Never enabled in production settings.
DEV_SINKS_ENABLED = env.bool("DEV_SINKS_ENABLED", default=False)

# LOG_FORMAT=json: one JSON object per line with request_id and task_id (core.observability).
LOG_FORMAT = env.str("LOG_FORMAT", default="text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "core.observability.logs.ContextFilter"},
        # Periodic tasks log only when they did something (core/observability/quiet.py).
        "quiet": {"()": "core.observability.quiet.QuietPeriodicTasksFilter"},
    },
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "core.observability.logs.BulletinJsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "text",
            "filters": ["context", "quiet"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Observability (core.observability) ----------------------------------------------------
# /metrics answers scrapers with this bearer token, or from these networks (REMOTE_ADDR).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.1/32", "::1/128"])
# Workers serve their own metrics (provider latency, task times) on this port when set.
WORKER_METRICS_PORT = env.int("WORKER_METRICS_PORT", default=0)
WORKER_METRICS_ADDRESS = env.str("WORKER_METRICS_ADDRESS", default="0.0.0.0")  # noqa: S104 (a container port)
# The operations watchdog (every worker, every OPS_CHECK_SECONDS; 0 turns it off) alerts the
# guard's alert channel/emails at most once per OPS_ALERT_REPEAT_SECONDS per problem.
OPS_CHECK_SECONDS = env.float("OPS_CHECK_SECONDS", default=60.0)
OPS_ALERT_REPEAT_SECONDS = env.int("OPS_ALERT_REPEAT_SECONDS", default=3600)
OPS_ALERT_DEAD_LETTERS_GROWTH = env.int("OPS_ALERT_DEAD_LETTERS_GROWTH", default=50)
OPS_ALERT_QUEUE_AGE_SECONDS = env.float("OPS_ALERT_QUEUE_AGE_SECONDS", default=300.0)
OPS_ALERT_BEAT_LAG_SECONDS = env.float("OPS_ALERT_BEAT_LAG_SECONDS", default=120.0)

# --- Deliverability DNS (channels_app.dns): mailbox providers and domain health ---------------
# Every DNS question Bulletin asks (MX of recipients' domains, SPF/DKIM/DMARC of From domains)
# goes to these nameservers (blank: the system's resolv.conf) on this port.
DNS_NAMESERVERS = env.list("DNS_NAMESERVERS", default=[])
DNS_PORT = env.int("DNS_PORT", default=53)
DNS_TIMEOUT_SECONDS = env.float("DNS_TIMEOUT_SECONDS", default=3.0)
# A custom domain's mailbox provider (found from its MX) is re-resolved after this long.
MAILBOX_PROVIDER_CACHE_SECONDS = env.int("MAILBOX_PROVIDER_CACHE_SECONDS", default=7 * 24 * 3600)
# Messages per second to each mailbox provider, shared by every worker, e.g.
# "gmail=50,outlook=20,yahoo=10". A provider not listed is paced by the channel's limit only.
MAILBOX_PROVIDER_RATES = env.dict("MAILBOX_PROVIDER_RATES", cast={"value": float}, default={})
# Pausing one provider's stream: a send's hard bounce or complaint rate to one provider over
# the guard's thresholds, once at least this many of its messages went to that provider.
GUARD_PROVIDER_MIN_SAMPLE = env.int("GUARD_PROVIDER_MIN_SAMPLE", default=100)
# Deliveries held for a paused provider are looked at again after this long.
MAILBOX_PROVIDER_HOLD_SECONDS = env.float("MAILBOX_PROVIDER_HOLD_SECONDS", default=300.0)
