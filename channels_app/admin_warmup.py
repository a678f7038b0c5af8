"""Admin for warm-up plans: the schedule as editable text, today's cap and each day's outcome."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join

from channels_app.models import WarmupPlan
from channels_app.services.warmup import warmup_plan_set, warmup_plan_validate, warmup_progress, warmup_summary
from channels_app.warmup_models import default_warmup_schedule
from core.admin import ServiceErrorAdminMixin
from core.exceptions import ApplicationError
from core.forms import form_add_service_errors


class WarmupScheduleField(forms.CharField):
    """Daily caps as text: "50, 100, 200" (commas, spaces or new lines)."""

    def prepare_value(self, value):
        return ", ".join(str(n) for n in value) if isinstance(value, list) else value

    def to_python(self, value):
        text = super().to_python(value)
        try:
            return [int(part) for part in text.replace(",", " ").split()]
        except ValueError:
            raise ValidationError("Whole numbers separated by commas, e.g. 50, 100, 200.") from None


PLAN_FIELDS = ["channel", "from_domain", "status", "schedule", "step", "bounce_threshold", "complaint_threshold"]


class WarmupPlanForm(forms.ModelForm):
    schedule = WarmupScheduleField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Daily caps, first day first (default: 30 days from 50 to 3,000).",
    )

    class Meta:
        model = WarmupPlan
        fields = PLAN_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance.pk:
            self.initial.setdefault("schedule", default_warmup_schedule())

    def clean(self):
        data = super().clean()
        names = ("schedule", "bounce_threshold", "complaint_threshold", "status", "step")
        if all(name in data for name in names):
            errors = warmup_plan_validate(**{name: data[name] for name in names})
            if errors:
                form_add_service_errors(self, ApplicationError.for_fields(errors))
        return data


@admin.register(WarmupPlan)
class WarmupPlanAdmin(ServiceErrorAdminMixin, admin.ModelAdmin):
    form = WarmupPlanForm
    list_display = ["__str__", "channel", "from_domain", "status", "schedule_day", "cap_today", "released_today"]
    list_filter = ["status"]
    list_select_related = ["channel"]
    readonly_fields = ["progress"]

    @admin.display(description="Day")
    def schedule_day(self, obj: WarmupPlan) -> str:
        return f"{obj.step + 1} of {len(obj.schedule)}"

    @admin.display(description="Today's cap")
    def cap_today(self, obj: WarmupPlan):
        return obj.cap if obj.status == WarmupPlan.Status.ACTIVE else "-"

    @admin.display(description="Let out today")
    def released_today(self, obj: WarmupPlan) -> int:
        return warmup_summary(plan=obj)["released_today"]

    @admin.display(description="Progress")
    def progress(self, obj: WarmupPlan):
        if obj is None or obj.pk is None:
            return "-"
        p = warmup_progress(plan=obj)
        days = format_html_join(
            "",
            '<tr><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td>'
            '<td class="num">{}</td><td class="num">{}</td><td>{}</td></tr>',
            (
                (d["day"], d["cap"], d["released"], d["sent"], d["bounced"], d["complained"], d["decision"])
                for d in p["history"]
            ),
        )
        return format_html(
            "<p>Day {} of {}; today's cap {}, let out {}, {} waiting.</p>"
            "<table><tr><th>Day</th><th>Cap</th><th>Let out</th><th>Sent</th><th>Bounced</th><th>Complained</th>"
            "<th>Schedule</th></tr>{}</table>",
            p["day"],
            p["days"],
            p["cap_today"] if p["cap_today"] is not None else "none",
            p["released_today"],
            p["waiting"],
            days,
        )

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in PLAN_FIELDS if name != "channel"}
        try:
            saved = warmup_plan_set(channel=form.cleaned_data["channel"], actor=request.user, data=data)
        except ApplicationError as exc:
            raise ValidationError(f"{exc.message} {exc.extra.get('fields', '')}".strip()) from exc
        obj.pk, obj._state.adding = saved.pk, False
