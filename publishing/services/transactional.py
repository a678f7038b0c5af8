"""Transactional messages: one message to one subscriber or address from a versioned template.

- Templates (admin role): `{{ subscriber.<name|first_name|email|locale|timezone> }}` and
  `{{ data.<key> }}`, each with an optional `|default:"text"`; anything else is refused on save.
  An edit of the subject or body is a new version; messages name the version they used.
- `message_send_request` is idempotent per caller and `Idempotency-Key`: the unique index makes
  concurrent requests with one key wait for the first and get its message (PostgreSQL blocks the
  second INSERT until the first commits, then it conflicts and reads the winner).
- Suppression: a `general` message never goes to a suppressed address; `security` and `account`
  messages do, unless the address hard-bounced, complained or was erased (never mailed again).
- Publishers (and admins) send; sending happens on the `alerts` queue (high priority) through the channel's own adapter.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from channels_app.adapters import adapter_for
from channels_app.adapters.base import MessageTemplate as RenderedTemplate
from channels_app.adapters.base import ProviderError, RenderedMessage
from channels_app.circuit import circuit_check, circuit_record_failure, circuit_record_success
from channels_app.models import Channel
from channels_app.ratelimit import ChannelLimiter
from core.clock import clock
from core.exceptions import ApplicationError
from core.roles import Role, role_require
from publishing.markup import html_sanitize, markdown_render
from publishing.transactional_models import Message, MessageTemplate, MessageTemplateVersion
from subscribers.models import Subscriber, Suppression, email_hash
from subscribers.validators import email_normalize

logger = logging.getLogger(__name__)

SUBSCRIBER_FIELDS = ("name", "first_name", "email", "locale", "timezone")
_FIELD = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_PARTS = re.compile(r'^(subscriber|data)\.([A-Za-z0-9_]{1,50})(?:\s*\|\s*default:"([^"\\]{0,200})")?$')
# Never mailed again, whatever the category.
HARD_REASONS = frozenset({Suppression.Reason.HARD_BOUNCE, Suppression.Reason.COMPLAINT, Suppression.Reason.ERASED})
BYPASSING_CATEGORIES = frozenset({Message.Category.SECURITY, Message.Category.ACCOUNT})
MAX_DATA_BYTES = 32 * 1024


# --- templates ----------------------------------------------------------------------------------


def template_problems(text: str) -> list[str]:
    problems = []
    for match in _FIELD.finditer(text or ""):
        parts = _PARTS.match(match.group(1))
        if parts is None:
            problems.append(
                f"{match.group(0)} is not a merge field: use {{{{ subscriber.name }}}} or {{{{ data.key }}}}."
            )
        elif parts.group(1) == "subscriber" and parts.group(2) not in SUBSCRIBER_FIELDS:
            problems.append(f"Unknown subscriber field {parts.group(2)!r}: one of {', '.join(SUBSCRIBER_FIELDS)}.")
    return problems


def _template_errors(*, name: str, channel: Channel | None, subject: str, body: str) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not re.fullmatch(r"[-a-zA-Z0-9_]{1,80}", name or ""):
        errors["name"] = ["Letters, digits, - and _ only (1 to 80)."]
    if channel is None or not adapter_for_kind(channel).renders_email:
        errors["channel"] = ["Choose an email channel (transactional messages are sent by email)."]
    if not (subject or "").strip():
        errors["subject"] = ["Give a subject."]
    elif len(subject) > 300:
        errors["subject"] = ["At most 300 characters."]
    if not (body or "").strip():
        errors["body"] = ["Give a body."]
    for field, text in (("subject", subject), ("body", body)):
        if problems := template_problems(text):
            errors.setdefault(field, []).extend(problems)
    return errors


def message_template_validate(
    *, name: str, channel: Channel | None, subject: str, body: str, exclude_pk: int | None = None
) -> None:
    """Raise ApplicationError naming every bad field (admin's form asks before saving)."""
    errors = _template_errors(name=name, channel=channel, subject=subject, body=body)
    if MessageTemplate.objects.filter(name=name).exclude(pk=exclude_pk).exists():
        errors.setdefault("name", []).append("A template with this name exists.")
    if errors:
        raise ApplicationError.for_fields(errors, message="Invalid message template")


def adapter_for_kind(channel: Channel):
    from channels_app.adapters import ADAPTERS

    return ADAPTERS[channel.kind]


@transaction.atomic
def message_template_create(
    *, actor, name: str, channel: Channel, subject: str, body: str, description: str = ""
) -> MessageTemplate:
    role_require(actor, Role.ADMIN, "Managing message templates")
    message_template_validate(name=name, channel=channel, subject=subject, body=body)
    template = MessageTemplate.objects.create(name=name, channel=channel, description=description)
    _version_add(template, subject=subject, body=body, actor=actor)
    return template


@transaction.atomic
def message_template_update(*, actor, template: MessageTemplate, **fields: Any) -> MessageTemplate:
    """Name, description and channel change in place; a new subject or body is a new version."""
    role_require(actor, Role.ADMIN, "Managing message templates")
    unknown = set(fields) - {"name", "description", "channel", "subject", "body"}
    if unknown:
        raise ApplicationError.for_fields(dict.fromkeys(sorted(unknown), "cannot be changed"))
    template = MessageTemplate.objects.select_for_update().get(pk=template.pk)
    current = template.versions.get(version=template.current_version)
    merged = {
        "name": fields.get("name", template.name),
        "channel": fields.get("channel", template.channel),
        "subject": fields.get("subject", current.subject),
        "body": fields.get("body", current.body),
    }
    message_template_validate(**merged, exclude_pk=template.pk)
    template.name, template.channel = merged["name"], merged["channel"]
    template.description = fields.get("description", template.description)
    template.save(update_fields=["name", "channel", "description", "updated_at"])
    if (merged["subject"], merged["body"]) != (current.subject, current.body):
        _version_add(template, subject=merged["subject"], body=merged["body"], actor=actor)
    return template


@transaction.atomic
def message_template_delete(*, actor, template: MessageTemplate) -> None:
    role_require(actor, Role.ADMIN, "Managing message templates")
    if Message.objects.filter(template_version__template=template).exists():
        raise ApplicationError("This template has sent messages; it is kept for their record.", status_code=409)
    if template_in_automations(template=template):
        raise ApplicationError("Automations send this template; remove it from their steps first.", status_code=409)
    template.delete()


def template_in_automations(*, template: MessageTemplate) -> bool:
    """Named by an automation's draft or by any of its versions (which keep running)."""
    from publishing.automation_models import AutomationStep, AutomationVersion

    if AutomationStep.objects.filter(template=template).exists():
        return True
    version_ids = set(template.versions.values_list("pk", flat=True))
    return any(
        step.get("template_version_id") in version_ids
        for steps in AutomationVersion.objects.values_list("steps", flat=True)
        for step in steps
    )


def _version_add(template: MessageTemplate, *, subject: str, body: str, actor) -> MessageTemplateVersion:
    template.current_version += 1
    template.save(update_fields=["current_version", "updated_at"])
    template.__dict__.pop("_current", None)
    user = actor if getattr(actor, "pk", None) else None
    return MessageTemplateVersion.objects.create(
        template=template, version=template.current_version, subject=subject, body=body, created_by=user
    )


# --- rendering ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedTransactional:
    """The message as a template with placeholders (`{{mf0}}` HTML-escaped in HTML, `{{{mf0}}}`
    as is in the subject and text) and each placeholder's value: the provider (SES) or the
    adapter fills them in, so a value holding `{{ ... }}` or markup is never read as template."""

    subject: str
    html: str
    text: str
    variables: dict[str, str]

    def final(self) -> tuple[str, str, str]:
        """Subject, HTML and text as the recipient gets them (previews)."""
        return RenderedTemplate(key="preview", subject=self.subject, html=self.html, text=self.text).render(
            self.variables
        )


def _values(subscriber: Subscriber | None, to: str) -> dict[str, str]:
    name = subscriber.name if subscriber else ""
    return {
        "name": name,
        "first_name": name.split()[0] if name.strip() else "",
        "email": subscriber.email if subscriber else to,
        "locale": subscriber.locale if subscriber else "",
        "timezone": subscriber.timezone if subscriber else "",
    }


def _value(expression: str, values: Mapping[str, str], data: Mapping[str, Any]) -> str | None:
    parts = _PARTS.match(expression)
    if parts is None:
        return None
    source, key, default = parts.groups()
    raw = values.get(key, "") if source == "subscriber" else data.get(key, "")
    value = "" if raw is None else raw if isinstance(raw, str) else json.dumps(raw)
    return value or (default or "")


def message_render(
    *, version: MessageTemplateVersion, subscriber: Subscriber | None, to: str, data: Mapping[str, Any]
) -> RenderedTransactional:
    """Merge fields become placeholders after Markdown, so a value is text, never markup."""
    values, variables = _values(subscriber, to), {}

    def placeholder(expression: str, *, html: bool) -> str:
        value = _value(expression, values, data)
        if value is None:
            return "{{ " + expression + " }}"
        name = f"mf{len(variables)}"
        variables[name] = value
        return "{{" + name + "}}" if html else "{{{" + name + "}}}"

    markers: list[str] = []

    def mark(match: re.Match) -> str:
        markers.append(match.group(1))
        return f"\ue000{len(markers) - 1}\ue001"

    html = html_sanitize(markdown_render(_FIELD.sub(mark, version.body)))
    html = re.sub("\ue000(\\d+)\ue001", lambda m: placeholder(markers[int(m.group(1))], html=True), html)
    subject = _FIELD.sub(lambda m: placeholder(m.group(1), html=False), version.subject)
    text = _FIELD.sub(lambda m: placeholder(m.group(1), html=False), version.body)
    return RenderedTransactional(subject=subject, html=html, text=text, variables=variables)


# --- sending ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageRequest:
    template: str
    subscriber_id: int | None = None
    to: str = ""
    data: Mapping[str, Any] | None = None
    category: str = Message.Category.GENERAL

    def fingerprint(self) -> str:
        body = {"template": self.template, "subscriber": self.subscriber_id, "to": self.to.strip().lower(),
                "data": self.data or {}, "category": self.category}  # fmt: skip
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class MessageAccepted:
    message: Message
    replayed: bool


def message_send_request(*, actor, request: MessageRequest, idempotency_key: str | None = None) -> MessageAccepted:
    """Accept one message (queued on the alerts queue after commit). With a key, the same caller
    and key always get the first message; the same key with another request is a 409."""
    role_require(actor, Role.PUBLISHER, "Sending transactional messages")
    if idempotency_key is not None and not (0 < len(idempotency_key) <= 255 and idempotency_key.isprintable()):
        raise ApplicationError.for_fields({"Idempotency-Key": "1 to 255 printable characters."})
    fingerprint = request.fingerprint()
    if idempotency_key:
        existing = _existing(actor, idempotency_key, fingerprint)
        if existing:
            return MessageAccepted(existing, replayed=True)
    message = _message_build(actor=actor, request=request)
    message.idempotency_key, message.request_fingerprint = idempotency_key or None, fingerprint
    try:
        with transaction.atomic():
            message.save()
            transaction.on_commit(lambda: _enqueue(message.pk))
    except IntegrityError:
        # Another request with this key committed first (we waited for it on the unique index).
        existing = _existing(actor, idempotency_key, fingerprint)
        if existing is None:
            raise
        return MessageAccepted(existing, replayed=True)
    return MessageAccepted(message, replayed=False)


def _existing(actor, key: str, fingerprint: str) -> Message | None:
    found = Message.objects.filter(created_by=actor, idempotency_key=key).first()
    if found is not None and found.request_fingerprint != fingerprint:
        raise ApplicationError(
            "This Idempotency-Key was used for a different request; use a new key for a new message.",
            {"fields": {"Idempotency-Key": ["Already used with other parameters."]}},
            status_code=409,
        )
    return found


def _message_build(*, actor, request: MessageRequest) -> Message:
    errors: dict[str, list[str]] = {}
    version = (
        MessageTemplateVersion.objects.select_related("template__channel")
        .filter(template__name=request.template, version=F("template__current_version"))
        .first()
    )
    template = version.template if version else None
    if template is None:
        errors["template"] = [f"No template named {request.template!r}."]
    if request.category not in Message.Category.values:
        errors["category"] = [f"One of {', '.join(Message.Category.values)}."]
    data = dict(request.data or {})
    if len(json.dumps(data, default=str)) > MAX_DATA_BYTES:
        errors["data"] = [f"At most {MAX_DATA_BYTES} bytes of JSON."]
    subscriber, to = _recipient(request, errors)
    if errors:
        raise ApplicationError.for_fields(errors)
    _suppression_check(to, request.category, subscriber)
    if not template.channel.is_active:
        raise ApplicationError(
            f"The template's channel is disabled: {template.channel.disabled_reason}", status_code=409
        )
    return Message(
        template_version=version,
        channel=template.channel,
        subscriber=subscriber,
        to=to,
        category=request.category,
        data=data,
        created_by=actor if getattr(actor, "pk", None) else None,
    )


def _recipient(request: MessageRequest, errors: dict) -> tuple[Subscriber | None, str]:
    if bool(request.subscriber_id) == bool(request.to):
        errors["to"] = ["Give exactly one of `subscriber` (an id) or `to` (an email address)."]
        return None, ""
    if request.subscriber_id:
        subscriber = Subscriber.objects.filter(pk=request.subscriber_id).first()
        if subscriber is None:
            errors["subscriber"] = [f"No subscriber {request.subscriber_id}."]
            return None, ""
        return subscriber, subscriber.email
    try:
        to = email_normalize(request.to)
    except Exception as exc:  # django ValidationError
        errors["to"] = list(getattr(exc, "messages", [str(exc)]))
        return None, ""
    return Subscriber.objects.filter(email__lower=to).first(), to


def _suppression_check(to: str, category: str, subscriber: Subscriber | None) -> None:
    suppression = Suppression.objects.filter(email_hash=email_hash(to)).first()
    bounced = subscriber is not None and subscriber.status in (Subscriber.Status.BOUNCED, Subscriber.Status.COMPLAINED)
    if bounced or (suppression is not None and suppression.reason in HARD_REASONS):
        reason = suppression.get_reason_display().lower() if suppression else "bounced"
        raise ApplicationError(
            f"This address is never mailed again ({reason}).",
            {"fields": {"to": ["Suppressed for good."]}},
            status_code=422,
        )
    if suppression is not None and category not in BYPASSING_CATEGORIES:
        raise ApplicationError(
            f"This address is suppressed ({suppression.get_reason_display().lower()}); only security and account "
            "messages reach it.",
            {"fields": {"category": ["Suppressed address: use security or account for messages the person needs."]}},
            status_code=422,
        )


def _enqueue(message_id: int) -> None:
    from publishing.tasks import message_send_task

    message_send_task.apply_async(kwargs={"message_id": message_id}, queue="alerts")


def message_send(*, message_id: int) -> Message | None:
    """Hand one queued message to its channel's provider (the task's body). Transient errors leave
    it queued and raise for the task's retry; after the last attempt it is failed."""
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("template_version", "channel", "subscriber")
            .filter(pk=message_id, state=Message.State.QUEUED)
            .first()
        )
        if message is None:
            return None  # sent already, or another worker has it
        message.state, message.attempts = Message.State.SENDING, message.attempts + 1
        message.save(update_fields=["state", "attempts", "updated_at"])
    rendered = message_render(
        version=message.template_version, subscriber=message.subscriber, to=message.to, data=message.data
    )
    template = RenderedTemplate(key=message.public_id, subject=rendered.subject, html=rendered.html, text=rendered.text)
    outgoing = RenderedMessage(
        delivery_id=message.pk,
        recipient=message.to,
        template=template,
        variables=rendered.variables,
        message_id=message.public_id,
    )
    return _hand_off(message, outgoing)


