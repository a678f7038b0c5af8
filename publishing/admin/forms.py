from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.urls import reverse
from django.utils.dateparse import parse_datetime

from channels_app.forms import TestRecipientsField
from core.exceptions import ApplicationError
from core.forms import form_add_service_errors
from publishing.models import ABTest, Publication
from publishing.services.abtests import abtest_validate
from publishing.services.states import EDITABLE_FIELDS, publication_validate
from publishing.services.timezones import local_to_utc, zone_names
from subscribers.models import Topic


class PublicationAdminForm(forms.ModelForm):
    """The publication's content, plus its A/B subject test (saved through the A/B service)."""

    topics = forms.ModelMultipleChoiceField(
        queryset=Topic.objects.order_by("name"), widget=forms.CheckboxSelectMultiple, required=False
    )
    ab_subjects = forms.CharField(
        label="Subject variants",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Newsletters only: 2 to 4 subjects, one per line. Blank: no A/B test.",
    )
    ab_metric = forms.ChoiceField(label="Winner by", choices=ABTest.Metric.choices, initial=ABTest.Metric.OPENS)
    ab_test_fraction = forms.FloatField(
        label="Test share", initial=0.2, min_value=0.02, max_value=0.5, help_text="Of the email audience (0.02-0.5)."
    )
    ab_wait_minutes = forms.IntegerField(label="Wait (minutes)", initial=60, min_value=1)

    class Meta:
        model = Publication
        fields = [*EDITABLE_FIELDS, "topics"]
        widgets = {
            "body": forms.Textarea(attrs={"rows": 18, "class": "compose-body", "spellcheck": "true"}),
            "summary": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "body" in self.fields:  # the rich editor (static/publishing/editor.js) uploads images here
            self.fields["body"].widget.attrs.update(
                {
                    "data-upload-url": reverse("admin-image-upload"),
                    "data-upload-max-bytes": str(settings.EDITOR_IMAGE_MAX_BYTES),
                }
            )
        if "slug" in self.fields:  # absent when the page is read-only
            self.fields["slug"].required = False
            self.fields["slug"].help_text = "Blank: made from the title. It is the archive address once published."
        if "send_time_holdout_percent" in self.fields:  # blank keeps the current share (default 10 %)
            self.fields["send_time_holdout_percent"].required = False
        test = getattr(self.instance, "ab_test", None) if self.instance.pk else None
        if test is not None:
            self.initial.update(
                ab_subjects="\n".join(v.subject for v in test.variants.order_by("index")),
                ab_metric=test.metric,
                ab_test_fraction=test.test_fraction,
                ab_wait_minutes=test.wait_minutes,
            )

    def subjects(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data.get("ab_subjects", "").splitlines() if line.strip()]

    def clean(self):
        data = super().clean()
        if "send_time_holdout_percent" in self.fields and data.get("send_time_holdout_percent") is None:
            data["send_time_holdout_percent"] = self.instance.send_time_holdout_percent
        content = {name: data.get(name) for name in self._meta.fields if name != "topics" and name in data}
        try:
            publication_validate(fields=content)
        except ApplicationError as exc:
            form_add_service_errors(self, exc)
        if self.subjects() and not self.errors:
            candidate = Publication(priority=data.get("priority"), state=self.instance.state or "draft")
            try:
                abtest_validate(
                    publication=candidate,
                    subjects=self.subjects(),
                    test_fraction=data.get("ab_test_fraction") or 0.2,
                    wait_minutes=data.get("ab_wait_minutes") or 60,
                    metric=data.get("ab_metric") or ABTest.Metric.OPENS,
                )
            except ApplicationError as exc:
                fields = {f"ab_{k}" if f"ab_{k}" in self.fields else k: v for k, v in exc.extra["fields"].items()}
                form_add_service_errors(self, ApplicationError.for_fields(fields))
        return data


class LocalDateTimeField(forms.DateTimeField):
    """A wall-clock time in `zone`, converted by the service (which refuses skipped and repeated
    local times) instead of Django's current-time-zone guess."""

    zone = ZoneInfo("UTC")

    def prepare_value(self, value):
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(self.zone).replace(tzinfo=None)
        return value

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, datetime):
            return value
        try:
            parsed = parse_datetime(str(value).strip())
        except ValueError:
            parsed = None
        if parsed is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return parsed

    def clean(self, value):
        naive = super().clean(value)
        if naive is None:
            return None
        try:
            return local_to_utc(naive, self.zone)
        except ApplicationError as exc:
            raise forms.ValidationError(exc.extra["fields"]["publish_at"], code="local_time") from exc


class PublishForm(forms.Form):
    publish_at = LocalDateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Blank: publish now. Otherwise the time to publish it, in your time zone.",
    )
    confirmed_total = forms.IntegerField(widget=forms.HiddenInput, min_value=0)
    confirm = forms.BooleanField(label="I have checked the audience and confirm", required=True)
    checks_override_reason = forms.CharField(
        label="Publish anyway, because",
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Only when a pre-send check fails: why it should go out anyway. Recorded with your name.",
    )

    def __init__(self, *args, zone: ZoneInfo, checking: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.zone = self.fields["publish_at"].zone = zone
        self.fields["confirm"].required = not checking


class EditorTimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(choices=(), help_text="Admin shows and reads times in it.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [(name, name) for name in sorted(zone_names())]


class TestSendForm(forms.Form):
    channel = forms.IntegerField()
    recipients = TestRecipientsField()
    # Rendered as this subscriber would get it (their name and merge fields); blank: as you.
    subscriber = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
