"""Admin for analytics: the dashboard, events, SES notifications, hygiene actions, guard trips.

Everything here is read-only: these rows are written by the feedback loop, never by hand.
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from analytics import charts
from analytics.models import Dashboard, EngagementEvent, GuardTrip, HygieneAction, ProviderNotification
from analytics.selectors import dashboard_data
from analytics.services.feedback import provider_notification_process
from channels_app.models import Channel
from subscribers.models import Topic


class ReadOnlyAdmin(admin.ModelAdmin):
    show_full_result_count = False
    list_per_page = 100

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(EngagementEvent)
class EngagementEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "delivery", "kind", "is_machine", "user_agent_class", "occurred_at"]
    list_filter = ["kind", "is_machine", "occurred_at"]
    search_fields = ["dedupe_key"]
    raw_id_fields = ["delivery"]

    @admin.display(description="Agent")
    def user_agent_class(self, obj):
        return obj.metadata.get("ua_class", "")


@admin.register(ProviderNotification)
class ProviderNotificationAdmin(ReadOnlyAdmin):
    # A dead notification (status filter "Dead") shows why in `error`; "process again" retries it.
    list_display = [
        "message_id",
        "provider",
        "message_type",
        "event_type",
        "status",
        "attempts",
        "received_at",
        "processed_at",
        "error",
    ]
    list_filter = ["status", "provider", "message_type", "event_type"]
    search_fields = ["message_id", "topic_arn"]
    actions = ["reprocess"]

    @admin.action(
        description="Process selected notifications again (idempotent; dead ones too)", permissions=["change"]
    )
    def reprocess(self, request, queryset):
        for notification in queryset:
            provider_notification_process(notification_id=notification.pk, force=True)
        self.message_user(request, f"{queryset.count()} notification(s) processed.")

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("analytics.change_providernotification")  # for the action


@admin.register(HygieneAction)
class HygieneActionAdmin(ReadOnlyAdmin):
    """Every automatic change list hygiene made, with its reason."""

    list_display = ["created_at", "email", "kind", "reason", "delivery_id"]
    list_filter = ["kind", "created_at"]
    search_fields = ["email", "reason"]
    raw_id_fields = ["subscriber", "delivery", "notification"]
    list_select_related = []


@admin.register(GuardTrip)
class GuardTripAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "scope", "metric", "rate_display", "sample", "send_link", "channel", "alerted"]
    list_filter = ["scope", "metric"]
    list_select_related = ["send", "channel"]

    @admin.display(description="Rate")
    def rate_display(self, obj):
        return f"{obj.rate:.2%} (limit {obj.threshold:.2%})"

    @admin.display(description="Send (resume it there)")
    def send_link(self, obj):
        if obj.send_id is None:
            return ", ".join(f"#{pk}" for pk in obj.paused_send_ids)
        url = reverse("admin:channels_app_send_change", args=[obj.send_id])
        return format_html('<a href="{}">#{} ({})</a>', url, obj.send_id, obj.send.status)


class DashboardFilterForm(forms.Form):
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="From")
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="To")
    topic = forms.ModelChoiceField(Topic.objects.order_by("name"), required=False, empty_label="All topics")
    channel = forms.ModelChoiceField(Channel.objects.order_by("name"), required=False, empty_label="All channels")

    def clean(self):
        data = super().clean()
        end = data.get("end") or timezone.now().date()
        start = data.get("start") or end - timedelta(days=29)
        if start > end:
            self.add_error("start", "Must be on or before the end date.")
        elif (end - start).days > 366:
            self.add_error("start", "At most a year at a time.")
        data["start"], data["end"] = start, end
        return data


@admin.register(Dashboard)
class DashboardAdmin(ReadOnlyAdmin):
    """Analytics → Dashboard: charts from the rollups, filterable by dates, topic and channel."""

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = DashboardFilterForm(request.GET)
        if not form.is_valid():
            errors = "; ".join(e for errs in form.errors.values() for e in errs)
            messages.warning(request, f"Showing the last 30 days: {errors}")
            form = DashboardFilterForm({})
            form.is_valid()
        filters = form.cleaned_data
        data = dashboard_data(
            start=filters["start"],
            end=filters["end"],
            topic_id=filters["topic"].pk if filters.get("topic") else None,
            channel_id=filters["channel"].pk if filters.get("channel") else None,
        )
        context = {
            **self.admin_site.each_context(request),
            "title": "Analytics dashboard",
            "opts": self.model._meta,
            "form": form,
            "data": data,
            "kpis": _kpis(data["totals"]),
            "charts": _charts(data),
            "providers": _provider_rows(filters),
        }
        return TemplateResponse(request, "admin/analytics/dashboard.html", context)


def _provider_rows(filters: dict) -> list[dict]:
    """Each mailbox provider's rates as percentages (analytics.provider_selectors)."""
    from analytics.provider_selectors import mailbox_provider_report

    channel = filters.get("channel")
    report = mailbox_provider_report(
        start=filters["start"], end=filters["end"], channel_ids=[channel.pk] if channel else None
    )
    rates = ("delivery_rate", "bounce_rate", "complaint_rate", "open_rate", "click_rate")
    return [
        {**row, **{r: "–" if row[r] is None else f"{row[r] * 100:.1f}%" for r in rates}} for row in report["providers"]
    ]