def _hand_off(message: Message, outgoing: RenderedMessage) -> Message:
    """Through the channel's circuit and shared rate limit, as the send pipeline does."""
    channel = message.channel
    adapter = adapter_for(channel)
    decision = circuit_check(channel)
    if not decision.allowed:
        return _not_now(message, f"circuit open: {decision.reason}")
    reservation = ChannelLimiter.for_channel(channel, adapter).reserve([outgoing])
    if not reservation.granted:
        return _not_now(message, "the channel's rate limit is full")
    clock.sleep(reservation.wait)
    try:
        [result] = adapter.send_batch([outgoing])
    except ProviderError as exc:
        circuit_record_failure(channel, reason=exc.message, probe=decision.probe)
        return _record(message, ok=False, error=exc.message, permanent=False)
    except Exception as exc:  # a bug or a misconfiguration: never leave it `sending`; retried, then failed
        logger.exception("transactional message %s: unexpected error", message.pk)
        return _record(message, ok=False, error=f"internal error: {type(exc).__name__}", permanent=False)
    if result.ok or result.permanent:
        circuit_record_success(channel, probe=decision.probe)
    return _record(
        message, ok=result.ok, error=result.error, permanent=result.permanent, provider_id=result.provider_message_id
    )


def _not_now(message: Message, reason: str) -> Message:
    """Not tried: back to queued without counting an attempt."""
    Message.objects.filter(pk=message.pk).update(
        state=Message.State.QUEUED, attempts=message.attempts - 1, last_error=reason, updated_at=clock.now()
    )
    raise MessageRetry(reason)


