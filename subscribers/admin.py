"""Admin for subscribers: every change with consequences goes through subscribers.services."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from core.admin import ServiceErrorAdminMixin, service_error_text
from core.admin_lists import FastChangeListMixin, LanguageListFilter
from core.exceptions import ApplicationError
from core.forms import form_add_service_errors
from core.roles import Role, user_has_role
from subscribers.exports import CsvExportAdminMixin
from subscribers.models import (
    ConsentRecord,
    ImportJob,
    Subscriber,
    Subscription,
    Suppression,
    Topic,
    email_hash,
)
from subscribers.services import (
    ConsentContext,
    SubscriptionChoice,
    import_job_create,
    subscriber_erase,
    subscriber_preferences_update,
    subscriber_subscribe,
    subscriber_unsubscribe,
    suppression_add,
    suppression_remove,
)
from subscribers.services.preferences import PREFERENCE_FIELDS
from subscribers.services.topics import topic_delete, topic_update
from subscribers.validators import email_normalize, validate_timezone


def _admin_context(request) -> ConsentContext:
    return ConsentContext(method=ConsentRecord.Method.ADMIN, source="admin", actor=request.user)


class TopicAdminForm(forms.ModelForm):
    class Meta:
        model = Topic
        fields = [
            "slug",
            "name",
            "description",
            "is_public",
            "tracking_enabled",
            "digest_segment",
            "quiet_hours_start",
            "quiet_hours_end",
            "quiet_hours_bypass_alerts",
        ]

    def clean(self):
        from publishing.services.quiet_hours import quiet_hours_errors

        data = super().clean()
        for name, errors in quiet_hours_errors(data).items():
            self.add_error(name, errors)
        return data


@admin.register(Topic)
class TopicAdmin(ServiceErrorAdminMixin, CsvExportAdminMixin, admin.ModelAdmin):
    form = TopicAdminForm
    list_display = ["name", "slug", "is_public", "created_at"]
    list_filter = ["is_public"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    actions = ["export_selected_csv"]

    def save_model(self, request, obj, form, change):
        if not change:
            super().save_model(request, obj, form, change)
            return
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        self.service_call(topic_update, topic=obj, actor=request.user, **changes)  # carries a new slug into segments

    def delete_model(self, request, obj):
        self.service_call(topic_delete, topic=obj, actor=request.user)

    def delete_queryset(self, request, queryset):  # one refusal keeps every selected topic (response_action)
        for topic in queryset:
            self.delete_model(request, topic)


class SubscriptionInline(admin.TabularInline):
    """Edited here, saved by the preference service (SubscriberAdmin.save_related), which
    validates and writes a consent record. A subscription is turned off, never deleted."""

    model = Subscription
    extra = 0
    autocomplete_fields = ["topic"]
    can_delete = False


class ConsentRecordInline(admin.TabularInline):
    model = ConsentRecord
    extra = 0
    can_delete = False
    readonly_fields = ["action", "method", "source", "ip_address", "user_agent", "wording", "actor", "created_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class SubscriberAdminForm(forms.ModelForm):
    class Meta:
        model = Subscriber
        fields = ["email", "timezone"]  # ModelAdmin passes the full list (get_fields)

    def clean_email(self):
        try:
            email = email_normalize(self.cleaned_data["email"])
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages)
        blocked = Suppression.objects.filter(email_hash=email_hash(email)).exclude(
            reason=Suppression.Reason.UNSUBSCRIBED
        )
        if blocked.exists():
            raise forms.ValidationError(
                "This address is on the suppression list (bounce, complaint, block or erasure)."
            )
        return email

    def clean_timezone(self):
        value = self.cleaned_data["timezone"]
        try:
            validate_timezone(value)
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages)
        return value


@admin.register(Subscriber)
class SubscriberAdmin(FastChangeListMixin, ServiceErrorAdminMixin, CsvExportAdminMixin, admin.ModelAdmin):
    form = SubscriberAdminForm
    change_list_template = "admin/subscribers/subscriber/change_list.html"
    list_display = [
        "email",
        "name",
        "status",
        "timezone",
        "engagement_score",
        "engagement_tier",
        "created_at",
        "confirmed_at",
    ]
    # No filter whose choices come from a DISTINCT over the table (source is free text).
    list_filter = ["status", LanguageListFilter, "created_at", "subscriptions__topic"]
    # A million rows: only indexed searches (core/admin_lists.py), and no date hierarchy (its
    # year links are a DISTINCT over the whole table); the created_at filter covers it.
    search_fields = ["email"]
    search_help_text = "A whole email address, or a subscriber number."
    readonly_fields = [
        "status",
        "source",
        "created_at",
        "updated_at",
        "confirmed_at",
        "unsubscribed_at",
        "last_confirmation_sent_at",
        "engagement_score",
        "engagement_tier",
        "token_version",
    ]
    inlines = [SubscriptionInline, ConsentRecordInline]
    list_per_page = 100

    def indexed_search(self, queryset, term: str):
        if term.lstrip("#").isdigit():
            return queryset.filter(pk=int(term.lstrip("#")))
        return queryset.filter(email__lower=term.lower()) if "@" in term else None  # subscriber_email_ci_unique

    actions = ["export_selected_csv", "unsubscribe_selected", "erase_selected"]
    csv_export_fields = [
        "id",
        "email",
        "name",
        "status",
        "timezone",
        "locale",
        "source",
        "topics",
        "attributes",
        "created_at",
        "confirmed_at",
        "unsubscribed_at",
    ]
    # Adding someone goes through double opt-in: the admin types an address, they confirm.
    add_fields = ["email", "name", "timezone", "locale"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("subscriptions__topic")

    def get_fields(self, request, obj=None):
        return self.add_fields if obj is None else super().get_fields(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else [*self.readonly_fields, "email"]

    def get_inlines(self, request, obj):
        return [] if obj is None else self.inlines

    def save_model(self, request, obj, form, change):
        if change:
            return  # saved with the subscriptions, through the preference service (save_related)
        data = form.cleaned_data
        subscriber = subscriber_subscribe(
            email=data["email"],
            profile={k: data[k] for k in ("name", "timezone", "locale")},
            context=_admin_context(request),
        )
        obj.pk = subscriber.pk
        messages.info(request, f"A confirmation email is on its way to {subscriber.email}.")
        return

    def save_related(self, request, form, formsets, change):
        """Profile and subscription edits in one call of the preference service: validated as a
        whole, written with a consent record naming the admin, or not at all."""
        if not change:
            return super().save_related(request, form, formsets, change)
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in PREFERENCE_FIELDS}
        choices = [choice for formset in formsets for choice in _subscription_choices(formset)]
        try:
            subscriber_preferences_update(
                subscriber=form.instance, context=_admin_context(request), changes=changes, subscriptions=choices
            )
        except ApplicationError as exc:
            raise ValidationError(service_error_text(exc)) from exc
        for formset in formsets:  # what formset.save() would have noted, for the admin's history
            formset.new_objects = [f.instance for f in formset.extra_forms if f.has_changed()]
            formset.changed_objects = [(f.instance, f.changed_data) for f in formset.initial_forms if f.has_changed()]
            formset.deleted_objects = []
        return None

    def csv_export_row(self, obj, fields):
        topics = ";".join(sorted(s.topic.slug for s in obj.subscriptions.all() if s.frequency != "off"))
        values = {"topics": topics}
        return [values[name] if name in values else getattr(obj, name) for name in fields]

    @admin.action(description="Unsubscribe selected from everything", permissions=["change"])
    def unsubscribe_selected(self, request, queryset):
        changed = sum(subscriber_unsubscribe(subscriber=s, context=_admin_context(request)).changed for s in queryset)
        self.message_user(request, f"{changed} subscriber(s) unsubscribed and suppressed.", messages.SUCCESS)

    def has_erase_permission(self, request) -> bool:
        return user_has_role(request.user, Role.ADMIN)

    @admin.action(
        description="Erase selected (GDPR): delete personal data, keep a suppression hash", permissions=["erase"]
    )
    def erase_selected(self, request, queryset):
        if request.POST.get("confirm") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": "Erase personal data?",
                "subscribers": queryset[:200],
                "count": queryset.count(),
                "opts": self.model._meta,
                "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
            }
            return TemplateResponse(request, "admin/subscribers/subscriber/erase_confirmation.html", context)
        deliveries = sum(subscriber_erase(subscriber=s, actor=request.user) for s in queryset)
        self.message_user(
            request,
            f"Erased {len(queryset)} subscriber(s); {deliveries} deliveries anonymised. "
            "Their addresses stay suppressed.",
            messages.SUCCESS,
        )
        return None


def _subscription_choices(formset) -> list[SubscriptionChoice]:
    """What the subscription inline asks for, as the preference service takes it. A row moved to
    another topic or kind turns the old one off."""
    if formset.model is not Subscription:
        return []
    choices = []
    for form in formset.forms:
        if not form.has_changed():
            continue
        data = form.cleaned_data
        if form.instance.pk and {"topic", "channel_kind"} & set(form.changed_data):
            old = Topic.objects.get(pk=form.initial["topic"])
            choices.append(SubscriptionChoice(old, form.initial["channel_kind"], Subscription.Frequency.OFF))
        choices.append(SubscriptionChoice(data["topic"], data["channel_kind"], data["frequency"]))
    return choices


@admin.register(Subscription)
class SubscriptionAdmin(ServiceErrorAdminMixin, CsvExportAdminMixin, admin.ModelAdmin):
    """Saved through the preference service, like the subscriber page's inline."""

    list_display = ["subscriber", "topic", "channel_kind", "frequency", "updated_at"]
    list_filter = ["channel_kind", "frequency", "topic"]
    search_fields = ["subscriber__email"]
    raw_id_fields = ["subscriber"]
    list_select_related = ["subscriber", "topic"]
    show_full_result_count = False
    actions = ["export_selected_csv"]

    def get_readonly_fields(self, request, obj=None):
        return ["subscriber", "topic", "channel_kind"] if obj else []

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # turned off (frequency), never deleted: the history stays

    def save_model(self, request, obj, form, change):
        choice = SubscriptionChoice(obj.topic, obj.channel_kind, obj.frequency)
        try:
            subscriber_preferences_update(
                subscriber=obj.subscriber, context=_admin_context(request), subscriptions=[choice]
            )
        except ApplicationError as exc:
            raise ValidationError(service_error_text(exc)) from exc
        saved = Subscription.objects.get(subscriber=obj.subscriber, topic=obj.topic, channel_kind=obj.channel_kind)
        obj.pk, obj.created_at, obj.updated_at = saved.pk, saved.created_at, saved.updated_at


