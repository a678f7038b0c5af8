"""Email through django-anymail: Amazon SES v2 (bulk), Postmark, SendGrid, Mailgun or Brevo (the
ESPs whose feedback Bulletin receives), SMTP, or the local outbox, chosen per channel by
`config["esp"]`; `config["api_url"]` points an ESP's backend at another API host.

Amazon SES: one SendBulkEmail call per chunk of up to 50 recipients, with the send's template
inline (TemplateContent, "simple substitutions") and each recipient's own replacement data and
headers (List-Unsubscribe). Every recipient still gets a separate message; SES reports a status
per entry. https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendBulkEmail.html
Other backends: each message rendered here and sent on its own, each in its own try.

The boto3 client lives as long as the adapter (one per worker process and channel); botocore
never retries (Celery and the database do) and has firm timeouts.

Every connection goes through core.outbound: SES calls and anymail's HTTP ESPs through one
OutboundSession per adapter, SMTP through core.outbound.smtp; a host that is not public is an
UnsafeTargetError (permanent), and provider answers are kept as short reasons only.
"""

from __future__ import annotations

import re
import smtplib
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import formataddr
from typing import Any

import requests
from anymail.exceptions import AnymailError, AnymailNotSupportedWarning, AnymailRecipientsRefused
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.message import make_msgid
from django.core.validators import validate_email

from channels_app.adapters.base import (
    Audience,
    ChannelAdapter,
    DemoChannel,
    Limits,
    MessageTemplate,
    PermanentProviderError,
    RenderedMessage,
    SendResult,
    TransientProviderError,
    UnsafeTargetError,
    digest,
)
from channels_app.adapters.fields import (
    BooleanField,
    ChoiceField,
    EmailField,
    HostField,
    NumberField,
    TextField,
    URLField,
)
from channels_app.adapters.http import response_reason
from channels_app.adapters.ses_bulk import SesBulkSender, SesCallError, bulk_params
from channels_app.adapters.ses_errors import bulk_results, classify_ses_call
from core.outbound import TargetRefused
from core.outbound.aws import route_through
from core.outbound.http import OutboundSession

SES = "amazon_ses"
_DOMAIN = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)
# Anymail ESPs selectable per channel (anymail.backends.<name>), plus Django's SMTP and our outbox.
# Only ESPs whose sending and feedback (bounces, complaints, deliveries) are tested end to end
# against an emulator of their API and webhooks (tests/emulators/esps.py): SES through SNS
# (analytics.webhooks), the others through anymail's tracking webhooks (analytics.esp_webhooks).
ANYMAIL_ESPS = {SES, "postmark", "sendgrid", "mailgun", "brevo"}
# Once selectable, no longer offered: no feedback, so hygiene and the guard would stop unseen.
RETIRED_ESPS = {"sparkpost", "mailjet", "resend", "postal", "mailersend"}
LOCAL_BACKENDS = {"smtp": "core.outbound.smtp.EmailBackend", "outbox": "core.mail.OutboxEmailBackend"}
ESP_CHOICES = tuple(sorted(ANYMAIL_ESPS | set(LOCAL_BACKENDS)))
# Credentials that verify the ESP's tracking webhooks (analytics.esp_webhooks), never given to anymail's backend.
WEBHOOK_CREDENTIALS = ("webhook_secret", "webhook_signing_key", "webhook_verification_key")
_SECRET = "Stored encrypted, never shown."
# Where each provider's settings are explained (anymail documents each ESP's keys and webhooks);
# the local outbox has nothing to set up.
ESP_DOCS = {
    SES: "https://anymail.dev/en/stable/esps/amazon_ses/",
    "postmark": "https://anymail.dev/en/stable/esps/postmark/",
    "sendgrid": "https://anymail.dev/en/stable/esps/sendgrid/",
    "mailgun": "https://anymail.dev/en/stable/esps/mailgun/",
    "brevo": "https://anymail.dev/en/stable/esps/brevo/",
    "smtp": "https://docs.djangoproject.com/en/5.2/topics/email/#smtp-backend",
}