def _kpis(totals: dict) -> list[tuple[str, str]]:
    def percent(value, digits=1):
        return "–" if value is None else f"{value * 100:.{digits}f}%"

    return [
        ("Sent", f"{totals['sent']:,}"),
        ("Delivered", f"{totals['delivered']:,}"),
        ("Open rate (unique, human)", percent(totals["open_rate"])),
        ("Click rate (unique)", percent(totals["click_rate"])),
        ("Hard bounce rate", percent(totals["bounce_rate"], 2)),
        ("Complaint rate", percent(totals["complaint_rate"], 3)),
    ]


def _charts(data: dict) -> dict:
    labels = [row["date"][5:] for row in data["series"]]
    series = data["series"]

    def values(metric):
        return [row[metric] for row in series]

    publications = data["publications"]
    channels = data["channels"]
    return {
        "sends": charts.line_chart(
            title="Messages per day",
            labels=labels,
            series=[
                charts.Series("Sent", values("sent"), charts.PALETTE[0]),
                charts.Series("Delivered", values("delivered"), charts.PALETTE[1]),
                charts.Series("Failed", values("failed"), charts.PALETTE[3]),
            ],
        ),
        "publications": charts.bar_chart(
            title="Unique opens and clickers per publication",
            labels=[p["title"] for p in publications],
            series=[
                charts.Series("Unique opens", [p["unique_opens"] for p in publications], charts.PALETTE[0]),
                charts.Series("Unique clickers", [p["unique_clickers"] for p in publications], charts.PALETTE[2]),
            ],
        ),
        "channels": charts.bar_chart(
            title="Hand-off success rate per channel",
            labels=[c["channel"] for c in channels],
            series=[charts.Series("Success rate", [c["success_rate"] for c in channels], charts.PALETTE[1])],
            percent=True,
            max_value=1.0,
        ),
        "bounces": _rate_chart("Hard bounce rate", labels, values("bounce_rate"), settings.GUARD_BOUNCE_RATE, 2),
        "complaints": _rate_chart("Complaint rate", labels, values("complaint_rate"), settings.GUARD_COMPLAINT_RATE, 4),
        "links": charts.bar_chart(
            title="Top links by human clicks",
            labels=[link["url"] for link in data["links"]],
            series=[charts.Series("Clicks", [link["clicks"] for link in data["links"]], charts.PALETTE[5])],
        ),
    }


def _rate_chart(name: str, labels: list[str], values: list, limit: float, color: int):
    """A daily rate against the guard's limit (a dashed line)."""
    return charts.line_chart(
        title=f"{name} per day",
        labels=labels,
        series=[charts.Series(name, values, charts.PALETTE[color])],
        thresholds=[charts.Threshold("Guard limit", limit)],
        percent=True,
    )
