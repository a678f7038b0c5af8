"""The SES webhooks (SNS → /anymail/amazon_ses/tracking/ and .../inbound/): anymail's views, plus
SNS signature verification, storing a tracking notification instead of processing it in the request.

SNS allows 15 s per POST and retries on errors; tracking answers as soon as the verified message
is stored. Forged, unsigned, foreign-topic or stale (older than SNS_MAX_AGE_SECONDS) messages
get 403 and are logged, never stored. Anyone can POST here: the body is read within
API_MAX_BODY_BYTES (413 past it) and parsed within API_MAX_JSON_DEPTH; anything that is not a
JSON object is a 400. Every refusal is in the API's JSON error format.
"""

from __future__ import annotations

import logging

from anymail.exceptions import AnymailAPIError, AnymailWebhookValidationFailure
from anymail.webhooks.amazon_ses import AmazonSESTrackingWebhookView
from django.conf import settings
from django.http import HttpResponse

from analytics.services.feedback import provider_notification_receive
from analytics.services.sns import SnsVerificationError, sns_message_verify
from core.api.errors import json_error_response
from core.api.parsers import RequestTooLarge, body_too_large_message, read_capped
from core.safejson import json_loads_bounded

logger = logging.getLogger(__name__)


class SnsVerifiedMixin:
    """anymail's Amazon SES webhook views (tracking, inbound) with every SNS message bounded
    (size, depth, NUL) and its signature verified (analytics.services.sns) before anything is
    read from it."""

    # The SNS signature is the authentication; anymail's basic auth still applies when configured.
    warn_if_no_basic_auth = False

    @staticmethod
    def _parse_sns_message(request) -> dict:
        """anymail's parser, bounded: size, depth, NUL characters, and an object or nothing."""
        if not hasattr(request, "_sns_message"):
            try:
                message = json_loads_bounded(
                    read_capped(request, request.META).decode("utf-8"), max_depth=settings.API_MAX_JSON_DEPTH
                )
            except ValueError as exc:  # malformed, too deep, NUL, not UTF-8
                raise AnymailAPIError(f"Malformed SNS message body: {exc}")
            if not isinstance(message, dict):
                raise AnymailAPIError("Malformed SNS message body: not a JSON object")
            request._sns_message = message
        return request._sns_message

    def validate_request(self, request):
        """Run after anymail's own checks (basic auth, SNS headers match the body)."""
        try:
            sns_message_verify(self._parse_sns_message(request))
        except SnsVerificationError as exc:
            raise AnymailWebhookValidationFailure(f"SNS signature verification failed: {exc}")

    def verified_message(self, request) -> dict | HttpResponse:
        """The verified SNS message, or the answer to give instead: SNS's basic-auth challenge,
        413 for an oversized body, 403 for anything not verifiably from SNS for our topics, 400
        for a body that is not SNS's."""
        if self.basic_auth and not request.META.get("HTTP_AUTHORIZATION"):
            response = HttpResponse(status=401)  # SNS sends credentials only after a 401
            response["WWW-Authenticate"] = 'Basic realm="Anymail WEBHOOK_SECRET"'
            return response
        try:
            self.run_validators(request)
        except RequestTooLarge:
            logger.warning("refused SES webhook POST from %s: body too large", request.META.get("REMOTE_ADDR"))
            return json_error_response(body_too_large_message(), 413)
        except AnymailWebhookValidationFailure as exc:
            logger.warning("rejected SES webhook POST from %s: %s", request.META.get("REMOTE_ADDR"), exc)
            return json_error_response("Forbidden: not a verified SNS message for this site.", 403)
        except AnymailAPIError as exc:
            logger.warning("malformed SES webhook POST from %s: %s", request.META.get("REMOTE_ADDR"), exc)
            return json_error_response("Bad request: not an SNS message.", 400)
        return self._parse_sns_message(request)


class SesTrackingWebhookView(SnsVerifiedMixin, AmazonSESTrackingWebhookView):
    def post(self, request, *args, **kwargs):
        message = self.verified_message(request)
        if isinstance(message, HttpResponse):
            return message
        provider_notification_receive(message=message)
        return HttpResponse()
