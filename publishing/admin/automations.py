"""Admin for automations: the step list as an inline (saved through the services, so a changed
draft becomes a new version), previews of the message steps, a test run with a simulated clock,
and who is where (counts per step and the list of subscribers at a step)."""

from __future__ import annotations

from datetime import UTC, datetime

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone as dj_timezone
from django.utils.html import format_html

from core.admin import ServiceErrorAdminMixin, service_error_text
from core.exceptions import ApplicationError
from core.roles import Role, user_has_role
from publishing.automation_models import Automation, AutomationEnrollment, AutomationStep
from publishing.services.automations.definitions import (
    AUTOMATION_FIELDS,
    automation_create,
    automation_update,
    automation_validate,
    step_as_input,
)
from publishing.services.automations.preview import automation_preview
from publishing.services.automations.simulate import automation_simulate
from publishing.services.automations.stats import automation_step_stats, automation_where
from subscribers.models import Subscriber

_FIELDS = list(AUTOMATION_FIELDS)


class StepFormSet(forms.BaseInlineFormSet):
    """Positions 0..n-1 in order; the whole automation checked by the service before saving."""

    def steps(self) -> list[dict]:
        kept = [f.cleaned_data for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        kept.sort(key=lambda data: data.get("position", 0))
        return [{name: data.get(name) for name in step_as_input(AutomationStep())} for data in kept]

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        positions = sorted(
            f.cleaned_data.get("position") for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")
        )
        if positions != list(range(len(positions))):
            raise ValidationError("Number the steps 0, 1, 2... without gaps (branches go to these numbers).")
        parent = self.instance
        try:
            automation_validate(
                name=parent.name,
                trigger=parent.trigger,
                trigger_config=parent.trigger_config,
                steps=self.steps(),
                exclude_pk=parent.pk,
            )
        except ApplicationError as exc:
            raise ValidationError(service_error_text(exc)) from exc


class AutomationStepInline(admin.TabularInline):
    model = AutomationStep
    formset = StepFormSet
    fields = [
        "position", "kind", "template", "wait", "local_time", "segment", "engagement", "topic", "field_key",
        "field_value", "if_true", "if_false",
    ]  # fmt: skip
    extra = 1
    ordering = ["position"]


@admin.register(Automation)
class AutomationAdmin(ServiceErrorAdminMixin, admin.ModelAdmin):
    list_display = ["name", "trigger", "is_active", "version", "in_progress", "updated_at"]
    list_filter = ["trigger", "is_active"]
    search_fields = ["name", "description"]
    fields = [*_FIELDS, "version", "tools"]
    readonly_fields = ["version", "tools"]
    inlines = [AutomationStepInline]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("current_version")

    @admin.display(description="Version")
    def version(self, automation: Automation):
        return automation.current_version.number if automation.current_version else "-"

    @admin.display(description="In progress")
    def in_progress(self, automation: Automation) -> int:
        return automation.enrollments.filter(state=AutomationEnrollment.State.ACTIVE).count()

    @admin.display(description="Tools")
    def tools(self, automation: Automation) -> str:
        if not automation.pk:
            return "Save first."
        links = [(f"admin:publishing_automation_{name}", label) for name, label in _TOOLS]
        return format_html(
            " · ".join(['<a href="{}">{}</a>'] * len(links)),
            *[part for name, label in links for part in (reverse(name, args=[automation.pk]), label)],
        )

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data.get(name) for name in _FIELDS}
        data["trigger_config"] = data["trigger_config"] or {}
        try:
            if change:
                saved = automation_update(actor=request.user, automation=obj, **data)
            else:
                saved = automation_create(actor=request.user, **data)
        except ApplicationError as exc:
            raise ValidationError(service_error_text(exc)) from exc
        obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        """Steps go through the service (a changed draft is a new version), not the formset."""
        form.save_m2m()
        for formset in formsets:
            if isinstance(formset, StepFormSet):
                try:
                    automation_update(
                        actor=request.user,
                        automation=Automation.objects.get(pk=form.instance.pk),
                        steps=formset.steps(),
                    )
                except ApplicationError as exc:
                    raise ValidationError(service_error_text(exc)) from exc
                # What the admin's change message reads (the service saved the steps).
                formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def get_urls(self):
        own = [
            path(f"<int:pk>/{name}/", self.admin_site.admin_view(getattr(self, f"{name.replace('-', '_')}_view")),
                 name=f"publishing_automation_{name}")
            for name, _ in _TOOLS
        ]  # fmt: skip
        return own + super().get_urls()

    def _page(self, request, pk: int, template: str, **context):
        automation = get_object_or_404(Automation.objects.select_related("current_version"), pk=pk)
        if not self.has_view_permission(request, automation):
            raise PermissionDenied
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "automation": automation,
                   "title": f"{automation.name}: {template.replace('_', ' ')}", **context}  # fmt: skip
        return automation, context

    def preview_view(self, request, pk: int):
        automation, context = self._page(request, pk, "preview")
        subscriber = Subscriber.objects.filter(pk=request.GET.get("subscriber") or 0).first()
        context.update(previews=automation_preview(automation=automation, actor=request.user, subscriber=subscriber))
        return TemplateResponse(request, "admin/publishing/automation/preview.html", context)

    def test_run_view(self, request, pk: int):
        automation, context = self._page(request, pk, "test_run")
        form = TestRunForm(request.POST or None)
        if request.method == "POST":
            if not user_has_role(request.user, Role.EDITOR):
                raise PermissionDenied
            if form.is_valid():
                try:
                    context["timeline"] = automation_simulate(
                        actor=request.user,
                        automation=automation,
                        subscriber=form.cleaned_data["subscriber"],
                        start=form.cleaned_data.get("start") or None,
                        engaged=form.cleaned_data["engaged"],
                    )
                except ApplicationError as exc:
                    messages.error(request, service_error_text(exc))
        context["form"] = form
        return TemplateResponse(request, "admin/publishing/automation/test_run.html", context)

    def where_view(self, request, pk: int):
        automation, context = self._page(request, pk, "who_is_where")
        position = request.GET.get("position")
        position = int(position) if position and position.isdigit() else None
        page = Paginator(automation_where(automation=automation, position=position), 50).get_page(
            request.GET.get("page")
        )
        context.update(stats=automation_step_stats(automation=automation), page=page, position=position)
        return TemplateResponse(request, "admin/publishing/automation/where.html", context)


_TOOLS = [("preview", "Preview messages"), ("test-run", "Test run (simulated clock)"), ("where", "Who is where")]


class TestRunForm(forms.Form):
    subscriber = forms.ModelChoiceField(
        queryset=Subscriber.objects.all(), widget=forms.NumberInput, help_text="The subscriber's id."
    )
    start = forms.DateTimeField(required=False, help_text="When they enter (UTC; blank: now).")
    engaged = forms.BooleanField(required=False, help_text="Assume they open and click every message.")

    def clean_start(self) -> datetime | None:
        start = self.cleaned_data.get("start")
        if start is not None and dj_timezone.is_naive(start):
            start = dj_timezone.make_aware(start, UTC)
        return start


@admin.register(AutomationEnrollment)
class AutomationEnrollmentAdmin(admin.ModelAdmin):
    list_display = ["subscriber", "automation", "version", "position", "state", "due_at", "entered_at"]
    list_filter = ["state", "automation"]
    raw_id_fields = ["subscriber", "automation", "version"]
    list_select_related = ["subscriber", "automation", "version"]
    show_full_result_count = False
    readonly_fields = [f.name for f in AutomationEnrollment._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
