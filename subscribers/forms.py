"""Forms of the public pages. They parse and shape input; the services decide (and validate)."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time
from typing import Any

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from channels_app.adapters import ADAPTERS, personal_kinds
from core.exceptions import ApplicationError
from core.forms import form_add_service_errors
from core.i18n import language_for
from subscribers.models import FieldType, Subscriber, SubscriberField, Subscription, Topic
from subscribers.selectors import public_topics
from subscribers.services import SubscriptionChoice
from subscribers.services.preferences import subscription_frequencies
from subscribers.validators import timezone_names


def _custom_form_field(field: SubscriberField) -> forms.Field:
    """A preference-centre input for a subscriber-editable custom field (the service validates)."""
    common = {"label": field.label, "required": False, "help_text": field.help_text}
    if field.type == FieldType.BOOLEAN:
        return forms.NullBooleanField(
            widget=forms.Select(choices=[("", "—"), ("true", "Yes"), ("false", "No")]), **common
        )
    if field.type == FieldType.CHOICE:
        return forms.ChoiceField(choices=[("", "—"), *[(c, c) for c in field.choices]], **common)
    if field.type == FieldType.DATE:
        return forms.CharField(widget=forms.DateInput(attrs={"type": "date"}), max_length=10, **common)
    return forms.CharField(max_length=1000, **common)


def _form_value(value: Any) -> Any:
    return None if value in ("", None) else value


WEEKDAYS = [
    gettext_lazy("Monday"),
    gettext_lazy("Tuesday"),
    gettext_lazy("Wednesday"),
    gettext_lazy("Thursday"),
    gettext_lazy("Friday"),
    gettext_lazy("Saturday"),
    gettext_lazy("Sunday"),
]
# The preference centre's column headings are the adapters' labels, translated; these marks
# keep the shipped kinds' labels in the catalogues (makemessages finds them here).
_COLUMN_LABELS = (gettext_lazy("Email"), gettext_lazy("Slack"), gettext_lazy("Webhook"))


def kind_column(kind: str) -> str:
    """A channel kind's column heading in the subscriber's language."""
    return gettext(ADAPTERS[kind].label)


# What the preference centre edits directly (the rest: pause, and one frequency per cell).
PROFILE_FIELDS = ("name", "slack_member_id", "webhook_url", "locale", "timezone", "digest_hour", "digest_weekday")


def subscribe_wording(topic_names: list[str]) -> str:
    """The consent text shown above the button, in the visitor's language; stored verbatim with
    the topics chosen (the exact words the person agreed to)."""
    base = gettext(
        "I want to receive emails from %(site)s about the topics I chose. I will confirm from the email "
        "sent to me, and I can change my preferences or unsubscribe at any time from any message."
    ) % {"site": settings.SITE_NAME}
    topics = gettext("Topics: %(topics)s.") % {"topics": ", ".join(topic_names)} if topic_names else ""
    return f"{base} {topics}".strip()


class PublicForm(forms.Form):
    """Forms of the public pages: labels without a trailing colon, service errors shown in place."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def add_service_errors(self, exc: ApplicationError) -> None:
        """Show a service's field errors next to the fields (others at the top of the form)."""
        form_add_service_errors(self, exc)


