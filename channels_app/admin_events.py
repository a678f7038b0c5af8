"""Admin for outbound events: webhook endpoints (saved through the services, admin role), and
the delivery log with a replay action. Imported by channels_app.admin."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html

from channels_app.event_models import EventDelivery, EventDeliveryAttempt, EventType, OutboundEvent, WebhookEndpoint
from channels_app.services.event_delivery import event_deliveries_replay
from channels_app.services.events import webhook_endpoint_create, webhook_endpoint_update, webhook_endpoint_validate
from core.admin import ServiceErrorAdminMixin, service_error_text
from core.exceptions import ApplicationError
from core.forms import form_add_service_errors


class WebhookEndpointForm(forms.ModelForm):
    event_types = forms.MultipleChoiceField(choices=EventType.choices, widget=forms.CheckboxSelectMultiple)
    secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="whsec_… (Standard Webhooks). Blank: keep the current one (a new endpoint gets a generated one, "
        "shown once after saving).",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["name", "url", "event_types", "secret", "is_active"]

    def clean(self):
        data = super().clean()
        try:
            webhook_endpoint_validate(
                name=data.get("name", ""),
                url=data.get("url", ""),
                event_types=list(data.get("event_types") or []),
                secret=data.get("secret") or None,
                exclude_pk=self.instance.pk,
            )
        except ApplicationError as exc:
            form_add_service_errors(self, exc)
        return data


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ServiceErrorAdminMixin, admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["name", "url", "is_active", "circuit_state", "types", "updated_at"]
    list_filter = ["is_active", "circuit_state"]
    search_fields = ["name", "url"]
    readonly_fields = ["disabled_reason", "circuit_state", "circuit_opened_at", "circuit_reason", "log_link"]

    @admin.display(description="Event types")
    def types(self, endpoint: WebhookEndpoint) -> str:
        return ", ".join(endpoint.event_types)

    @admin.display(description="Delivery log")
    def log_link(self, endpoint: WebhookEndpoint) -> str:
        if not endpoint.pk:
            return "-"
        return format_html('<a href="../../../eventdelivery/?endpoint__id__exact={}">Deliveries</a>', endpoint.pk)

    def save_model(self, request, obj, form, change):
        data = dict(form.cleaned_data)
        data["event_types"] = list(data["event_types"])
        secret = data.pop("secret") or None
        try:
            if change:
                saved = webhook_endpoint_update(
                    actor=request.user, endpoint=obj, **data, **({"secret": secret} if secret else {})
                )
            else:
                saved = webhook_endpoint_create(actor=request.user, secret=secret, **data)
                if not secret:
                    self.message_user(
                        request, f"Signing secret (shown once, store it now): {saved.secret}", messages.WARNING
                    )
        except ApplicationError as exc:
            raise ValidationError(service_error_text(exc)) from exc
        obj.pk = saved.pk


class EventDeliveryAttemptInline(admin.TabularInline):
    model = EventDeliveryAttempt
    fields = ["attempted_at", "ok", "status_code", "error"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["-pk"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(EventDelivery)
class EventDeliveryAdmin(admin.ModelAdmin):
    """The delivery log of outbound events: what each endpoint got, when, and what it answered."""

    list_display = ["id", "endpoint", "event_type", "event_public_id", "state", "attempts", "last_status", "updated_at"]
    list_filter = ["state", "endpoint", "event__type"]
    search_fields = ["event__public_id", "ordering_key"]
    list_select_related = ["endpoint", "event"]
    raw_id_fields = ["event"]
    readonly_fields = [
        "endpoint",
        "event",
        "ordering_key",
        "state",
        "attempts",
        "next_attempt_at",
        "last_status",
        "last_error",
        "delivered_at",
        "created_at",
        "updated_at",
        "payload",
    ]
    exclude = ["lease_expires_at"]
    inlines = [EventDeliveryAttemptInline]
    show_full_result_count = False
    list_per_page = 100
    actions = ["replay"]

    @admin.display(description="Type")
    def event_type(self, delivery: EventDelivery) -> str:
        return delivery.event.type

    @admin.display(description="Event id (webhook-id)")
    def event_public_id(self, delivery: EventDelivery) -> str:
        return delivery.event.public_id

    @admin.display(description="Body")
    def payload(self, delivery: EventDelivery) -> str:
        import json

        return format_html("<pre>{}</pre>", json.dumps(delivery.event.payload, indent=2, sort_keys=True))

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Replay selected deliveries (same webhook-id)", permissions=["change"])
    def replay(self, request, queryset):
        try:
            count = event_deliveries_replay(deliveries=queryset, actor=request.user)
        except ApplicationError as exc:
            self.message_user(request, service_error_text(exc), messages.ERROR)
            return
        self.message_user(request, f"{count} deliveries queued again.")


@admin.register(OutboundEvent)
class OutboundEventAdmin(admin.ModelAdmin):
    list_display = ["public_id", "type", "subscriber_id", "created_at"]
    list_filter = ["type"]
    search_fields = ["public_id"]
    readonly_fields = ["public_id", "type", "subscriber_id", "dedupe_key", "payload", "created_at"]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