@dataclass(frozen=True)
class EspChoiceField(ChoiceField):
    """The provider, with a clear word for an ESP Bulletin no longer offers."""

    def problem(self, value: Any) -> str:
        if value in RETIRED_ESPS:
            return (
                f"{value} is no longer offered: Bulletin cannot receive its bounces and complaints. "
                f"Choose one of {', '.join(self.choices)}."
            )
        return super().problem(value)


class DkimSelectorsField(TextField):
    """DNS labels, comma-separated (channels_app.services.domain_health reads them)."""

    def problem(self, value) -> str:
        labels = [v.strip() for v in str(value).split(",")] if isinstance(value, str) else [None]
        if not all(label and _SELECTOR.fullmatch(label) for label in labels):
            return "must be selectors separated by commas (letters, digits, '-', '_' and '.'), e.g. s1, s2"
        return ""


_SELECTOR = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,62})$")

CONFIG_FIELDS = {
    "esp": EspChoiceField(
        "Provider",
        "amazon_ses, postmark, sendgrid, mailgun, brevo, smtp, or outbox (local files).",
        choices=ESP_CHOICES,
    ),
    "from_email": EmailField("From", "News <news@example.com>", required=True),
    "reply_to": EmailField("Reply-To"),
    "dkim_selectors": DkimSelectorsField(
        "DKIM selectors", "Comma-separated, e.g. s1, s2: the selectors your ESP signs with (domain health checks them)."
    ),
    "list_id": TextField("List-Id domain", "Each topic's RFC 2919 List-Id is <topic>.<this>; blank: sender's domain."),
    "configuration_set": TextField("SES configuration set", "Where SES publishes bounces and complaints."),
    "region": TextField("AWS region", "e.g. eu-west-1"),
    "endpoint_url": URLField("SES endpoint URL", "Blank: the region's."),
    "timeout_seconds": NumberField("SES timeout (s)", minimum=0.001, maximum=120),
    "host": HostField("SMTP host"),
    "port": NumberField("SMTP port", minimum=1, maximum=65535, integer=True),
    "use_tls": BooleanField("SMTP STARTTLS"),
    "use_ssl": BooleanField("SMTP over TLS"),
    "aws_access_key_id": TextField("AWS access key ID", "Blank: the AWS credential chain.", secret=True),
    "aws_secret_access_key": TextField("AWS secret access key", _SECRET, secret=True),
    "aws_session_token": TextField("AWS session token", _SECRET, secret=True),
    "username": TextField("SMTP username", secret=True),
    "password": TextField("SMTP password", _SECRET, secret=True),
    "api_url": URLField("ESP API URL", "Postmark, SendGrid, Mailgun (e.g. its EU region) or Brevo; blank: the ESP's."),
    "api_key": TextField("ESP API key", "SendGrid, Mailgun or Brevo.", secret=True),
    "server_token": TextField("Postmark server token", secret=True),
    "webhook_secret": TextField(
        "Webhook basic auth",
        "user:password, put in the tracking webhook URL you give Postmark, SendGrid, Brevo (or Mailgun).",
        secret=True,
    ),
    "webhook_signing_key": TextField("Mailgun webhook signing key", "Verifies Mailgun's signed webhooks.", secret=True),
    "webhook_verification_key": TextField(
        "SendGrid verification key", "The signed Event Webhook's public key (base64).", secret=True
    ),
}
BOTO_CONFIG = {
    "connect_timeout": 5,
    "read_timeout": 20,
    "retries": {"total_max_attempts": 1},
    "max_pool_connections": 32,
}


