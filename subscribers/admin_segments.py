"""Admin for segments (a JSON tree editor with a live count and sample) and custom fields.
Every write goes through the services, which check roles and validate."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpResponseNotAllowed, JsonResponse
from django.urls import path, reverse

from core.admin import ServiceErrorAdminMixin
from core.exceptions import ApplicationError
from core.forms import BoundedJSONFormField, form_add_service_errors
from core.roles import Role, user_has_role
from core.safejson import UnsafeJSONError, json_loads_bounded
from subscribers.models import Segment, SubscriberField
from subscribers.segments.rules import MAX_DEPTH, MAX_GROUP_RULES, NODE_TYPES, SUBSCRIBER_FIELDS, segment_rules_validate
from subscribers.services.segments import (
    segment_create,
    segment_delete,
    segment_preview,
    segment_update,
    subscriber_field_create,
    subscriber_field_delete,
    subscriber_field_update,
)


class SegmentAdminForm(forms.ModelForm):
    rules = BoundedJSONFormField(
        widget=forms.Textarea(attrs={"rows": 18, "class": "segment-rules", "spellcheck": "false"}),
        help_text="The filter tree (see the help beside it). The count and sample update as you type.",
    )

    class Meta:
        model = Segment
        fields = ["name", "description", "rules"]

    def clean(self):
        data = super().clean()
        if "rules" in data:
            try:
                segment_rules_validate(data["rules"])
            except ApplicationError as exc:
                paths = exc.extra["fields"]
                form_add_service_errors(
                    self, ApplicationError.for_fields({"rules": [f"{p}: {' '.join(m)}" for p, m in paths.items()]})
                )
        return data


@admin.register(Segment)
class SegmentAdmin(ServiceErrorAdminMixin, admin.ModelAdmin):
    form = SegmentAdminForm
    change_form_template = "admin/subscribers/segment/change_form.html"
    list_display = ["name", "description", "created_by", "updated_at"]
    search_fields = ["name", "description"]
    list_select_related = ["created_by"]

    def has_add_permission(self, request):
        return user_has_role(request.user, Role.EDITOR)

    def has_change_permission(self, request, obj=None):
        return user_has_role(request.user, Role.EDITOR)

    def has_delete_permission(self, request, obj=None):
        return user_has_role(request.user, Role.EDITOR)

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in ("name", "description", "rules")}
        if change:
            self.service_call(segment_update, segment=obj, actor=request.user, **fields)
        else:
            saved = self.service_call(segment_create, actor=request.user, **fields)
            obj.pk, obj._state.adding = saved.pk, False

    def delete_model(self, request, obj):
        self.service_call(segment_delete, segment=obj, actor=request.user)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context.update(
            segment_preview_url=reverse("admin:subscribers_segment_preview"),
            segment_grammar={
                "node_types": NODE_TYPES,
                "subscriber_fields": SUBSCRIBER_FIELDS,
                "custom_fields": list(SubscriberField.objects.values_list("key", "type")),
                "max_depth": MAX_DEPTH,
                "max_group_rules": MAX_GROUP_RULES,
            },
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        extra = [path("preview/", self.admin_site.admin_view(self.preview_view), name="subscribers_segment_preview")]
        return extra + super().get_urls()

    def preview_view(self, request):
        """Count and sample of the tree being edited (unsaved): JSON for segment_editor.js."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        # As in the API (segments/preview): trying unsaved trees is editing, and each is a query
        # over every subscriber. Viewers preview saved segments (GET segments/{id}/preview).
        if not user_has_role(request.user, Role.EDITOR):
            return JsonResponse({"message": "Previewing an unsaved tree needs the editor role."}, status=403)
        try:
            rules = json_loads_bounded(request.POST.get("rules", ""), max_depth=settings.API_MAX_JSON_DEPTH)
        except ValueError as exc:  # not JSON, or JSON beyond the bounds API bodies have (core.safejson)
            message = exc.message if isinstance(exc, UnsafeJSONError) else f"Not JSON: {exc}"
            return JsonResponse({"message": message, "extra": {}}, status=400)
        try:
            return JsonResponse(segment_preview(rules=rules))
        except ApplicationError as exc:
            return JsonResponse({"message": exc.message, "extra": exc.extra}, status=400)


class SubscriberFieldAdminForm(forms.ModelForm):
    class Meta:
        model = SubscriberField
        fields = ["key", "label", "type", "choices", "default", "subscriber_editable", "help_text"]


@admin.register(SubscriberField)
class SubscriberFieldAdmin(ServiceErrorAdminMixin, admin.ModelAdmin):
    form = SubscriberFieldAdminForm
    list_display = ["key", "label", "type", "subscriber_editable", "default"]

    def has_add_permission(self, request):
        return user_has_role(request.user, Role.PUBLISHER)

    def has_change_permission(self, request, obj=None):
        return user_has_role(request.user, Role.PUBLISHER)

    def has_delete_permission(self, request, obj=None):
        return user_has_role(request.user, Role.PUBLISHER)

    def get_readonly_fields(self, request, obj=None):
        return ["key", "type"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        names = [n for n in SubscriberFieldAdminForm.Meta.fields if n in form.cleaned_data]
        fields = {n: form.cleaned_data[n] for n in names if not change or n in form.changed_data}
        try:
            if change:
                subscriber_field_update(field=obj, actor=request.user, **fields)
            else:
                saved = subscriber_field_create(actor=request.user, **fields)
                obj.pk, obj._state.adding = saved.pk, False
        except ApplicationError as exc:
            raise ValidationError(f"{exc.message} {exc.extra.get('fields', '')}".strip()) from exc

    def delete_model(self, request, obj):
        self.service_call(subscriber_field_delete, field=obj, actor=request.user)

    def delete_queryset(self, request, queryset):  # "Delete selected" through the service too
        for field in queryset:
            self.delete_model(request, field)
