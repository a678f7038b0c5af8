"""The system emails a subscriber gets from these pages (not publications): the double opt-in
link, the opt-in links of topics asked for an active subscriber, an "already subscribed" notice
with a preferences link, and a fresh preferences link.

Sent through Django's mail API (EMAIL_BACKEND: the local outbox by default, SES in production)
by a Celery task enqueued on commit, so a rolled-back request never mails anyone.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import translation

from subscribers.i18n import subscriber_language
from subscribers.links import confirm_url, preferences_url
from subscribers.models import Subscriber, Suppression, Topic, email_hash


class MessageKind(enum.StrEnum):
    CONFIRM = "confirm"
    # An active subscriber asked (or was asked for) more topics: one confirmation link per topic.
    CONFIRM_TOPICS = "confirm_topics"
    ALREADY_SUBSCRIBED = "already_subscribed"
    PREFERENCES_LINK = "preferences_link"


def subscriber_message_enqueue(*, subscriber: Subscriber, kind: MessageKind, topic_ids: Sequence[int] = ()) -> None:
    from subscribers.tasks import subscriber_message_send_task

    subscriber_id, topic_ids = subscriber.pk, list(topic_ids)
    transaction.on_commit(
        lambda: subscriber_message_send_task.delay(subscriber_id=subscriber_id, kind=str(kind), topic_ids=topic_ids)
    )


def subscriber_message_send(*, subscriber_id: int, kind: str, topic_ids: Sequence[int] = ()) -> bool:
    """Send one system email; False when it no longer applies (erased, confirmed meanwhile, suppressed)."""
    kind = MessageKind(kind)
    subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
    if subscriber is None or not _still_applies(subscriber, kind):
        return False
    topics = Topic.objects.filter(pk__in=topic_ids).order_by("name")
    context = {
        "confirm_url": confirm_url(subscriber_id=subscriber.pk),
        "confirm_days": max(1, settings.CONFIRM_TOKEN_MAX_AGE // 86400),
        "topic_links": [(t.name, confirm_url(subscriber_id=subscriber.pk, topic_id=t.pk)) for t in topics],
    }
    system_email_send(subscriber=subscriber, template=f"subscribers/email/{kind}", context=context)
    return True


def system_email_send(*, subscriber: Subscriber, template: str, context: dict) -> None:
    """One email of Bulletin's own to a subscriber (not a publication): `<template>_subject.txt`,
    `.txt` and `.html` rendered with the subscriber, site, postal address and preferences link,
    in the subscriber's language."""
    with translation.override(subscriber_language(subscriber)):
        _system_email_send(subscriber, template, context)


def _system_email_send(subscriber: Subscriber, template: str, context: dict) -> None:
    context = {
        "subscriber": subscriber,
        "site_name": settings.SITE_NAME,
        "postal_address": settings.POSTAL_ADDRESS,
        "preferences_url": preferences_url(subscriber_id=subscriber.pk, token_version=subscriber.token_version),
        **context,
    }
    subject = render_to_string(f"{template}_subject.txt", context).strip()
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=render_to_string(f"{template}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[subscriber.email],
        # Automatic, about the recipient's own subscription: auto-responders must not answer it.
        headers={"Auto-Submitted": "auto-generated"},
    )
    message.attach_alternative(render_to_string(f"{template}.html", context), "text/html")
    message.send()


def _still_applies(subscriber: Subscriber, kind: MessageKind) -> bool:
    if kind == MessageKind.CONFIRM and subscriber.status != Subscriber.Status.PENDING:
        return False
    if kind == MessageKind.CONFIRM_TOPICS and subscriber.status != Subscriber.Status.ACTIVE:
        return False
    # Hard bounces, complaints, manual blocks: never mail them, not even a link they asked for.
    suppression = Suppression.objects.filter(email_hash=email_hash(subscriber.email)).first()
    return suppression is None or suppression.reason in Suppression.Reason.lifted_by_new_consent()