class EmailAdapter(ChannelAdapter):
    kind = "email"
    label = "Email"
    description = "Amazon SES, Postmark, SendGrid, Mailgun, Brevo, SMTP, or the local outbox."
    docs_url = "https://anymail.dev/en/stable/esps/"
    audiences = frozenset({Audience.SUBSCRIBERS})
    config_fields = CONFIG_FIELDS
    open_credentials = True  # anymail ESP settings, named as anymail names them
    subscriber_field = "email"
    personal_label = "Email"
    delivered_by = "by email"
    address_label = "an email address"
    carries_digests = True
    renders_email = True
    delivery_receipts = True
    preview = "email"
    # SES's default production rate, per account and region. https://docs.aws.amazon.com/ses/latest/dg/manage-sending-quotas.html
    limits = Limits(per_second=14.0)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.esp = self.config.get("esp", "outbox")
        self.chunk_size = 50 if self.esp == SES else 10
        # SMTP connections are not thread-safe: one chunk at a time there.
        self.parallelism = 8 if self.esp in ANYMAIL_ESPS else 1
        self._backend = None
        self._session: OutboundSession | None = None
        self._ses: SesBulkSender | None = None
        self._lock = threading.Lock()

    @classmethod
    def check(cls, config: Mapping[str, Any], credentials: Mapping[str, Any]) -> dict[str, str]:
        if config.get("list_id") and not _DOMAIN.fullmatch(str(config["list_id"])):
            return {"list_id": "a domain you control, under which each topic's List-Id is formed (lists.example.com)"}
        if config.get("esp") == "smtp" and not config.get("host"):
            return {"host": "SMTP needs a host"}
        return {}

    @classmethod
    def docs_for(cls, config: Mapping[str, Any]) -> str:
        esp = config.get("esp")
        return ESP_DOCS.get(esp, "") if esp else cls.docs_url

    @classmethod
    def feedback_webhook(cls, config: Mapping[str, Any], channel_id: int) -> str:
        """Where the channel's ESP posts its tracking events (analytics.esp_webhooks; for SES the
        site's one SNS endpoint, analytics.webhooks); "" for SMTP and the outbox (no feedback)."""
        esp = config.get("esp")
        if esp not in ANYMAIL_ESPS:
            return ""
        if esp == SES:
            return f"{settings.SITE_URL}/anymail/amazon_ses/tracking/"
        return f"{settings.SITE_URL}/anymail/{esp}/tracking/{channel_id}/"

    @classmethod
    def normalize_address(cls, address: str) -> str:
        from subscribers.validators import email_normalize

        return email_normalize(address)

    @classmethod
    def own_address(cls, actor) -> str:
        return (getattr(actor, "email", "") or "").strip().lower()

    def account_key(self) -> str:
        # SES counts its quota per account and region; other backends per host or API key.
        parts = [self.esp, self.config.get("region"), self.config.get("endpoint_url"), self.config.get("host")]
        keys = ("aws_access_key_id", "api_key", "server_token", "username")
        return digest(*parts, *(self.credentials.get(k) for k in keys))

    @classmethod
    def demo_channels(cls, *, sink_url: str) -> list[DemoChannel]:
        config = {"esp": "outbox", "from_email": settings.DEFAULT_FROM_EMAIL, "list_id": "demo.bulletin.local"}
        return [DemoChannel("Demo email (local outbox)", Audience.SUBSCRIBERS, config, is_default=True)]

    @classmethod
    def check_address(cls, recipient: str) -> None:
        # An address the backends can encode: "\\¾" was a UnicodeEncodeError deep in the send.
        if len(recipient) > 254:
            raise ValidationError("An email address has at most 254 characters.")
        validate_email(recipient)

    # --- connection -----------------------------------------------------------------------
    @property
    def backend(self):
        with self._lock:
            if self._backend is None:
                self._backend = self._open_backend()
            return self._backend

    def _open_backend(self):
        if self.esp not in ANYMAIL_ESPS and self.esp not in LOCAL_BACKENDS:
            raise PermanentProviderError(f"{self.esp!r} is not an email provider Bulletin offers; choose another")
        if self.esp in LOCAL_BACKENDS:
            backend = get_connection(LOCAL_BACKENDS[self.esp], **self._smtp_kwargs())
            backend.open()
            return backend
        with warnings.catch_warnings():
            # anymail 15 no longer officially supports SendGrid; Bulletin tests it against its emulator.
            warnings.simplefilter("ignore", AnymailNotSupportedWarning)
            backend = get_connection(f"anymail.backends.{self.esp}.EmailBackend", **self._anymail_kwargs())
        self._session = OutboundSession(pool_maxsize=BOTO_CONFIG["max_pool_connections"])
        if self.esp == SES:
            backend.open()
            route_through(backend.client, self._session)
            self._ses = SesBulkSender(
                client=backend.client,
                credentials=self._aws_credentials(),
                session=self._session,
                timeout=(
                    BOTO_CONFIG["connect_timeout"],
                    float(self.config.get("timeout_seconds", BOTO_CONFIG["read_timeout"])),
                ),
            )
        else:
            backend.session = self._session  # anymail's requests backends keep the session they find
            backend.open()
        return backend

    def _aws_credentials(self):
        """The channel's own keys, else the AWS chain (environment, instance role), as botocore finds them."""
        import boto3

        keys = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")
        credentials = boto3.session.Session(**{k: self.credentials[k] for k in keys if self.credentials.get(k)})
        return credentials.get_credentials()

    def _anymail_kwargs(self) -> dict[str, Any]:
        if self.esp != SES:
            # e.g. api_key / server_token, named as anymail names them; api_url from the config
            kwargs = {k: v for k, v in self.credentials.items() if k not in WEBHOOK_CREDENTIALS}
            if self.config.get("api_url"):
                kwargs["api_url"] = self.config["api_url"]
            return kwargs
        timeout = float(self.config.get("timeout_seconds", BOTO_CONFIG["read_timeout"]))
        client_params: dict[str, Any] = {"config": {**BOTO_CONFIG, "read_timeout": timeout}}
        if self.config.get("region"):
            client_params["region_name"] = self.config["region"]
        if self.config.get("endpoint_url"):
            client_params["endpoint_url"] = self.config["endpoint_url"]
        for key in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"):
            if self.credentials.get(key):
                client_params[key] = self.credentials[key]
        kwargs = {"client_params": client_params}
        if self.config.get("configuration_set"):
            kwargs["configuration_set_name"] = self.config["configuration_set"]
        return kwargs

    def _smtp_kwargs(self) -> dict[str, Any]:
        if self.esp != "smtp":
            return {}
        return {
            "host": self.config["host"],
            "port": int(self.config.get("port", 587)),
            "username": self.credentials.get("username", ""),
            "password": self.credentials.get("password", ""),
            "use_tls": bool(self.config.get("use_tls", True)),
            "use_ssl": bool(self.config.get("use_ssl", False)),
            "timeout": 20,
        }

    def close(self) -> None:
        with self._lock:
            if self._backend is not None:
                self._backend.close()
                self._backend = None
            if self._session is not None:
                self._session.close()
                self._session = None

    # --- sending --------------------------------------------------------------------------
    def send_batch(self, messages: Sequence[RenderedMessage]) -> list[SendResult]:
        try:
            return self._send_batch(messages)
        except TargetRefused as exc:  # the channel's endpoint, host or API URL: the whole channel stops
            raise UnsafeTargetError(exc.reason) from exc

    def _send_batch(self, messages: Sequence[RenderedMessage]) -> list[SendResult]:
        try:
            self.backend  # noqa: B018  (opens the connection once; failures concern the whole chunk)
        except OSError as exc:  # includes smtplib.SMTPException
            raise TransientProviderError(f"cannot connect to the {self.esp} backend: {exc}") from exc
        if self.esp == SES:
            return self._send_ses_bulk(messages)
        return self.send_each(messages)

    def _send_ses_bulk(self, messages: Sequence[RenderedMessage]) -> list[SendResult]:
        """One SendBulkEmail call, built from the rows (ses_bulk: what anymail would send)."""
        template = messages[0].template
        assert all(m.template == template for m in messages), "one SES call carries one template"
        params = bulk_params(
            from_email=self.from_address(template),
            reply_to=self.config.get("reply_to", ""),
            configuration_set=self.config.get("configuration_set", ""),
            template=template,
            messages=messages,
            idna_encode=self.backend.idna_encode,
        )
        try:
            response = self._ses.send(params)
        except SesCallError as exc:
            classify_ses_call(exc)  # raises for call-wide failures
            return [SendResult.failed(m, str(exc)[:300], permanent=True) for m in messages]
        return bulk_results(list(messages), response.get("BulkEmailEntryResults") or [])

    def from_address(self, template: MessageTemplate) -> str:
        """The channel's From address, under the send's own display name when it has one."""
        if not template.from_name:
            return self.config["from_email"]
        return formataddr((template.from_name, _addr_spec(self.config["from_email"])))

    def send_one(self, message: RenderedMessage) -> SendResult:
        subject, html, text = message.template.render(message.variables)
        email = EmailMultiAlternatives(
            subject=subject,
            body=text,
            from_email=self.from_address(message.template),
            to=[message.recipient],
            reply_to=[self.config["reply_to"]] if self.config.get("reply_to") else None,
            headers={"Message-ID": make_msgid(domain="bulletin"), **message.headers},
            connection=self.backend,
        )
        if html:
            email.attach_alternative(html, "text/html")
        try:
            email.send()
        except AnymailError as exc:
            return SendResult.failed(message, _anymail_reason(exc), permanent=_is_permanent(exc))
        except smtplib.SMTPRecipientsRefused as exc:
            return SendResult.failed(message, f"recipient refused: {exc.recipients}", permanent=True)
        except smtplib.SMTPServerDisconnected as exc:
            self.close()
            raise TransientProviderError(f"SMTP server disconnected: {exc}") from exc
        except smtplib.SMTPException as exc:
            code = getattr(exc, "smtp_code", 0)
            return SendResult.failed(message, f"SMTP {code}: {exc}", permanent=500 <= code < 600)
        except OSError as exc:  # SMTPException is an OSError too, hence last
            self.close()
            raise TransientProviderError(f"{type(exc).__name__}: {exc}") from exc
        status = getattr(email, "anymail_status", None)
        return SendResult.sent(message, (status and status.message_id) or email.extra_headers["Message-ID"])


def list_id_namespace(config: Mapping[str, Any]) -> str:
    """The domain each list's RFC 2919 List-Id sits under (`<topic>.<namespace>`): the channel's
    `list_id`, else its sender's domain (a domain the sender controls, as RFC 2919 asks)."""
    namespace = str(config.get("list_id") or "").strip().strip(".")
    if not namespace:
        namespace = _addr_spec(str(config.get("from_email", ""))).rpartition("@")[2] or "localhost"
    return namespace.lower()


def _addr_spec(value: str) -> str:
    return value.rsplit("<", 1)[-1].rstrip(">").strip() if "<" in value else value.strip()


def _anymail_reason(exc: AnymailError) -> str:
    """The ESP's status and message field, never its whole answer (anymail's str() has it all)."""
    response = getattr(exc, "response", None)
    if isinstance(response, requests.Response):
        return f"{type(exc).__name__}: {response_reason(response)}"
    return f"{type(exc).__name__}: {str(exc.args[0]) if exc.args else ''}"


def _is_permanent(exc: AnymailError) -> bool:
    if isinstance(exc, AnymailRecipientsRefused):  # the ESP refused this address (inactive, invalid)
        return True
    status = getattr(exc, "status_code", None)
    return not (status is None or status == 429 or status >= 500)
