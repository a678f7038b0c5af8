"""Changing preferences (preference centre and API) and revoking preference links."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from channels_app.adapters import ADAPTERS, personal_kinds
from channels_app.event_models import EventType
from channels_app.services.events import subscriber_event_emit
from core.exceptions import ApplicationError
from core.roles import Role, role_require
from subscribers.fields import attributes_clean, attributes_merge
from subscribers.models import ConsentRecord, Subscriber, SubscriberField, Subscription, Topic
from subscribers.services.consent import ConsentContext, consent_record_create
from subscribers.services.messages import MessageKind, subscriber_message_enqueue
from subscribers.validators import validate_locale, validate_slack_member_id, validate_timezone, validate_webhook_url

Frequency = Subscription.Frequency


DIGEST_FREQUENCIES = (Frequency.DAILY, Frequency.WEEKLY)


def _contact_required(kind: str) -> tuple[str, str]:
    """The Subscriber field a kind's personal messages go to, and what to say when it is missing
    while the kind is chosen somewhere (in the subscriber's language)."""
    adapter = ADAPTERS[kind]
    message = gettext("Add %(address)s or turn %(kind)s off for every topic.") % {
        "address": gettext(adapter.address_label),
        "kind": gettext(adapter.personal_label),
    }
    return adapter.subscriber_field, message


def subscription_frequencies(*, kind: str) -> list[str]:
    """The frequencies a subscription on `kind` may have: digests only where the kind's adapter
    carries them (the registry says so, e.g. not a broadcast-only kind)."""
    from channels_app.adapters import digest_kinds

    carries = kind in digest_kinds()
    return [f for f in Frequency.values if carries or f not in DIGEST_FREQUENCIES]


def subscription_choice_problem(*, kind: str, frequency: str) -> tuple[str, str] | None:
    """(field, message) when a subscription of `kind` at `frequency` cannot be delivered."""
    if kind not in personal_kinds():
        kinds = ", ".join(personal_kinds())
        return "channel_kind", f"'{kind}' cannot receive personal messages or digests; choose one of {kinds}."
    if frequency not in Frequency.values:
        return "frequency", f"'{frequency}' is not a frequency; choose one of {', '.join(Frequency.values)}."
    if frequency not in subscription_frequencies(kind=kind):
        return "frequency", f"{ADAPTERS[kind].personal_label} cannot carry a {frequency} digest; choose instant or off."
    return None


@dataclass(frozen=True)
class SubscriptionChoice:
    topic: Topic
    channel_kind: str
    frequency: str


def _text(limit: int) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if not isinstance(value, str) or len(value) > limit:
            raise ValidationError(f"Text of at most {limit} characters.")

    return check


def _integer(low: int, high: int) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValidationError(f"A whole number from {low} to {high}.")

    return check


def _pause(value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, datetime) or timezone.is_naive(value):
        raise ValidationError("A date and time with a time zone.")
    if value <= timezone.now():
        raise ValidationError(gettext("Choose a moment in the future, or clear it to resume now."))


def _attributes(value: Any) -> None:
    if not isinstance(value, dict):
        raise ValidationError("Attributes are a JSON object.")


def _then(*checks: Callable[[Any], None]) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        for one in checks:
            one(value)

    return check


# Every field a subscriber (or the API) may change, with its rule.
PREFERENCE_FIELDS: dict[str, Callable[[Any], None]] = {
    "name": _text(200),
    "timezone": _then(_text(64), validate_timezone),
    "locale": validate_locale,
    "digest_hour": _integer(0, 23),
    "digest_weekday": _integer(0, 6),
    "slack_member_id": _then(_text(32), validate_slack_member_id),
    "webhook_url": _then(_text(500), validate_webhook_url),
    "paused_until": _pause,
    "attributes": _attributes,
}


@transaction.atomic
def subscriber_preferences_update(
    *,
    subscriber: Subscriber,
    context: ConsentContext,
    changes: dict[str, Any] | None = None,
    subscriptions: Sequence[SubscriptionChoice] = (),
) -> Subscriber:
    """Validate everything first, then write everything, or nothing (ApplicationError with field errors).
    The subscriber's own signed link has no actor; staff (admin, API) need the publisher role."""
    role_require(context.actor, Role.PUBLISHER, "Changing a subscriber's preferences")
    subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
    changes, errors = _typed_attributes(subscriber, changes or {}, context)
    errors.update(_field_errors(changes))
    current = {(s.topic_id, s.channel_kind): s for s in subscriber.subscriptions.all()}
    errors.update(_subscription_errors(subscriber, changes, current, subscriptions))
    if errors:
        raise ApplicationError.for_fields(errors)
    summary = _fields_apply(subscriber, changes) + _subscriptions_apply(subscriber, current, subscriptions)
    if summary:
        consent_record_create(
            subscriber=subscriber,
            action=ConsentRecord.Action.PREFERENCES_CHANGED,
            context=context,
            wording="; ".join(summary),
        )
        subscriber_event_emit(type=EventType.SUBSCRIBER_UPDATED, subscriber=subscriber, changed=summary)
    return subscriber


def _typed_attributes(
    subscriber: Subscriber, changes: dict[str, Any], context: ConsentContext
) -> tuple[dict[str, Any], dict[str, list]]:
    """Attributes given are checked against the custom fields and merged into the current ones
    (a null removes a key); errors name each attribute (`attributes.<key>`)."""
    if not isinstance(changes.get("attributes"), dict):
        return changes, {}
    if context.method == ConsentRecord.Method.LINK:  # the preference centre: only what subscribers may edit
        editable = set(SubscriberField.objects.filter(subscriber_editable=True).values_list("key", flat=True))
        refused = {f"attributes.{k}": ["Not editable here."] for k in changes["attributes"] if k not in editable}
        if refused:
            return {k: v for k, v in changes.items() if k != "attributes"}, refused
    try:
        cleaned = attributes_clean(changes["attributes"])
    except ValidationError as exc:
        return {k: v for k, v in changes.items() if k != "attributes"}, exc.message_dict
    return {**changes, "attributes": attributes_merge(subscriber.attributes, cleaned)}, {}


def _field_errors(changes: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for field, value in changes.items():
        check = PREFERENCE_FIELDS.get(field)
        if check is None:
            errors[field] = ["This field cannot be changed here."]
            continue
        try:
            check(value)
        except ValidationError as exc:
            errors[field] = exc.messages
    return errors


def _subscription_errors(subscriber, changes, current, choices: Sequence[SubscriptionChoice]) -> dict[str, list[str]]:
    """Kinds and frequencies are known values; a Slack or webhook subscription needs its contact point."""
    messages: list[str] = []
    for choice in choices:
        problem = subscription_choice_problem(kind=choice.channel_kind, frequency=choice.frequency)
        if problem is not None:
            messages.append(f"{choice.topic.slug}: {problem[1]}")
    final = {key: s.frequency for key, s in current.items()}
    final.update({(c.topic.pk, c.channel_kind): c.frequency for c in choices})
    for kind in personal_kinds():
        field, message = _contact_required(kind)
        has_contact = changes.get(field, getattr(subscriber, field))
        if not has_contact and any(k == kind and f != Frequency.OFF for (_, k), f in final.items()):
            messages.append(message)
    return {"subscriptions": messages} if messages else {}


def _fields_apply(subscriber: Subscriber, changes: dict[str, Any]) -> list[str]:
    changed = [field for field, value in changes.items() if getattr(subscriber, field) != value]
    keys = _changed_keys(subscriber, changes, changed)
    for field in changed:
        setattr(subscriber, field, changes[field])
    if changed:
        subscriber.save(update_fields=[*changed, "updated_at"])
        from publishing.services.automations.enroll import automations_trigger

        for key in sorted(keys):  # automations started by "a field changed"
            automations_trigger(trigger="field_changed", subscriber_ids=[subscriber.pk], match={"field": key})
    return [f"{field} changed" for field in changed]


def _changed_keys(subscriber: Subscriber, changes: dict[str, Any], changed: list[str]) -> set[str]:
    """Changed field names, with each changed custom attribute by its own key."""
    keys = {field for field in changed if field != "attributes"}
    if "attributes" in changed:
        old, new = subscriber.attributes or {}, changes["attributes"] or {}
        keys |= {key for key in old.keys() | new.keys() if old.get(key) != new.get(key)}
    return keys


def _subscriptions_apply(subscriber, current, choices: Sequence[SubscriptionChoice]) -> list[str]:
    now = timezone.now()
    to_create, to_update, summary, joined = [], [], [], set()
    for choice in choices:
        existing = current.get((choice.topic.pk, choice.channel_kind))
        if choice.frequency != Frequency.OFF and (existing is None or existing.frequency == Frequency.OFF):
            joined.add(choice.topic.slug)
        if existing is None:
            if choice.frequency == Frequency.OFF:
                continue  # "off" for something never subscribed: nothing to record
            to_create.append(Subscription(subscriber=subscriber, topic=choice.topic, channel_kind=choice.channel_kind))
            to_create[-1].frequency = choice.frequency
        elif existing.frequency != choice.frequency:
            existing.frequency, existing.updated_at = choice.frequency, now
            to_update.append(existing)
        else:
            continue
        summary.append(f"{choice.topic.slug}/{choice.channel_kind}: {choice.frequency}")
    Subscription.objects.bulk_create(to_create)
    Subscription.objects.bulk_update(to_update, ["frequency", "updated_at"])
    if joined:
        from publishing.services.automations.enroll import automations_trigger

        for slug in sorted(joined):  # automations started by "joined a topic"
            automations_trigger(trigger="topic_joined", subscriber_ids=[subscriber.pk], match={"topic": slug})
    return summary


@transaction.atomic
def subscriber_links_revoke(*, subscriber: Subscriber, context: ConsentContext) -> Subscriber:
    """Every preference link issued so far stops working; a fresh one is emailed to the subscriber."""
    subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
    subscriber.token_version += 1
    # The subscriber asked for this mail: not throttled, but it resets the clock for the others.
    subscriber.last_confirmation_sent_at = timezone.now()
    subscriber.save(update_fields=["token_version", "last_confirmation_sent_at", "updated_at"])
    consent_record_create(
        subscriber=subscriber,
        action=ConsentRecord.Action.PREFERENCES_CHANGED,
        context=context,
        wording="Revoked every earlier preferences link",
    )
    subscriber_message_enqueue(subscriber=subscriber, kind=MessageKind.PREFERENCES_LINK)
    return subscriber
