"""Subscribing with double opt-in, and confirming.

Nothing here tells the caller whether an address was already known: the public page and the
API answer the same way for a new address, a pending one, an active one or a suppressed one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from channels_app.event_models import EventType
from channels_app.services.events import subscriber_event_emit
from core.exceptions import ApplicationError
from core.roles import Role, user_has_role
from subscribers.fields import attributes_clean
from subscribers.models import EMAIL_KIND, ConsentRecord, Subscriber, Subscription, Suppression, Topic, email_hash
from subscribers.services.consent import ConsentContext, consent_record_create
from subscribers.services.messages import MessageKind, subscriber_message_enqueue
from subscribers.tokens import InvalidToken, TokenData, TokenPurpose, subscriber_token_read
from subscribers.validators import email_normalize, validate_locale, validate_timezone

Status = Subscriber.Status
Action = ConsentRecord.Action

# Profile fields an authenticated caller may set when subscribing someone.
PROFILE_FIELDS = ("name", "timezone", "locale", "attributes")
CONFIRM_WORDING = "I confirm that I want to receive these emails. I can unsubscribe at any time."


@transaction.atomic
def subscriber_subscribe(
    *,
    email: str,
    context: ConsentContext,
    topics: Sequence[Topic] = (),
    wording: str = "",
    profile: dict[str, Any] | None = None,
    confirmed: bool = False,
) -> Subscriber | None:
    """Create or update a subscriber by email, with double opt-in unless a publisher says `confirmed`.

    - new address: pending + confirmation email (or active when confirmed)
    - pending: topics added, confirmation re-sent at most once per SUBSCRIBE_CONFIRMATION_RESEND_INTERVAL
    - active: a caller who may change subscribers (publisher role) adds topics and updates the
      profile. Anyone else (an editor, the public form) changes nothing: topics not yet followed
      go through double opt-in (a link per topic mailed to the owner); without any, the public
      form mails the owner a link to their preferences
    - unsubscribed, or suppressed by the sunset policy: fresh consent is needed, so back to pending
      with a confirmation email, even when `confirmed` is set
    - bounced, complained or suppressed for any other reason: left alone, never mailed
    The profile of an existing subscriber changes only for callers who may change subscribers.
    Returns the subscriber, or None for a suppressed address we hold no subscriber for (erased).
    """
    email = _email_clean(email)
    may_change = user_has_role(context.actor, Role.PUBLISHER)
    if confirmed and not may_change:
        raise ApplicationError(
            "Only publishers can create confirmed subscribers.",
            {"fields": {"confirmed": ["Needs the publisher role; leave it out to send a confirmation email."]}},
            status_code=403,
        )
    profile = profile or {}
    # Anonymous callers (the public form) may only give a name and their language, and only for a
    # new subscriber.
    anonymous = {field: profile[field] for field in ("name", "locale") if field in profile}
    profile = _profile_clean(profile if context.is_trusted else anonymous)
    subscriber = Subscriber.objects.select_for_update().filter(email__lower=email).first()
    suppression = Suppression.objects.filter(email_hash=email_hash(email)).first()
    if _is_blocked(subscriber, suppression):
        return subscriber
    if subscriber is None:
        subscriber = _subscriber_create(email=email, profile=profile, context=context)
        if subscriber is not None:
            _subscriptions_add(subscriber=subscriber, topics=topics)
            subscriber_event_emit(type=EventType.SUBSCRIBER_CREATED, subscriber=subscriber)
            return _opt_in(subscriber=subscriber, context=context, wording=wording, confirmed=confirmed)
        # Another request created it a moment ago: carry on as for an existing subscriber.
        subscriber = Subscriber.objects.select_for_update().get(email__lower=email)
    if may_change:
        _profile_update(subscriber=subscriber, profile=profile)
    if subscriber.status == Status.ACTIVE and suppression is None:
        if not may_change:
            return _subscribe_active_opt_in(subscriber=subscriber, context=context, topics=topics)
        return _subscribe_active(subscriber=subscriber, context=context, topics=topics)
    # pending, unsubscribed, or sunset for inactivity, and asking again: this request is (fresh)
    # consent to confirm
    _subscriptions_add(subscriber=subscriber, topics=topics, reopen=True)
    confirmed = confirmed and subscriber.status == Status.PENDING
    if subscriber.status in (Status.UNSUBSCRIBED, Status.ACTIVE):
        subscriber.status = Status.PENDING
        subscriber.save(update_fields=["status", "updated_at"])
    return _opt_in(subscriber=subscriber, context=context, wording=wording, confirmed=confirmed)


def _email_clean(email: str) -> str:
    try:
        return email_normalize(email)
    except ValidationError as exc:
        raise ApplicationError.for_fields({"email": exc.messages})


def _profile_clean(profile: dict[str, Any]) -> dict[str, Any]:
    unknown = set(profile) - set(PROFILE_FIELDS)
    errors: dict[str, list[str]] = {field: ["Unknown field."] for field in unknown}
    limit = Subscriber._meta.get_field("name").max_length
    if not isinstance(profile.get("name", ""), str) or len(profile.get("name", "")) > limit:
        errors["name"] = [f"Text of at most {limit} characters."]
    if "locale" in profile:
        try:
            validate_locale(profile["locale"])
        except ValidationError as exc:
            errors["locale"] = exc.messages
    if "timezone" in profile:
        try:
            validate_timezone(profile["timezone"])
        except ValidationError as exc:
            errors["timezone"] = exc.messages
    if "attributes" in profile and not isinstance(profile["attributes"], dict):
        errors["attributes"] = ["Attributes are a JSON object."]
    elif "attributes" in profile:
        try:  # custom fields are typed: "42" becomes 42 for a number field, "abc" is refused
            profile = {**profile, "attributes": attributes_clean(profile["attributes"])}
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ApplicationError.for_fields(errors)
    return profile


def _is_blocked(subscriber: Subscriber | None, suppression: Suppression | None) -> bool:
    if suppression is not None and suppression.reason not in Suppression.Reason.lifted_by_new_consent():
        return True
    return subscriber is not None and subscriber.status in (Status.BOUNCED, Status.COMPLAINED)


def _subscriber_create(*, email: str, profile: dict[str, Any], context: ConsentContext) -> Subscriber | None:
    fields = {k: v for k, v in profile.items() if v not in (None, "")}
    try:
        with transaction.atomic():
            return Subscriber.objects.create(email=email, source=context.method, **fields)
    except IntegrityError:
        return None


def _profile_update(*, subscriber: Subscriber, profile: dict[str, Any]) -> None:
    changed = []
    for field, value in profile.items():
        if field == "attributes":
            value = {**subscriber.attributes, **value}
        if value not in (None, "") and getattr(subscriber, field) != value:
            setattr(subscriber, field, value)
            changed.append(field)
    if changed:
        subscriber.save(update_fields=[*changed, "updated_at"])
        subscriber_event_emit(type=EventType.SUBSCRIBER_UPDATED, subscriber=subscriber, changed=sorted(changed))


def _subscriptions_add(*, subscriber: Subscriber, topics: Sequence[Topic], reopen: bool = False) -> list[Topic]:
    """Email subscriptions to `topics`; returns the topics newly added (or reopened from off)."""
    if not topics:
        return []
    existing = dict(
        Subscription.objects.filter(subscriber=subscriber, topic__in=topics, channel_kind=EMAIL_KIND).values_list(
            "topic_id", "frequency"
        )
    )
    Subscription.objects.bulk_create(
        [Subscription(subscriber=subscriber, topic=t, channel_kind=EMAIL_KIND) for t in topics],
        ignore_conflicts=True,
    )
    reopened = [t for t in topics if existing.get(t.pk) == Subscription.Frequency.OFF] if reopen else []
    if reopened:
        Subscription.objects.filter(subscriber=subscriber, topic__in=reopened, channel_kind=EMAIL_KIND).update(
            frequency=Subscription.Frequency.INSTANT, updated_at=timezone.now()
        )
    added = [t for t in topics if t.pk not in existing] + reopened
    for topic in added:
        automations_trigger(trigger="topic_joined", subscriber_ids=[subscriber.pk], match={"topic": topic.slug})
    return added


def automations_trigger(**kwargs) -> int:
    """Enter the automations this change starts (publishing's; imported late: publishing imports us)."""
    from publishing.services.automations.enroll import automations_trigger as trigger

    return trigger(**kwargs)


def _subscribe_active_opt_in(*, subscriber: Subscriber, context: ConsentContext, topics: Sequence[Topic]) -> Subscriber:
    """Someone who may not change this subscriber asked for them: nothing changes here. Topics
    they do not follow yet are mailed to them as opt-in links; the public form with none mails
    them their preferences link."""
    followed = set(
        subscriber.subscriptions.filter(channel_kind=EMAIL_KIND)
        .exclude(frequency=Subscription.Frequency.OFF)
        .values_list("topic_id", flat=True)
    )
    new = [t.pk for t in topics if t.pk not in followed]
    if new:
        _mail_throttled(subscriber=subscriber, kind=MessageKind.CONFIRM_TOPICS, topic_ids=new)
    elif not context.is_trusted:
        _mail_throttled(subscriber=subscriber, kind=MessageKind.ALREADY_SUBSCRIBED)
    return subscriber


def _subscribe_active(*, subscriber: Subscriber, context: ConsentContext, topics: Sequence[Topic]) -> Subscriber:
    added = _subscriptions_add(subscriber=subscriber, topics=topics, reopen=True)
    if added:
        names = ", ".join(t.name for t in added)
        consent_record_create(
            subscriber=subscriber, action=Action.PREFERENCES_CHANGED, context=context, wording=f"Topics added: {names}"
        )
    return subscriber


def _opt_in(*, subscriber: Subscriber, context: ConsentContext, wording: str, confirmed: bool) -> Subscriber:
    if confirmed:
        return subscriber_activate(
            subscriber=subscriber, context=context, action=Action.CREATED_CONFIRMED, wording=wording
        )
    consent_record_create(subscriber=subscriber, action=Action.SUBSCRIBED, context=context, wording=wording)
    _mail_throttled(subscriber=subscriber, kind=MessageKind.CONFIRM)
    return subscriber


def _mail_throttled(*, subscriber: Subscriber, kind: MessageKind, topic_ids: Sequence[int] = ()) -> bool:
    """At most one system email per address per resend interval, however often it is asked for."""
    now = timezone.now()
    interval = timedelta(seconds=settings.SUBSCRIBE_CONFIRMATION_RESEND_INTERVAL)
    last = subscriber.last_confirmation_sent_at
    if last is not None and now - last < interval:
        return False
    subscriber.last_confirmation_sent_at = now
    subscriber.save(update_fields=["last_confirmation_sent_at", "updated_at"])
    subscriber_message_enqueue(subscriber=subscriber, kind=kind, topic_ids=topic_ids)
    return True


def subscriber_activate(*, subscriber: Subscriber, context: ConsentContext, action: str, wording: str) -> Subscriber:
    """Pending → active with proof of consent. A previous unsubscribe (or sunset) suppression goes:
    this is new consent."""
    now = timezone.now()
    subscriber.status = Status.ACTIVE
    subscriber.confirmed_at = now
    subscriber.unsubscribed_at = None
    subscriber.save(update_fields=["status", "confirmed_at", "unsubscribed_at", "updated_at"])
    Suppression.objects.filter(
        email_hash=email_hash(subscriber.email), reason__in=Suppression.Reason.lifted_by_new_consent()
    ).delete()
    consent_record_create(subscriber=subscriber, action=action, context=context, wording=wording)
    subscriber_event_emit(type=EventType.SUBSCRIBER_CONFIRMED, subscriber=subscriber)
    automations_trigger(trigger="confirmed", subscriber_ids=[subscriber.pk])
    return subscriber


@transaction.atomic
def subscriber_confirm(*, token: str, context: ConsentContext) -> Subscriber:
    """Honour a double opt-in link. Raises InvalidToken (expired, tampered, unknown, used).

    Replaying the link of an active subscriber changes nothing. A link never re-activates someone
    who unsubscribed, bounced or complained after it was sent.
    """
    data = subscriber_token_read(purpose=TokenPurpose.CONFIRM, token=token)
    subscriber = Subscriber.objects.select_for_update().filter(pk=data.subscriber_id).first()
    if subscriber is None:
        raise InvalidToken("unknown", subscriber_id=data.subscriber_id)
    if data.topic_id is not None:
        return _topic_confirm(subscriber=subscriber, data=data, context=context)
    if subscriber.status == Status.ACTIVE:
        return subscriber
    # Token timestamps have one-second resolution: older than the last unsubscribe means stale.
    unsubscribed_at = subscriber.unsubscribed_at
    stale = unsubscribed_at is not None and data.issued_at + timedelta(seconds=1) <= unsubscribed_at
    if subscriber.status != Status.PENDING or stale or _is_blocked(subscriber, _suppression_of(subscriber)):
        raise InvalidToken("used", subscriber_id=subscriber.pk)
    asked = subscriber.consent_records.filter(action=Action.SUBSCRIBED).order_by("-created_at").first()
    wording = CONFIRM_WORDING + (f"\n\nAsked for: {asked.wording}" if asked and asked.wording else "")
    return subscriber_activate(subscriber=subscriber, context=context, action=Action.CONFIRMED, wording=wording)


def _topic_confirm(*, subscriber: Subscriber, data: TokenData, context: ConsentContext) -> Subscriber:
    """The opt-in link of one more topic for an active subscriber. A topic turned off after the
    link was sent stays off (the later choice wins), like a stale confirmation link."""
    topic = Topic.objects.filter(pk=data.topic_id).first()
    if topic is None or subscriber.status != Status.ACTIVE or _is_blocked(subscriber, _suppression_of(subscriber)):
        raise InvalidToken("used", subscriber_id=subscriber.pk)
    current = Subscription.objects.filter(subscriber=subscriber, topic=topic, channel_kind=EMAIL_KIND).first()
    if current is not None and current.frequency != Subscription.Frequency.OFF:
        return subscriber
    if current is not None and data.issued_at + timedelta(seconds=1) <= current.updated_at:
        raise InvalidToken("used", subscriber_id=subscriber.pk)
    _subscriptions_add(subscriber=subscriber, topics=[topic], reopen=True)
    consent_record_create(
        subscriber=subscriber,
        action=Action.CONFIRMED,
        context=context,
        wording=f"{CONFIRM_WORDING}\n\nTopic: {topic.name}",
    )
    return subscriber


def _suppression_of(subscriber: Subscriber) -> Suppression | None:
    return Suppression.objects.filter(email_hash=email_hash(subscriber.email)).first()


@transaction.atomic
def subscriber_link_request(*, email: str = "", subscriber_id: int | None = None) -> None:
    """Someone asks for a fresh link (their old one expired, was revoked or mangled).

    Pending subscribers get a new confirmation link, others a new preferences link; unknown or
    suppressed addresses get nothing. The caller shows the same answer whatever happens.
    """
    subscriber = None
    if subscriber_id is not None:
        subscriber = Subscriber.objects.select_for_update().filter(pk=subscriber_id).first()
    elif email:
        try:
            normalized = email_normalize(email)
        except ValidationError:
            return
        subscriber = Subscriber.objects.select_for_update().filter(email__lower=normalized).first()
    if subscriber is None or _is_blocked(subscriber, _suppression_of(subscriber)):
        return
    kind = MessageKind.CONFIRM if subscriber.status == Status.PENDING else MessageKind.PREFERENCES_LINK
    _mail_throttled(subscriber=subscriber, kind=kind)