@admin.register(ConsentRecord)
class ConsentRecordAdmin(CsvExportAdminMixin, admin.ModelAdmin):
    list_display = ["subscriber", "action", "method", "source", "ip_address", "created_at"]
    list_filter = ["action", "method", "created_at"]
    search_fields = ["subscriber__email", "source"]
    raw_id_fields = ["subscriber", "actor"]
    list_select_related = ["subscriber"]
    show_full_result_count = False
    actions = ["export_selected_csv"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # proof of consent is never edited


class SuppressionAddForm(forms.ModelForm):
    reason = forms.ChoiceField(
        choices=[c for c in Suppression.Reason.choices if c[0] != Suppression.Reason.ERASED],
        help_text="Erasure is done from the subscriber (GDPR action), not here.",
    )

    class Meta:
        model = Suppression
        fields = ["email", "reason", "note"]

    def clean_email(self):
        try:
            return email_normalize(self.cleaned_data["email"])
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages)


class SuppressionRemoveForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        required=False,
        help_text="Why these addresses may be mailed again. Required for hard bounces, complaints and erasures.",
    )


@admin.register(Suppression)
class SuppressionAdmin(CsvExportAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "reason", "note", "created_by", "created_at"]
    list_filter = ["reason", "created_at"]
    search_fields = ["email", "email_hash", "note"]
    readonly_fields = ["email", "email_hash", "reason", "note", "created_by", "created_at"]
    list_select_related = ["created_by"]
    actions = ["export_selected_csv", "remove_selected"]
    show_full_result_count = False

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = SuppressionAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return ["email_hash", "created_by", "created_at"] if obj is None else self.readonly_fields

    def get_fields(self, request, obj=None):
        return ["email", "reason", "note"] if obj is None else self.readonly_fields

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # entries are added or removed (with a reason), never edited

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # removal goes through the "remove" action, which asks for a note

    def has_remove_permission(self, request) -> bool:
        return request.user.has_perm("subscribers.delete_suppression")

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        entry = suppression_add(email=data["email"], reason=data["reason"], note=data["note"], actor=request.user)
        obj.pk, obj.email, obj.email_hash = entry.pk, entry.email, entry.email_hash

    @admin.action(description="Remove selected from the suppression list…", permissions=["remove"])
    def remove_selected(self, request, queryset):
        form = SuppressionRemoveForm(request.POST if "confirm" in request.POST else None)
        if form.is_bound and form.is_valid():
            try:
                for entry in queryset:
                    suppression_remove(suppression=entry, actor=request.user, note=form.cleaned_data["note"])
            except ApplicationError as exc:
                form_add_service_errors(form, exc)
            else:
                self.message_user(request, f"Removed {len(queryset)} suppression(s).", messages.SUCCESS)
                return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Remove from the suppression list",
            "entries": queryset,
            "form": form,
            "opts": self.model._meta,
            "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
        }
        return TemplateResponse(request, "admin/subscribers/suppression/remove_confirmation.html", context)


