from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from channels_app.adapters import ADAPTERS
from channels_app.adapters.base import ChannelAdapter
from channels_app.admin_forms import MODEL_FIELDS, adapter_requested, channel_admin_form, channel_fieldsets
from channels_app.forms import ChannelTestForm
from channels_app.models import Channel, DeadLetter, Delivery, Send, TestRecipient
from channels_app.services.channels import channel_circuit_reset, channel_create, channel_enable, channel_update
from channels_app.services.routing import channel_referrers
from channels_app.services.sends import deliveries_requeue, send_cancel, send_pause, send_progress, send_resume
from channels_app.services.testsend import (
    TestSendResult,
    channel_test_send,
    testrecipient_add,
    testrecipient_clean,
)
from core.admin import ServiceErrorAdminMixin, service_error_text
from core.admin_lists import FastChangeListMixin
from core.exceptions import ApplicationError
from core.forms import form_add_service_errors


@admin.register(Channel)
class ChannelAdmin(ServiceErrorAdminMixin, admin.ModelAdmin):
    """Adding starts by choosing a kind (the registry's); the form then holds that kind's
    declared settings (channels_app.admin_forms), and saving goes through the services."""

    list_display = [
        "name",
        "kind",
        "audience",
        "is_default",
        "is_active",
        "circuit_state",
        "rate_limit_per_second",
        "target_rate_per_second",
    ]
    list_filter = ["kind", "audience", "is_active", "circuit_state"]
    search_fields = ["name"]
    filter_horizontal = ["topics"]
    readonly_fields = [
        "test_button",
        "feedback_webhook",
        "is_active",
        "disabled_reason",
        "disabled_at",
        "circuit_state",
        "circuit_opened_at",
        "circuit_reason",
        "created_at",
        "updated_at",
    ]
    actions = ["enable_channels", "reset_circuits"]

    def add_view(self, request, form_url="", extra_context=None):
        if adapter_requested(request, None) is None:
            return self._choose_kind(request)
        return super().add_view(request, form_url, extra_context)

    def _choose_kind(self, request):
        kinds = [
            {"kind": kind, "label": a.label, "description": a.description, "docs_url": a.docs_url}
            for kind, a in ADAPTERS.items()
        ]
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "kinds": kinds}
        context["title"] = "Add channel: choose its kind"
        return TemplateResponse(request, "admin/channels_app/channel/choose_kind.html", context)

    def get_fieldsets(self, request, obj=None):
        adapter = adapter_requested(request, obj)
        readonly = [] if obj is None else self.readonly_fields
        if adapter is None:  # a channel of a kind no longer registered: its status only
            return [(None, {"fields": ["name", "kind", *readonly]})]
        return channel_fieldsets(adapter, readonly=readonly, config=obj.config if obj is not None else None)

    def get_form(self, request, obj=None, change=False, **kwargs):
        adapter = adapter_requested(request, obj)
        if adapter is not None:
            kwargs["form"] = channel_admin_form(adapter, change=obj is not None)
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "kind"] if obj else self.readonly_fields

    def get_deleted_objects(self, objs, request):
        """Channels another one still fails over or routes to are listed as protected (not deleted)."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        for channel in objs:
            protected += [f"{channel.name}: {reason}" for reason in channel_referrers(channel)]
        return deleted, counts, perms_needed, protected

    def save_model(self, request, obj, form, change):
        data = {
            name: form.cleaned_data[name] for name in form.changed_data if name in MODEL_FIELDS and name != "topics"
        }
        config, credentials = form.cleaned_data["config"], form.cleaned_data["credentials"]
        try:
            if change:
                fields = {k: v for k, v in data.items() if k != "kind"}
                channel_update(channel=obj, credentials=credentials, config=config, **fields)
            else:
                values = {**_field_values(obj), **data, "kind": form.adapter.kind, "config": config}
                created = channel_create(credentials=credentials, **values)
                obj.pk, obj.updated_at = created.pk, created.updated_at
        except ApplicationError as exc:
            # The form's clean() runs the same validation, so this is a race (another default
            # channel, a name taken meanwhile); changeform_view shows it as a message, exactly.
            fields = exc.extra.get("fields") or {}
            raise ValidationError(
                [f"{name}: {' '.join(errors)}" for name, errors in fields.items()] or exc.message
            ) from exc

    @admin.display(description="Feedback webhook URL")
    def feedback_webhook(self, obj):
        # Email channels on Postmark, SendGrid, Mailgun or Brevo: the URL to give the ESP.
        adapter = ADAPTERS.get(obj.kind)
        return (adapter.feedback_webhook(obj.config or {}, obj.pk) if adapter else "") or "—"

    @admin.display(description="Test")
    def test_button(self, obj):
        # A submit button of the change form itself, posted (with its CSRF token) to the test view.
        url = reverse("admin:channels_app_channel_test", args=[obj.pk])
        return format_html(
            '<input type="text" name="test_recipients" aria-label="Test recipients" size="30" placeholder="{}"> '
            '<button type="submit" class="button" formaction="{}" formmethod="post">Send test</button> '
            '<span class="help">{}</span>',
            _test_placeholder(obj),
            url,
            "Through the real provider, marked as a test. Recipients: your own email or Test recipients; "
            "a broadcast channel posts to its destination.",
        )

    def get_urls(self):
        extra = [
            path("<int:pk>/test/", self.admin_site.admin_view(self.send_test_view), name="channels_app_channel_test")
        ]
        return extra + super().get_urls()

    def send_test_view(self, request, pk: int):
        """POST only (CSRF-checked by the admin): a test sends real messages."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        channel = get_object_or_404(Channel, pk=pk)
        form = ChannelTestForm(request.POST)
        if not form.is_valid():
            self.message_user(request, f"Test not sent: {form.errors.as_text()}", messages.ERROR)
            return redirect("admin:channels_app_channel_change", pk)
        try:
            results = channel_test_send(
                channel=channel, actor=request.user, recipients=form.cleaned_data["test_recipients"]
            )
        except ApplicationError as exc:
            self.message_user(request, f"Test not sent: {service_error_text(exc)}", messages.ERROR)
        else:
            testsend_results_report(self, request, channel, results)
        return redirect("admin:channels_app_channel_change", pk)

    # Actions are POSTs with CSRF (Django admin); `permissions` keeps them from view-only roles
    # and the services check the role again.
    @admin.action(description="Enable (and close the circuit of) selected channels", permissions=["change"])
    def enable_channels(self, request, queryset):
        for channel in queryset:
            channel_enable(channel=channel, actor=request.user)
        self.message_user(request, f"{queryset.count()} channel(s) enabled.")

    @admin.action(description="Reset the circuit breaker of selected channels", permissions=["change"])
    def reset_circuits(self, request, queryset):
        for channel in queryset:
            channel_circuit_reset(channel=channel, actor=request.user)
        self.message_user(request, f"{queryset.count()} circuit(s) closed.")


