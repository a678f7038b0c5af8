"""Unsubscribing: from what one message stood for (its topics on its channel kind, a digest's
topics) or from everything (a footer's "unsubscribe from all", the preference centre)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from channels_app.adapters import ADAPTERS, personal_kinds
from channels_app.event_models import EventType
from channels_app.services.events import subscriber_event_emit
from subscribers.models import ConsentRecord, Subscriber, Subscription, Suppression, Topic, email_hash
from subscribers.services.consent import ConsentContext, consent_record_create
from subscribers.services.suppression import suppression_add
from subscribers.tokens import EVERYTHING, UnsubscribeScope

# How the pages say "on this channel kind": each adapter's `delivered_by` phrase, translated as
# a whole so every language can say it its way. These marks keep the shipped kinds' phrases in
# the catalogues (makemessages finds them here).
_KIND_PHRASES = (
    gettext_lazy("by email"),
    gettext_lazy("by Slack direct message"),
    gettext_lazy("by your personal webhook"),
)


@dataclass(frozen=True)
class ScopeDescription:
    """What a scope stops, in words the pages print: everything, or these topics on this kind
    (every kind for links that predate kinds), from a digest of this frequency or not."""

    everything: bool
    topics: tuple[str, ...] = ()
    kind: str = ""
    frequency: str = ""

    @property
    def kind_label(self) -> str:
        return gettext(ADAPTERS[self.kind].personal_label) if self.kind in personal_kinds() else ""

    @property
    def kind_phrase(self) -> str:
        """ "by email", in the active language; empty for links that stop every kind."""
        phrase = ADAPTERS[self.kind].delivered_by if self.kind in personal_kinds() else ""
        return gettext(phrase) if phrase else ""

    @property
    def topic_list(self) -> str:
        """ "News, Product and Security", in the active language."""
        names = list(self.topics)
        if len(names) <= 1:
            return "".join(names)
        return gettext("%(first)s and %(last)s") % {"first": ", ".join(names[:-1]), "last": names[-1]}

    @property
    def topics_gone(self) -> bool:
        """A topic link whose topics were all deleted since: nothing is left to stop."""
        return not self.everything and not self.topics


@dataclass(frozen=True)
class Unsubscribed:
    changed: bool
    stopped: ScopeDescription


def unsubscribe_scope_describe(*, scope: UnsubscribeScope) -> ScopeDescription:
    if scope.is_everything:
        return ScopeDescription(everything=True)
    names = Topic.objects.filter(pk__in=scope.topic_ids).order_by("name").values_list("name", flat=True)
    return ScopeDescription(everything=False, topics=tuple(names), kind=scope.kind, frequency=scope.frequency)


@transaction.atomic
def subscriber_unsubscribe(
    *, subscriber: Subscriber, context: ConsentContext, scope: UnsubscribeScope = EVERYTHING
) -> Unsubscribed:
    """Idempotent: `changed` is False when it was already done.

    Everything: status unsubscribed and a Suppression (reason unsubscribed), so no audience
    selects the address again until they opt in anew. A scope with topics: those topics set to
    off on the scope's channel kind (on every kind for links from before kinds), nothing else.
    """
    subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
    stopped = unsubscribe_scope_describe(scope=scope)
    if stopped.everything:
        changed = _unsubscribe_everything(subscriber, context)
        wording, source = "Unsubscribe from everything", ""
    else:
        rows = Subscription.objects.filter(subscriber=subscriber, topic_id__in=scope.topic_ids)
        if scope.kind:
            rows = rows.filter(channel_kind=scope.kind)
        changed = bool(
            rows.exclude(frequency=Subscription.Frequency.OFF).update(
                frequency=Subscription.Frequency.OFF, updated_at=timezone.now()
            )
        )
        wording = f"Unsubscribe from {', '.join(stopped.topics)}" + (f" by {stopped.kind_label}" if scope.kind else "")
        slugs = Topic.objects.filter(pk__in=scope.topic_ids).order_by("slug").values_list("slug", flat=True)
        source = "topic:" + ",".join(slugs) + (f"/{scope.kind}" if scope.kind else "")
    if changed:
        consent_record_create(
            subscriber=subscriber,
            action=ConsentRecord.Action.UNSUBSCRIBED,
            context=context,
            wording=wording,
            source=source,
        )
        scope_data = {"everything": stopped.everything, "topics": sorted(slugs) if not stopped.everything else []}
        scope_data["channel_kind"] = scope.kind or None
        subscriber_event_emit(type=EventType.SUBSCRIBER_UNSUBSCRIBED, subscriber=subscriber, scope=scope_data)
    return Unsubscribed(changed=changed, stopped=stopped)


def _unsubscribe_everything(subscriber: Subscriber, context: ConsentContext) -> bool:
    mailable = subscriber.status in (Subscriber.Status.PENDING, Subscriber.Status.ACTIVE)
    changed = mailable or not Suppression.objects.filter(email_hash=email_hash(subscriber.email)).exists()
    if changed:
        suppression_add(email=subscriber.email, reason=Suppression.Reason.UNSUBSCRIBED, actor=context.actor)
    if mailable:  # also when a stronger suppression (manual) already existed
        subscriber.status, subscriber.unsubscribed_at = Subscriber.Status.UNSUBSCRIBED, timezone.now()
        subscriber.save(update_fields=["status", "unsubscribed_at", "updated_at"])
    return changed