class ImportUploadForm(forms.Form):
    file = forms.FileField(help_text="CSV, UTF-8, with a header: email, name, topics, any other column → attributes.")
    topics = forms.ModelMultipleChoiceField(
        queryset=Topic.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Added to every row (besides the row's own topics column).",
    )
    column_map = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Columns to import into custom fields not named like them, one per line: Column name = field_key. "
        "Columns named like a custom field's key or label are typed automatically; type errors are reported per row.",
    )

    def clean_column_map(self) -> dict[str, str]:
        pairs = [line.split("=", 1) for line in self.cleaned_data["column_map"].splitlines() if line.strip()]
        if any(len(pair) != 2 for pair in pairs):
            raise forms.ValidationError("One “Column name = field_key” per line.")
        return {column.strip(): key.strip() for column, key in pairs}


@admin.register(ImportJob)
class ImportJobAdmin(CsvExportAdminMixin, admin.ModelAdmin):
    list_display = [
        "__str__",
        "status",
        "progress",
        "total_rows",
        "created_count",
        "updated_count",
        "skipped_count",
        "duplicate_count",
        "error_count",
        "created_by",
        "created_at",
    ]
    list_filter = ["status", "created_at"]
    search_fields = ["filename"]
    fields = [
        "filename",
        "status",
        "progress",
        "message",
        "topics",
        "total_rows",
        "processed_rows",
        "created_count",
        "updated_count",
        "unchanged_count",
        "skipped_count",
        "duplicate_count",
        "error_count",
        "report",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    ]
    readonly_fields = fields
    change_form_template = "admin/subscribers/importjob/change_form.html"
    csv_export_fields = ["id", "filename", "status", "total_rows", "created_count", "error_count", "created_at"]
    actions = ["export_selected_csv"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("source", "error_report").select_related("created_by")

    def has_add_permission(self, request) -> bool:
        return request.user.has_perm("subscribers.add_subscriber")

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Progress")
    def progress(self, obj: ImportJob):
        return format_html(
            '<progress max="100" value="{}" aria-label="Import progress">{}%</progress> {}%',
            obj.progress_percent,
            obj.progress_percent,
            obj.progress_percent,
        )

    @admin.display(description="Report")
    def report(self, obj: ImportJob):
        if not obj.error_count and not obj.duplicate_count and not obj.skipped_count:
            return "—"
        url = reverse("admin:subscribers_importjob_report", args=[obj.pk])
        return format_html('<a href="{}">Download the row report (CSV)</a>', url)

    def get_urls(self):
        extra = [
            path(
                "<int:pk>/report.csv", self.admin_site.admin_view(self.report_view), name="subscribers_importjob_report"
            ),
        ]
        return [*extra, *super().get_urls()]

    def report_view(self, request, pk: int) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = get_object_or_404(ImportJob.objects.only("error_report", "filename"), pk=pk)
        response = HttpResponse("\ufeff" + job.error_report, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="import-{pk}-report.csv"'
        return response

    def add_view(self, request, form_url="", extra_context=None):
        """The upload page: checks the file at once, then imports it in the background."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ImportUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            job = self._job_from_upload(request, form, upload)
            if job is not None:
                self.message_user(request, f"Importing {job.filename} in the background.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:subscribers_importjob_change", args=[job.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": "Import subscribers from CSV",
            "form": form,
            "opts": self.model._meta,
            "max_mb": _max_upload_mb(),
        }
        return TemplateResponse(request, "admin/subscribers/importjob/upload.html", context)

    def _job_from_upload(self, request, form, upload) -> ImportJob | None:
        if upload.size > settings.SUBSCRIBERS_IMPORT_MAX_BYTES:
            form.add_error("file", f"The file is {upload.size / 1e6:.1f} MB; the limit is {_max_upload_mb()} MB.")
            return None
        try:
            return import_job_create(
                filename=upload.name,
                content=upload.read(),
                topics=list(form.cleaned_data["topics"]),
                actor=request.user,
                column_map=form.cleaned_data["column_map"],
            )
        except ApplicationError as exc:
            for name, messages_ in exc.extra.get("fields", {}).items():
                form.add_error("column_map" if name == "column_map" else "file", messages_)
            return None


def _max_upload_mb() -> str:
    return f"{settings.SUBSCRIBERS_IMPORT_MAX_BYTES / 1e6:.1f}"


from subscribers import admin_segments  # noqa: E402,F401  (registers Segment and SubscriberField)
