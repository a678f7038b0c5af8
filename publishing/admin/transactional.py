"""Admin for transactional messages: templates (saved through the services, each edit of the
text a new version, with a preview) and the messages sent, with their status."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.html import format_html

from channels_app.models import Channel
from core.admin import ServiceErrorAdminMixin, service_error_text
from core.exceptions import ApplicationError
from core.forms import form_add_service_errors
from publishing.services.transactional import (
    message_render,
    message_template_create,
    message_template_update,
    message_template_validate,
)
from publishing.transactional_models import Message, MessageTemplate, MessageTemplateVersion


class MessageTemplateForm(forms.ModelForm):
    subject = forms.CharField(max_length=300, help_text="Merge fields: {{ subscriber.name }}, {{ data.<key> }}.")
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 14}),
        help_text='Markdown. {{ subscriber.first_name|default:"there" }}, {{ data.order }}...',
    )

    class Meta:
        model = MessageTemplate
        fields = ["name", "description", "channel", "subject", "body"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = Channel.objects.filter(kind="email")
        if self.instance.pk:
            self.initial.update(subject=self.instance.subject, body=self.instance.body)

    def clean(self):
        data = super().clean()
        try:
            message_template_validate(
                name=data.get("name", ""),
                channel=data.get("channel"),
                subject=data.get("subject", ""),
                body=data.get("body", ""),
                exclude_pk=self.instance.pk,
            )
        except ApplicationError as exc:
            form_add_service_errors(self, exc)
        return data


class MessageTemplateVersionInline(admin.TabularInline):
    model = MessageTemplateVersion
    fields = ["version", "subject", "created_by", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(MessageTemplate)
class MessageTemplateAdmin(ServiceErrorAdminMixin, admin.ModelAdmin):
    form = MessageTemplateForm
    list_display = ["name", "channel", "current_version", "updated_at"]
    search_fields = ["name", "description"]
    readonly_fields = ["current_version", "preview"]
    inlines = [MessageTemplateVersionInline]

    @admin.display(description="Preview (sample data: each data field shows its name)")
    def preview(self, template: MessageTemplate) -> str:
        if not template.pk or template.current is None:
            return "-"
        sample = _SampleData()
        rendered = message_render(version=template.current, subscriber=None, to="ada@example.com", data=sample)
        subject, html, text = rendered.final()
        return format_html(
            '<p><strong>{}</strong></p><iframe sandbox srcdoc="{}" '
            'style="width:100%;height:300px;border:1px solid #ccc"></iframe><pre>{}</pre>',
            subject,
            html,
            text,
        )

    def save_model(self, request, obj, form, change):
        data = dict(form.cleaned_data)
        try:
            if change:
                saved = message_template_update(actor=request.user, template=obj, **data)
            else:
                saved = message_template_create(actor=request.user, **data)
        except ApplicationError as exc:
            raise ValidationError(service_error_text(exc)) from exc
        obj.pk = saved.pk


class _SampleData(dict):
    def get(self, key, default=None):
        return f"[{key}]"


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["public_id", "to", "template_version", "category", "state", "attempts", "created_at", "sent_at"]
    list_filter = ["state", "category"]
    search_fields = ["public_id", "to", "idempotency_key"]
    list_select_related = ["template_version__template"]
    raw_id_fields = ["subscriber", "template_version", "channel", "created_by"]
    show_full_result_count = False
    readonly_fields = [f.name for f in Message._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
