"""The SES tracking webhook (SNS → /anymail/amazon_ses/tracking/): anymail's view, plus SNS
signature verification, storing the notification instead of processing it in the request.

SNS allows 15 s per POST and retries on errors; this answers as soon as the verified message
is stored. Forged, unsigned or foreign-topic messages get 403 and are logged, never stored.
"""

from __future__ import annotations

import logging

from anymail.exceptions import AnymailAPIError, AnymailWebhookValidationFailure
from anymail.webhooks.amazon_ses import AmazonSESTrackingWebhookView
from django.http import HttpResponse

from analytics.services.feedback import provider_notification_receive
from analytics.services.sns import SnsVerificationError, sns_message_verify

logger = logging.getLogger(__name__)


class SnsVerifiedMixin:
    """anymail's Amazon SES webhook views (tracking, inbound) with every SNS message's signature
    verified (analytics.services.sns) before anything is read from it."""

    # The SNS signature is the authentication; anymail's basic auth still applies when configured.
    warn_if_no_basic_auth = False

    def validate_request(self, request):
        """Run after anymail's own checks (basic auth, SNS headers match the body)."""
        try:
            sns_message_verify(self._parse_sns_message(request))
        except SnsVerificationError as exc:
            raise AnymailWebhookValidationFailure(f"SNS signature verification failed: {exc}")

    def verified_message(self, request) -> dict | HttpResponse:
        """The verified SNS message, or the answer to give instead: SNS's basic-auth challenge,
        403 for anything not verifiably from SNS for our topics, 400 for a body that is not SNS's."""
        if self.basic_auth and not request.META.get("HTTP_AUTHORIZATION"):
            response = HttpResponse(status=401)  # SNS sends credentials only after a 401
            response["WWW-Authenticate"] = 'Basic realm="Anymail WEBHOOK_SECRET"'
            return response
        try:
            self.run_validators(request)
        except AnymailWebhookValidationFailure as exc:
            logger.warning("rejected SES webhook POST from %s: %s", request.META.get("REMOTE_ADDR"), exc)
            return HttpResponse("Forbidden: not a verified SNS message for this site.", status=403)
        except AnymailAPIError as exc:
            logger.warning("malformed SES webhook POST from %s: %s", request.META.get("REMOTE_ADDR"), exc)
            return HttpResponse("Bad request: not an SNS message.", status=400)
        return self._parse_sns_message(request)


class SesTrackingWebhookView(SnsVerifiedMixin, AmazonSESTrackingWebhookView):
    def post(self, request, *args, **kwargs):
        message = self.verified_message(request)
        if isinstance(message, HttpResponse):
            return message
        provider_notification_receive(message=message)
        return HttpResponse()