class MessageRetry(Exception):
    """A transient failure: the task retries with backoff."""


def _record(message: Message, *, ok: bool, error: str, permanent: bool, provider_id: str = "") -> Message:
    message.last_error = error[:2000]
    if ok:
        message.state, message.sent_at, message.provider_message_id = Message.State.SENT, clock.now(), provider_id
    elif permanent or message.attempts >= settings.MESSAGE_MAX_ATTEMPTS:
        message.state = Message.State.FAILED
    else:
        message.state = Message.State.QUEUED
    message.save(update_fields=["state", "sent_at", "provider_message_id", "last_error", "updated_at"])
    if message.state == Message.State.QUEUED:
        raise MessageRetry(error)
    return message


STALE_AFTER = timedelta(minutes=10)


def messages_recover(*, now=None) -> dict[str, int]:
    """Beat: a queued message whose task was lost (broker restarted empty) is asked for again; one
    left `sending` by a worker that died mid-call is failed, its outcome unknown (the caller
    decides whether to send again: a second password reset is its call, not ours)."""
    stale = (now or clock.now()) - STALE_AFTER
    queued = list(
        Message.objects.filter(state=Message.State.QUEUED, updated_at__lt=stale).values_list("pk", flat=True)[:1000]
    )
    for pk in queued:
        _enqueue(pk)
    lost = Message.objects.filter(state=Message.State.SENDING, updated_at__lt=stale).update(
        state=Message.State.FAILED,
        last_error="The worker stopped while handing it to the provider: it may or may not have been sent.",
        updated_at=clock.now(),
    )
    return {"requeued": len(queued), "lost": lost}
