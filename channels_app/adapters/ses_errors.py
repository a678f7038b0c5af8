"""Amazon SES v2 outcomes mapped to ours, call-wide and per bulk entry.

Error codes: https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendBulkEmail.html#API_SendBulkEmail_Errors
Entry statuses: https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_BulkEmailEntryResult.html
"""

from __future__ import annotations

from channels_app.adapters.base import (
    PermanentProviderError,
    ProviderPausedError,
    ProviderThrottledError,
    RenderedMessage,
    SendResult,
    TransientProviderError,
)

THROTTLED = {"TooManyRequestsException", "Throttling", "ThrottlingException", "ACCOUNT_THROTTLED", "TRANSIENT_FAILURE"}
PAUSED = {
    "LimitExceededException",
    "SendingPausedException",
    "AccountSuspendedException",
    "ACCOUNT_DAILY_QUOTA_EXCEEDED",
    "ACCOUNT_SENDING_PAUSED",
    "ACCOUNT_SUSPENDED",
    "CONFIGURATION_SET_SENDING_PAUSED",
}
MISCONFIGURED = {
    "MailFromDomainNotVerifiedException",
    "NotFoundException",
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "MAIL_FROM_DOMAIN_NOT_VERIFIED",
    "CONFIGURATION_SET_NOT_FOUND",
    "TEMPLATE_NOT_FOUND",
    "INVALID_SENDING_POOL_NAME",
}
# Per-message: this message can never be sent as it is (bad address, content refused).
REJECTED = {"MessageRejected", "BadRequestException", "MESSAGE_REJECTED", "INVALID_PARAMETER", "FAILED"}


def classify_ses_call(error) -> None:
    """Raise ours for a SendBulkEmail call SES refused as a whole (ses_bulk.SesCallError); return
    when the refusal concerns each message on its own (they fail permanently, one by one)."""
    message = f"SES {error.code}: {error.message}" if error.code else f"SES HTTP {error.status}: {error.message}"
    _raise_for_code(error.code, message, error.status, error.retry_after)


def bulk_results(messages: list, entries: list[dict]) -> list[SendResult]:
    """One result per message from SES's BulkEmailEntryResults. Every entry failing for the same
    reason is the call failing (a paused account, throttling): raised as such, as anymail did."""
    if len(entries) != len(messages):
        raise TransientProviderError(f"SES answered {len(entries)} results for {len(messages)} messages")
    statuses = {entry.get("Status", "") for entry in entries}
    if len(statuses) == 1 and statuses != {"SUCCESS"}:
        first = entries[0]
        _raise_for_code(first.get("Status", ""), f"SES {first.get('Status')}: {first.get('Error', '')}", 400, None)
    return [entry_result(m, entry) for m, entry in zip(messages, entries, strict=True)]


def _raise_for_code(code: str, message: str, status: int, retry_after: float | None) -> None:
    if code in PAUSED:
        raise ProviderPausedError(message, retry_after=retry_after)
    if code in MISCONFIGURED or status in (401, 403):
        raise PermanentProviderError(message)
    if code in REJECTED:
        return
    if code in THROTTLED or status == 429:
        raise ProviderThrottledError(message, retry_after=retry_after)
    if status >= 500 or not status:
        raise TransientProviderError(message, retry_after=retry_after)


def entry_result(message: RenderedMessage, entry: dict) -> SendResult:
    status = entry.get("Status", "")
    if status == "SUCCESS":
        return SendResult.sent(message, entry.get("MessageId", ""))
    error = f"SES {status}: {entry.get('Error', '')}".strip()
    return SendResult.failed(message, error, permanent=status in REJECTED or status in MISCONFIGURED)


def _retry_after(response: dict) -> float | None:
    value = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("retry-after")
    try:
        return float(value) if value else None
    except ValueError:
        return None
