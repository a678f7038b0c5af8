"""Forms of the public pages. They parse and shape input; the services decide (and validate)."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time
from typing import Any

from django import forms
from django.conf import settings
from django.utils import timezone

from channels_app.adapters import ADAPTERS, personal_kind_choices, personal_kinds
from core.exceptions import ApplicationError
from core.forms import form_add_service_errors
from subscribers.models import Subscriber, Subscription, Topic
from subscribers.selectors import public_topics
from subscribers.services import SubscriptionChoice
from subscribers.validators import timezone_names

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def subscribe_wording(topic_names: list[str]) -> str:
    """The consent text shown above the button; stored verbatim with the topics chosen."""
    base = (
        f"I want to receive emails from {settings.SITE_NAME} about the topics I chose. "
        "I will confirm from the email sent to me, and I can change my preferences or "
        "unsubscribe at any time from any message."
    )
    return base + (f" Topics: {', '.join(topic_names)}." if topic_names else "")


class PublicForm(forms.Form):
    """Forms of the public pages: labels without a trailing colon, service errors shown in place."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def add_service_errors(self, exc: ApplicationError) -> None:
        """Show a service's field errors next to the fields (others at the top of the form)."""
        form_add_service_errors(self, exc)


class SubscribeForm(PublicForm):
    email = forms.EmailField(label="Email address", max_length=254)
    name = forms.CharField(label="Name (optional)", max_length=200, required=False)
    topics = forms.ModelMultipleChoiceField(
        queryset=Topic.objects.none(), widget=forms.CheckboxSelectMultiple, label="Topics", required=False
    )
    # Honeypot: hidden from people (CSS and aria-hidden), filled in by form-filling bots.
    website = forms.CharField(required=False, label="Leave this field empty")

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
            raise forms.ValidationError("Choose at least one topic.")
        return topics

    def wording(self) -> str:
        return subscribe_wording([t.name for t in self.cleaned_data.get("topics", [])])


class EmailLinkForm(PublicForm):
    email = forms.EmailField(label="Your email address", max_length=254)


class PreferencesForm(PublicForm):
    """Profile, contact points, digest timing, pause and one frequency per topic × channel kind."""

    name = forms.CharField(max_length=200, required=False)
    slack_member_id = forms.CharField(
        label="Slack member ID",
        max_length=32,
        required=False,
        help_text="For direct messages in Slack: your profile → ⋮ → Copy member ID.",
    )
    webhook_url = forms.CharField(
        label="Personal webhook URL",
        max_length=500,
        required=False,
        help_text="A Discord webhook of your own, or any https endpoint that accepts JSON.",
    )
    timezone = forms.ChoiceField(label="Time zone", help_text="Digests arrive at the chosen hour in this time zone.")
    digest_hour = forms.TypedChoiceField(
        label="Digest time",
        coerce=int,
        choices=[(h, f"{h:02d}:00") for h in range(24)],
    )
    digest_weekday = forms.TypedChoiceField(label="Weekly digest day", coerce=int, choices=list(enumerate(WEEKDAYS)))
    paused_until = forms.DateField(
        label="Pause all messages until",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Going away? Nothing is sent before this date. Leave empty to receive messages.",
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
        for topic in topics:
            for kind, label in personal_kind_choices():
                self.fields[self.frequency_field(topic, kind)] = forms.ChoiceField(
                    label=f"{topic.name} by {label.lower()}", choices=Subscription.Frequency.choices
                )

    @staticmethod
    def frequency_field(topic: Topic, kind: str) -> str:
        return f"frequency_{topic.pk}_{kind}"

    @property
    def kind_choices(self) -> list[tuple[str, str]]:
        """The matrix's columns: each kind a subscriber can receive personal messages on."""
        return [(kind, ADAPTERS[kind].label) for kind in personal_kinds()]

    def rows(self) -> list[dict[str, Any]]:
        """The topic × channel matrix, for the template."""
        rows = []
        for topic in self.topics:
            cells = []
            for kind, label in self.kind_choices:
                cell = self[self.frequency_field(topic, kind)]
                cell.kind_label = label
                cells.append(cell)
            rows.append({"topic": topic, "cells": cells})
        return rows

    def changes(self) -> dict[str, Any]:
        data = self.cleaned_data
        changes = {
            field: data[field]
            for field in ("name", "slack_member_id", "webhook_url", "timezone", "digest_hour", "digest_weekday")
        }
        pause = data.get("paused_until")
        # Paused until the start of that day where the subscriber lives.
        changes["paused_until"] = (
            datetime.combine(pause, time.min, tzinfo=zoneinfo.ZoneInfo(data["timezone"])) if pause else None
        )
        current = self.subscriber.paused_until
        ended = current is None or current <= timezone.now()
        if changes["paused_until"] == current or (pause is None and ended):
            del changes["paused_until"]  # unchanged, or a pause that already ended
        return changes

    def subscription_choices(self) -> list[SubscriptionChoice]:
        return [
            SubscriptionChoice(
                topic=topic, channel_kind=kind, frequency=self.cleaned_data[self.frequency_field(topic, kind)]
            )
            for topic in self.topics
            for kind in personal_kinds()
        ]