def _test_placeholder(channel: Channel) -> str:
    if channel.audience == Channel.Audience.BROADCAST:
        return "(posts to its own destination)"
    adapter = ADAPTERS.get(channel.kind)
    has_own = adapter is not None and adapter.own_address.__func__ is not ChannelAdapter.own_address.__func__
    return f"blank: your own {adapter.label.lower()}" if has_own else "from the test recipient allow-list"


def testsend_results_report(
    model_admin: admin.ModelAdmin, request, channel: Channel, results: list[TestSendResult]
) -> None:
    """One admin message per test message: the provider's confirmation or its exact error."""
    for result in results:
        target = result.recipient or channel.name
        if result.ok:
            model_admin.message_user(
                request, f"Test sent to {target} through {channel.name}: {result.provider_message_id}"
            )
        else:
            model_admin.message_user(
                request, f"{channel.name} refused the test to {target}: {result.error}", messages.ERROR
            )


def _field_values(obj: Channel) -> dict:
    return {name: getattr(obj, name) for name in MODEL_FIELDS if name != "topics"}


@admin.register(Send)
class SendAdmin(admin.ModelAdmin):
    list_display = ["__str__", "kind", "status", "audience_size", "high_priority", "created_at", "finished_at"]
    list_filter = ["kind", "status", "high_priority"]
    search_fields = ["key", "subject"]
    raw_id_fields = ["publication", "created_by"]
    readonly_fields = [
        "progress",
        "key",
        "kind",
        "status",
        "paused_reason",
        "audience_size",
        "audience_ready",
        "created_at",
        "started_at",
        "finished_at",
    ]
    exclude = ["content", "audience"]
    actions = ["pause", "resume", "cancel", "requeue_dead"]

    def has_delete_permission(self, request, obj=None) -> bool:
        # A send is the record of what went out (its deliveries, events, statistics). Cancel
        # stops it; retention drops whole months. Deleting one from the admin would list and
        # cascade its deliveries in this process, up to millions of rows for one newsletter.
        return False

    @admin.display(description="Deliveries by state (live)")
    def progress(self, obj):
        counts = send_progress(send=obj)
        return ", ".join(f"{state}: {count}" for state, count in counts.items() if count or state == "total")

    @admin.action(description="Pause selected sends", permissions=["change"])
    def pause(self, request, queryset):
        user = request.user
        self._each(request, queryset, lambda s: send_pause(send=s, reason=f"paused by {user}", actor=user))

    @admin.action(description="Resume selected sends", permissions=["change"])
    def resume(self, request, queryset):
        self._each(request, queryset, lambda s: send_resume(send=s, actor=request.user))

    @admin.action(description="Cancel selected sends", permissions=["change"])
    def cancel(self, request, queryset):
        user = request.user
        self._each(request, queryset, lambda s: send_cancel(send=s, reason=f"cancelled by {user}", actor=user))

    @admin.action(description="Requeue dead and failed deliveries of selected sends", permissions=["change"])
    def requeue_dead(self, request, queryset):
        count = deliveries_requeue(deliveries=Delivery.objects.filter(send__in=queryset), actor=request.user)
        self.message_user(request, f"{count} deliveries requeued.")

    def _each(self, request, queryset, operation):
        for send in queryset:
            try:
                operation(send)
            except ApplicationError as exc:
                self.message_user(request, f"{send}: {exc.message}", messages.WARNING)


