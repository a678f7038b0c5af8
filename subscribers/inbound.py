"""Inbound mail webhooks: the mailto form of List-Unsubscribe, received by an ESP and posted here
in its own format; anymail's inbound views verify and normalize it, subscribers.services.inbound
unsubscribes. https://anymail.dev/en/stable/inbound/

    Amazon SES  receipt rule → SNS action → /anymail/amazon_ses/inbound/  (SNS signature verified,
                as for SES feedback; the subscription confirmation is confirmed by a worker)
    Postmark    inbound webhook            → /anymail/postmark/inbound/
    Mailgun     route forward()            → /anymail/mailgun/inbound/  (signed: MAILGUN_WEBHOOK_SIGNING_KEY)
    Brevo       inbound parsing webhook    → /anymail/brevo/inbound/     (BREVO_API_KEY)

The signed token in the address is what authorizes an unsubscribe, so a forged post unsubscribes
nobody; anymail's basic auth (ANYMAIL_WEBHOOK_SECRET) applies on top when set. A mail we cannot
use (not our address, a forged token) is still answered 200, so the ESP does not retry it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from anymail.exceptions import AnymailAPIError, AnymailConfigurationError, AnymailWebhookValidationFailure
from anymail.webhooks.amazon_ses import AmazonSESInboundWebhookView
from anymail.webhooks.brevo import BrevoInboundWebhookView
from anymail.webhooks.mailgun import MailgunInboundWebhookView
from anymail.webhooks.postmark import PostmarkInboundWebhookView
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from analytics.services.feedback import provider_notification_receive
from analytics.webhooks import SnsVerifiedMixin
from subscribers.services.inbound import inbound_recipients, mail_unsubscribe

logger = logging.getLogger(__name__)


class InboundUnsubscribeMixin:
    """Verify (anymail's validators), normalize (its parser), unsubscribe (our service)."""

    # The token in the address is the authentication; basic auth still applies when configured.
    warn_if_no_basic_auth = False

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            self.run_validators(request)
        except AnymailWebhookValidationFailure as exc:
            logger.warning("rejected %s inbound POST from %s: %s", self.esp_name, request.META.get("REMOTE_ADDR"), exc)
            return HttpResponse("Forbidden: not a verified inbound webhook for this site.", status=403)
        return self.unsubscribe(self.parse_events(request))

    def unsubscribe(self, events) -> HttpResponse:
        for event in events:
            message = event.message
            sender = str(message.from_email.addr_spec) if message.from_email else ""
            mail_unsubscribe(recipients=inbound_recipients(message), sender=sender, esp=self.esp_name)
        return HttpResponse()


class SesInboundWebhookView(SnsVerifiedMixin, InboundUnsubscribeMixin, AmazonSESInboundWebhookView):
    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        message = self.verified_message(request)
        if isinstance(message, HttpResponse):
            return message
        if message.get("Type") == "SubscriptionConfirmation":
            provider_notification_receive(message=message)  # confirmed by a worker, as for feedback
            return HttpResponse()
        if message.get("Type") != "Notification":
            return HttpResponse()
        return self.unsubscribe(self.parse_events(request))


class PostmarkInboundView(InboundUnsubscribeMixin, PostmarkInboundWebhookView):
    pass


class MailgunInboundView(InboundUnsubscribeMixin, MailgunInboundWebhookView):
    pass


class BrevoInboundView(InboundUnsubscribeMixin, BrevoInboundWebhookView):
    pass


def inbound_view(view_class: type) -> Callable[..., HttpResponse]:
    """The view, answering 400 (and logging why) when the ESP is not configured here (Mailgun
    without its signing key, Brevo without its API key) or posts something that is not inbound
    mail (a tracking webhook pointed at the inbound URL)."""
    view = view_class.as_view()

    @csrf_exempt  # ESPs post without a CSRF token; the views verify what they can
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except (AnymailConfigurationError, AnymailAPIError, ValueError) as exc:
            logger.warning("inbound webhook %s cannot take this POST: %s", view_class.__name__, exc)
            return HttpResponse("Bad request: not inbound mail this site is set up to receive.", status=400)

    return wrapper
