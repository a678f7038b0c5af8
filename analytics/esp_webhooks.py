"""Tracking webhooks of the anymail ESPs other than SES, one URL per email channel:

    /anymail/<esp>/tracking/<channel id>/     (postmark, sendgrid, mailgun, brevo)

Each POST is verified with that channel's own secrets (its encrypted credentials) by anymail's
own view for the ESP: basic auth (`webhook_secret`, "user:password" in the URL given to the ESP)
for Postmark, SendGrid and Brevo; Mailgun's HMAC signature (`webhook_signing_key`), plus a
timestamp no older than ESP_WEBHOOK_MAX_AGE_SECONDS; SendGrid's signed Event Webhook (ECDSA,
`webhook_verification_key`) when set. A channel without them accepts nothing: anymail would
otherwise take unauthenticated posts. Anymail parses the events and sends its `tracking` signal
(with the channel); analytics.services.esp_feedback stores and applies them as SES's are.

Refusals in the API's JSON error format: 404 (no such email channel for this ESP), 403 (not
verified), 413 (body over API_MAX_BODY_BYTES), 400 (not the ESP's format).
- Postmark: https://postmarkapp.com/developer/webhooks/webhooks-overview (basic auth in the URL)
- SendGrid: https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features
- Mailgun: https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks
- Brevo: https://developers.brevo.com/docs/how-to-use-webhooks (basic auth in the URL)
"""

from __future__ import annotations

import logging
import time
import warnings

from anymail.exceptions import (
    AnymailConfigurationError,
    AnymailError,
    AnymailWebhookValidationFailure,
)
from anymail.webhooks.brevo import BrevoTrackingWebhookView
from anymail.webhooks.mailgun import MailgunTrackingWebhookView
from anymail.webhooks.postmark import PostmarkTrackingWebhookView
from anymail.webhooks.sendgrid import SendGridTrackingWebhookView
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from channels_app.models import Channel
from core.api.errors import json_error_response
from core.api.parsers import body_too_large_message
from core.safejson import json_loads_bounded

logger = logging.getLogger(__name__)


class ChannelTrackingMixin:
    """anymail's tracking view for one channel: verify, parse, signal (with the channel)."""

    channel: Channel

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        remote, esp, channel_id = request.META.get("REMOTE_ADDR"), self.esp_name, self.channel.pk
        try:
            self.run_validators(request)
        except AnymailWebhookValidationFailure as exc:
            logger.warning("rejected %s webhook POST for channel %s from %s: %s", esp, channel_id, remote, exc)
            return json_error_response("Forbidden: not a verified webhook for this channel.", 403)
        try:
            events = self.parse_events(request)
        except (AnymailError, ValueError, KeyError, TypeError, AttributeError) as exc:
            logger.warning("malformed %s webhook POST for channel %s from %s: %s", esp, channel_id, remote, exc)
            return json_error_response(f"Bad request: not a {esp} tracking webhook.", 400)
        for event in events:
            self.signal.send(sender=self.__class__, event=event, esp_name=esp, channel=self.channel)
        return HttpResponse()


class PostmarkChannelView(ChannelTrackingMixin, PostmarkTrackingWebhookView):
    pass


class SendGridChannelView(ChannelTrackingMixin, SendGridTrackingWebhookView):
    pass


class BrevoChannelView(ChannelTrackingMixin, BrevoTrackingWebhookView):
    pass


class MailgunChannelView(ChannelTrackingMixin, MailgunTrackingWebhookView):
    def validate_request(self, request):
        """After anymail's signature check: a signed timestamp this recent, so a captured POST
        cannot be replayed later (Mailgun's advice)."""
        try:
            payload = json_loads_bounded(request.body.decode("utf-8"), max_depth=settings.API_MAX_JSON_DEPTH)
            stamp = float(payload["signature"]["timestamp"])
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise AnymailWebhookValidationFailure("Mailgun webhook without a signed timestamp") from exc
        if abs(time.time() - stamp) > settings.ESP_WEBHOOK_MAX_AGE_SECONDS:
            raise AnymailWebhookValidationFailure("Mailgun webhook timestamp too old (a replay?)")


VIEWS: dict[str, type] = {
    "postmark": PostmarkChannelView,
    "sendgrid": SendGridChannelView,
    "mailgun": MailgunChannelView,
    "brevo": BrevoChannelView,
}


def view_kwargs(esp: str, credentials: dict) -> dict | None:
    """anymail's settings for the channel's view, from its own credentials only (never the
    site-wide ANYMAIL settings); None when the channel has nothing to verify posts with."""
    secret = credentials.get("webhook_secret") or None
    if esp == "mailgun":
        key = credentials.get("webhook_signing_key")
        return {"webhook_signing_key": key, "webhook_secret": secret} if key else None
    if esp == "sendgrid":
        key = credentials.get("webhook_verification_key") or None
        if not (key or secret):
            return None
        return {"tracking_webhook_verification_key": key, "webhook_secret": secret}
    return {"webhook_secret": secret} if secret else None


def _channel(esp: str, channel_id: int) -> Channel | None:
    channel = Channel.objects.filter(pk=channel_id, kind="email").first()
    if channel is None or (channel.config or {}).get("esp") != esp:
        return None
    return channel


@csrf_exempt  # ESPs post without a CSRF token; the channel's secrets verify them
def esp_tracking_webhook(request: HttpRequest, esp: str, channel_id: int) -> HttpResponse:
    view_class = VIEWS.get(esp)
    channel = _channel(esp, channel_id) if view_class else None
    if channel is None:
        return json_error_response(f"Not found: no {esp} email channel {channel_id}.", 404)
    if request.method == "HEAD":
        return HttpResponse()  # some ESPs check the URL when it is saved
    if request.method != "POST":
        return json_error_response("Method not allowed: POST the ESP's tracking events here.", 405)
    problem = _body_problem(request, esp)
    if problem is not None:
        return problem
    kwargs = view_kwargs(esp, channel.credentials or {})
    try:
        if kwargs is None:
            raise ValueError("no webhook secret configured")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # anymail's notices (SendGrid support, insecure webhooks)
            view = view_class(**kwargs)
    except (ValueError, TypeError, AnymailConfigurationError) as exc:  # e.g. a key that is not a key
        logger.warning("refused %s webhook POST for channel %s: %s", esp, channel.pk, exc)
        return json_error_response("Forbidden: this channel has no usable webhook secret to verify posts with.", 403)
    view.channel = channel
    view.setup(request)
    return view.post(request)


def _body_problem(request: HttpRequest, esp: str) -> HttpResponse | None:
    """413 past API_MAX_BODY_BYTES; 400 for anything but bounded JSON (every ESP here posts JSON)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    try:
        body = b"" if declared > settings.API_MAX_BODY_BYTES else request.body
    except RequestDataTooBig:
        declared = settings.API_MAX_BODY_BYTES + 1
    if declared > settings.API_MAX_BODY_BYTES or len(body) > settings.API_MAX_BODY_BYTES:
        return json_error_response(body_too_large_message(), 413)
    try:
        json_loads_bounded(body.decode("utf-8"), max_depth=settings.API_MAX_JSON_DEPTH)
    except ValueError:  # malformed, too deep, NUL characters, not UTF-8
        return json_error_response(f"Bad request: not a {esp} tracking webhook (JSON expected).", 400)
    return None