class SubscribeForm(PublicForm):
    email = forms.EmailField(label=gettext_lazy("Email address"), max_length=254)
    name = forms.CharField(label=gettext_lazy("Name (optional)"), max_length=200, required=False)
    topics = forms.ModelMultipleChoiceField(
        queryset=Topic.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        label=gettext_lazy("Topics"),
        required=False,
    )
    # Honeypot: hidden from people (CSS and aria-hidden), filled in by form-filling bots.
    website = forms.CharField(required=False, label=gettext_lazy("Leave this field empty"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["topics"].queryset = public_topics()
        self.fields["email"].widget.attrs.update({"autocomplete": "email", "inputmode": "email"})
        self.fields["name"].widget.attrs.update({"autocomplete": "name"})
        self.fields["website"].widget.attrs.update({"autocomplete": "off", "tabindex": "-1"})

    @property
    def is_bot(self) -> bool:
        return bool(self.data.get("website"))

    def clean_topics(self):
        topics = self.cleaned_data["topics"]
        if not topics and self.fields["topics"].queryset.exists():
            raise forms.ValidationError(gettext("Choose at least one topic."))
        return topics

    def wording(self) -> str:
        return subscribe_wording([t.name for t in self.cleaned_data.get("topics", [])])


class EmailLinkForm(PublicForm):
    email = forms.EmailField(label=gettext_lazy("Your email address"), max_length=254)


class PreferencesForm(PublicForm):
    """Profile, contact points, language, digest timing, pause and one frequency per topic ×
    channel kind."""

    name = forms.CharField(label=gettext_lazy("Name"), max_length=200, required=False)
    slack_member_id = forms.CharField(
        label=gettext_lazy("Slack member ID"),
        max_length=32,
        required=False,
        help_text=gettext_lazy("For direct messages in Slack: your profile → ⋮ → Copy member ID."),
    )
    webhook_url = forms.CharField(
        label=gettext_lazy("Personal webhook URL"),
        max_length=500,
        required=False,
        help_text=gettext_lazy("A Discord webhook of your own, or any https endpoint that accepts JSON."),
    )
    locale = forms.ChoiceField(
        label=gettext_lazy("Language"),
        choices=settings.LANGUAGES,
        required=False,
        help_text=gettext_lazy("These pages and our emails about your subscription are in this language."),
    )
    timezone = forms.ChoiceField(
        label=gettext_lazy("Time zone"), help_text=gettext_lazy("Digests arrive at the chosen hour in this time zone.")
    )
    digest_hour = forms.TypedChoiceField(
        label=gettext_lazy("Digest time"),
        coerce=int,
        choices=[(h, f"{h:02d}:00") for h in range(24)],
    )
    digest_weekday = forms.TypedChoiceField(
        label=gettext_lazy("Weekly digest day"), coerce=int, choices=list(enumerate(WEEKDAYS))
    )
    paused_until = forms.DateField(
        label=gettext_lazy("Pause all messages until"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=gettext_lazy("Going away? Nothing is sent before this date. Leave empty to receive messages."),
    )

    def __init__(self, *args: Any, subscriber: Subscriber, topics: list[Topic], **kwargs: Any) -> None:
        self.subscriber, self.topics = subscriber, topics
        current = {(s.topic_id, s.channel_kind): s.frequency for s in subscriber.subscriptions.all()}
        paused = None
        if subscriber.paused_until and subscriber.paused_until > timezone.now():
            paused = subscriber.paused_until.astimezone(zoneinfo.ZoneInfo(subscriber.timezone)).date()
        initial = {
            "name": subscriber.name,
            "slack_member_id": subscriber.slack_member_id,
            "webhook_url": subscriber.webhook_url,
            "locale": language_for(subscriber.locale),
            "timezone": subscriber.timezone,
            "digest_hour": subscriber.digest_hour,
            "digest_weekday": subscriber.digest_weekday,
            "paused_until": paused,
        }
        for topic in topics:
            for kind in personal_kinds():
                initial[self.frequency_field(topic, kind)] = current.get((topic.pk, kind), Subscription.Frequency.OFF)
        super().__init__(*args, initial=initial, **kwargs)
        self.fields["timezone"].choices = [(tz, tz.replace("_", " ")) for tz in sorted(timezone_names())]
        self.fields["webhook_url"].widget.attrs.update({"inputmode": "url", "placeholder": "https://…"})
        self.fields["slack_member_id"].widget.attrs.update({"placeholder": "U01ABCDEF", "spellcheck": "false"})
        for kind in personal_kinds():
            # Only what the kind can deliver: no digest on a kind whose adapter carries none.
            offered = subscription_frequencies(kind=kind)
            choices = [(value, label) for value, label in Subscription.Frequency.choices if value in offered]
            for topic in topics:
                label = gettext("%(topic)s by %(kind)s") % {"topic": topic.name, "kind": kind_column(kind)}
                self.fields[self.frequency_field(topic, kind)] = forms.ChoiceField(label=label, choices=choices)
        self.custom_fields = list(SubscriberField.objects.filter(subscriber_editable=True).order_by("label"))
        for field in self.custom_fields:
            self.fields[f"attr_{field.key}"] = _custom_form_field(field)
            self.initial[f"attr_{field.key}"] = subscriber.attributes.get(field.key)

    def custom_field_items(self) -> list:
        return [self[f"attr_{field.key}"] for field in self.custom_fields]

    def add_service_errors(self, exc: ApplicationError) -> None:
        fields = exc.extra.get("fields") or {}
        renamed = {name.replace("attributes.", "attr_", 1): messages for name, messages in fields.items()}
        super().add_service_errors(ApplicationError(exc.message, {**exc.extra, "fields": renamed}) if fields else exc)

    @staticmethod
    def frequency_field(topic: Topic, kind: str) -> str:
        return f"frequency_{topic.pk}_{kind}"

    def kinds(self) -> list[dict[str, Any]]:
        """The matrix's columns: each kind a subscriber can receive personal messages on."""
        return [{"value": kind, "column": kind_column(kind)} for kind in personal_kinds()]

    def rows(self) -> list[dict[str, Any]]:
        """The topic × channel matrix, for the template: each cell with its column."""
        return [
            {
                "topic": topic,
                "cells": [(self[self.frequency_field(topic, kind["value"])], kind) for kind in self.kinds()],
            }
            for topic in self.topics
        ]

    def changes(self) -> dict[str, Any]:
        data = self.cleaned_data
        changes = {field: data[field] for field in PROFILE_FIELDS}
        if changes["locale"] in ("", language_for(self.subscriber.locale)):
            del changes["locale"]  # unchanged: keep a finer stored tag (de-AT) or one we do not ship
        pause = data.get("paused_until")
        # Paused until the start of that day where the subscriber lives.
        changes["paused_until"] = (
            datetime.combine(pause, time.min, tzinfo=zoneinfo.ZoneInfo(data["timezone"])) if pause else None
        )
        current = self.subscriber.paused_until
        ended = current is None or current <= timezone.now()
        if changes["paused_until"] == current or (pause is None and ended):
            del changes["paused_until"]  # unchanged, or a pause that already ended
        if self.custom_fields:  # blank clears; the service types and checks each value
            changes["attributes"] = {f.key: _form_value(data.get(f"attr_{f.key}")) for f in self.custom_fields}
        return changes

    def subscription_choices(self) -> list[SubscriptionChoice]:
        return [
            SubscriptionChoice(
                topic=topic, channel_kind=kind, frequency=self.cleaned_data[self.frequency_field(topic, kind)]
            )
            for topic in self.topics
            for kind in personal_kinds()
        ]