@admin.register(Delivery)
class DeliveryAdmin(FastChangeListMixin, admin.ModelAdmin):
    # What an operator looks for first comes first; long texts are cut to fit (css/admin.css).
    list_display = ["id", "state", "attempts", "last_error", "recipient", "channel", "sent_via", "send", "updated_at"]
    list_filter = ["state", "channel", "sent_via"]
    # Tens of millions of rows: indexed searches only (core/admin_lists.py).
    search_fields = ["provider_message_id"]
    search_help_text = "A delivery number, or the provider's message id."
    raw_id_fields = ["send", "subscriber", "sent_via"]
    list_select_related = ["send", "channel", "sent_via"]
    readonly_fields = ["created_at", "updated_at", "sent_at", "lease_expires_at"]
    list_per_page = 100
    actions = ["requeue"]

    def indexed_search(self, queryset, term: str):
        if term.lstrip("#").isdigit():
            return queryset.filter(pk=int(term.lstrip("#")))
        return queryset.filter(provider_message_id=term)  # delivery_provider_id

    def get_queryset(self, request):
        return super().get_queryset(request).defer("context")

    @admin.action(description="Requeue selected dead or failed deliveries", permissions=["change"])
    def requeue(self, request, queryset):
        count = deliveries_requeue(deliveries=queryset, actor=request.user)
        self.message_user(request, f"{count} deliveries requeued.")


@admin.register(DeadLetter)
class DeadLetterAdmin(DeliveryAdmin):
    """Deliveries that exhausted their attempts: the reason, and a requeue action."""

    list_display = ["id", "attempts", "last_error", "recipient", "channel", "send", "updated_at"]
    list_filter = ["channel", "send__kind"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(state=Delivery.State.DEAD)

    def has_add_permission(self, request):
        return False


class TestRecipientForm(forms.ModelForm):
    class Meta:
        model = TestRecipient
        fields = ["kind", "address", "note"]

    def clean(self):
        data = super().clean()
        try:
            testrecipient_clean(kind=data.get("kind", ""), address=data.get("address", ""))
        except ApplicationError as exc:
            form_add_service_errors(self, exc)
        return data


@admin.register(TestRecipient)
class TestRecipientAdmin(ServiceErrorAdminMixin, admin.ModelAdmin):
    """The allow-list of test sends: who may get a test besides the requesting user (admin role)."""

    form = TestRecipientForm
    list_display = ["address", "kind", "note", "created_by", "created_at"]
    list_filter = ["kind"]
    search_fields = ["address", "note"]
    list_select_related = ["created_by"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # add or delete; an entry is never edited into another address

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            saved = testrecipient_add(kind=data["kind"], address=data["address"], note=data["note"], actor=request.user)
        except ApplicationError as exc:
            raise ValidationError(service_error_text(exc)) from exc
        obj.pk, obj.address, obj.created_by = saved.pk, saved.address, saved.created_by


# Imported for their registrations: outbound events; warm-up plans of sending identities; domain
# health and mailbox providers.
from channels_app import admin_deliverability, admin_events, admin_warmup  # noqa: E402, F401
