"""Compose, preview, test-send and publish in admin. Every change goes through the services,
which enforce the roles (editors draft and submit; publishers approve, schedule, publish)."""

from __future__ import annotations

from datetime import UTC

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseNotAllowed, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from channels_app.adapters import ADAPTERS
from channels_app.admin import testsend_results_report
from channels_app.models import Channel
from core.admin import ServiceErrorAdminMixin, service_error_text
from core.clock import clock
from core.exceptions import ApplicationError
from core.roles import Role, user_has_role
from publishing.admin.extras import PublicationExtrasMixin
from publishing.admin.forms import PublicationAdminForm, PublishForm, TestSendForm
from publishing.markup import body_problems
from publishing.models import Publication
from publishing.selectors import (
    publication_audience_of,
    publication_checks_overrides,
    publication_merge_warnings,
    publication_stats,
)
from publishing.services.abtests import abtest_configure
from publishing.services.checks import publication_checks
from publishing.services.checks.gate import OVERRIDE_FIELD
from publishing.services.overlap import overlap_rows
from publishing.services.publish import publication_publish
from publishing.services.rendering import archive_url, publication_preview
from publishing.services.states import (
    EDITABLE_FIELDS,
    EDITOR_STATES,
    publication_archive,
    publication_create,
    publication_delete,
    publication_return_to_draft,
    publication_submit,
    publication_update,
)
from publishing.services.testsend import publication_test_send
from publishing.services.timezones import audience_time_zones, editor_time_zone, local_times
from subscribers.models import Subscriber, Topic

State = Publication.State
TRANSITIONS = {"submit": publication_submit, "return": publication_return_to_draft, "archive": publication_archive}


def workflow_actions(publication: Publication, user) -> list[dict[str, str]]:
    """The buttons this user sees for this publication's state."""
    publisher = user_has_role(user, Role.PUBLISHER)
    actions = []
    if publication.state == State.DRAFT:
        actions.append({"kind": "transition", "action": "submit", "label": "Submit for review"})
    if publisher and publication.state in (State.DRAFT, State.IN_REVIEW, State.SCHEDULED):
        label = {State.SCHEDULED: "Publish now or reschedule…"}.get(publication.state, "Approve: schedule or publish…")
        actions.append({"kind": "publish", "action": "publish", "label": label})
    if publication.state == State.IN_REVIEW or (publisher and publication.state == State.SCHEDULED):
        label = "Unschedule" if publication.state == State.SCHEDULED else "Return to draft"
        actions.append({"kind": "transition", "action": "return", "label": label})
    if publisher and publication.state == State.PUBLISHED:
        actions.append({"kind": "transition", "action": "archive", "label": "Archive"})
    return actions


@admin.register(Publication)
class PublicationAdmin(PublicationExtrasMixin, ServiceErrorAdminMixin, admin.ModelAdmin):
    form = PublicationAdminForm
    change_form_template = "admin/publishing/publication/change_form.html"
    change_list_template = "admin/publishing/publication/change_list.html"
    list_display = ["title", "state", "priority", "topic_names", "author", "publish_at", "published_at", "updated_at"]
    list_filter = ["state", "priority", "topics"]
    search_fields = ["title", "summary", "slug"]
    date_hierarchy = "created_at"
    list_select_related = ["author"]
    readonly_fields = [
        "state",
        "publish_at",
        "published_at",
        "author",
        "approved_by",
        "created_at",
        "updated_at",
        "delivery_stats",
        "send_time_report",
        "transition_history",
        "checks_override_history",
    ]
    fieldsets = [
        (None, {"fields": ["title", "slug", "email_subject", "summary", "body"]}),
        (
            "Audience and ranking",
            {"fields": ["topics", "segment", "exclude_segment", "priority", "quality_score", "canonical_url"]},
        ),
        (
            "Delivery timing",
            {
                "classes": ["collapse"],
                "description": "Quiet hours are on each subscriber's clock; blank: the topics' quiet hours apply.",
                "fields": [
                    ("quiet_hours_start", "quiet_hours_end"),
                    "quiet_hours_bypass_alerts",
                    ("send_time_optimized", "send_time_holdout_percent"),
                ],
            },
        ),
        (
            "A/B subject test (newsletters)",
            {
                "classes": ["collapse"],
                "fields": ["ab_subjects", "ab_metric", "ab_test_fraction", "ab_wait_minutes"],
            },
        ),
        (
            "Status",
            {
                "fields": [
                    "state",
                    "publish_at",
                    "published_at",
                    "author",
                    "approved_by",
                    "transition_history",
                    "checks_override_history",
                ]
            },
        ),
        ("Deliveries and engagement", {"fields": ["delivery_stats", "send_time_report"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("topics")

    @admin.display(description="Topics")
    def topic_names(self, obj: Publication) -> str:
        return ", ".join(t.name for t in obj.topics.all())

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return self.fieldsets[:4]
        return self.fieldsets

    # --- permissions: what the services allow, so admin never offers what they refuse ---------
    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        if not allowed or obj is None:
            return allowed
        if obj.state == State.ARCHIVED:
            return False
        return obj.state in EDITOR_STATES or user_has_role(request.user, Role.PUBLISHER)

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or obj.state not in (State.PUBLISHED, State.ARCHIVED))

    # --- saving through the services ------------------------------------------------------------
    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        fields = {
            name: data[name] for name in EDITABLE_FIELDS if name in data and (not change or name in form.changed_data)
        }
        try:
            if change:
                saved = publication_update(publication=obj, actor=request.user, topics=data["topics"], **fields)
            else:
                fields.setdefault("slug", "")
                saved = publication_create(actor=request.user, topics=data["topics"], **fields)
                obj.pk, obj.slug, obj._state.adding = saved.pk, saved.slug, False
            if {"ab_subjects", "ab_metric", "ab_test_fraction", "ab_wait_minutes"} & set(form.changed_data):
                abtest_configure(
                    publication=saved,
                    actor=request.user,
                    subjects=form.subjects(),
                    test_fraction=data["ab_test_fraction"],
                    wait_minutes=data["ab_wait_minutes"],
                    metric=data["ab_metric"],
                )
        except ApplicationError as exc:
            raise ValidationError(f"{exc.message} {exc.extra.get('fields', '')}".strip()) from exc

    def save_related(self, request, form, formsets, change):
        for formset in formsets:  # topics were set by the service
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request, obj):
        publication_delete(publication=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for publication in queryset:
            publication_delete(publication=publication, actor=request.user)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context.update(
            preview_url=reverse("admin:publishing_publication_preview"),
            preview_kinds=[{"kind": kind, "label": a.label, "style": a.preview} for kind, a in ADAPTERS.items()],
            workflow=workflow_actions(obj, request.user) if obj else [],
            can_duplicate=bool(obj) and user_has_role(request.user, Role.EDITOR),
            test_channels=Channel.objects.filter(is_active=True).order_by("kind", "name") if obj else [],
            test_max_recipients=settings.TEST_SEND_MAX_RECIPIENTS,
            archive_link=archive_url(slug=obj.slug) if obj and obj.state in (State.PUBLISHED, State.ARCHIVED) else "",
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    # --- read-only panels ---------------------------------------------------------------------
    @admin.display(description="Send-time optimization")
    def send_time_report(self, obj: Publication):
        from publishing.services.send_time import send_time_lift

        report = send_time_lift(publication=obj) if obj and obj.pk and obj.send_time_optimized else None
        if report is None:
            return "Not sent with send-time optimization."
        rows = format_html_join(
            "",
            '<tr><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>',
            (
                (label, g["deliveries"], _percent(g["open_rate"]), _percent(g["click_rate"]))
                for label, g in (("At the best hour", report["optimized"]), ("Holdout (at once)", report["holdout"]))
            ),
        )
        return format_html(
            "<table><tr><th>Group</th><th>Deliveries</th><th>Opened</th><th>Clicked</th></tr>{}</table>"
            "<p>Lift: opens {}, clicks {}{}</p>",
            rows,
            _percent(report["open_lift"], signed=True),
            _percent(report["click_lift"], signed=True),
            "" if report["finished"] else " (still sending)",
        )

    @admin.display(description="Deliveries and engagement")
    def delivery_stats(self, obj: Publication):
        if obj is None or obj.pk is None:
            return "-"
        stats = publication_stats(publication=obj)
        if not stats["sends"]:
            return "Nothing sent yet."
        sends = format_html_join(
            "",
            '<li><a href="{}">{}</a>: {} ({} recipients)</li>',
            (
                (reverse("admin:channels_app_send_change", args=[s["id"]]), s["key"], s["status"], s["audience_size"])
                for s in stats["sends"]
            ),
        )
        channels = format_html_join(
            "",
            '<tr><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td>'
            '<td class="num">{}</td></tr>',
            (
                (
                    c["channel"],
                    c["total"],
                    c["states"]["sent"] + c["states"]["delivered"],
                    c["states"]["failed"],
                    c["states"]["dead"],
                )
                for c in stats["deliveries"]["by_channel"]
            ),
        )
        e = stats["engagement"]
        return format_html(
            '<ul>{}</ul><div class="delivery-stats"><table><thead><tr><th>Channel</th><th class="num">Deliveries</th>'
            '<th class="num">Sent</th><th class="num">Failed</th><th class="num">Dead</th></tr></thead>'
            "<tbody>{}</tbody></table></div>"
            "<p>Unique opens {} ({}), unique clicks {} ({}), bounces {}, complaints {}, unsubscribes {}; "
            "machine opens not counted: {}.</p>",
            sends,
            channels,
            e["unique_opens"],
            _rate(e["open_rate"]),
            e["unique_clicks"],
            _rate(e["click_rate"]),
            e["bounces"],
            e["complaints"],
            e["unsubscribes"],
            e["machine_opens"],
        )

    @admin.display(description="History")
    def transition_history(self, obj: Publication):
        rows = obj.transitions.select_related("actor")[:20] if obj and obj.pk else []
        return (
            format_html_join(
                "",
                "<div>{}: {} → {} by {} {}</div>",
                (
                    (
                        t.created_at.strftime("%Y-%m-%d %H:%M UTC"),
                        t.from_state,
                        t.to_state,
                        t.actor or "the scheduler",
                        t.note,
                    )
                    for t in rows
                ),
            )
            or "-"
        )

    @admin.display(description="Pre-send checks overridden")
    def checks_override_history(self, obj: Publication):
        rows = publication_checks_overrides(publication=obj)[:20] if obj and obj.pk else []
        return (
            format_html_join(
                "",
                '<div class="checks-override">{} by {}: “{}” (failing: {})</div>',
                (
                    (
                        o.created_at.strftime("%Y-%m-%d %H:%M UTC"),
                        o.actor or "a deleted user",
                        o.reason,
                        ", ".join(c.get("name", "") for c in o.failed_checks),
                    )
                    for o in rows
                ),
            )
            or "-"
        )

    # --- extra views --------------------------------------------------------------------------
    def get_urls(self):
        view = self.admin_site.admin_view
        extra = [
            path("preview/", view(self.preview_view), name="publishing_publication_preview"),
            path(
                "<int:pk>/transition/<str:action>/",
                view(self.transition_view),
                name="publishing_publication_transition",
            ),
            path("<int:pk>/publish/", view(self.publish_view), name="publishing_publication_publish"),
            path("<int:pk>/test-send/", view(self.test_send_view), name="publishing_publication_test_send"),
        ]
        return extra + self.extra_urls() + super().get_urls()

    def preview_view(self, request):
        """Live preview of the form as it is (unsaved), for every channel: JSON for compose.js."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        saved = Publication.objects.filter(pk=request.POST.get("object_id") or None).first()
        if not user_has_role(request.user, Role.EDITOR) or (saved and not self.has_view_permission(request, saved)):
            return JsonResponse({"message": "Previewing needs the editor role."}, status=403)
        publication = saved or Publication(title="", slug="preview")
        for name in ("title", "email_subject", "summary", "body", "canonical_url", "priority"):
            if name in request.POST:
                setattr(publication, name, request.POST[name])
        publication.slug = request.POST.get("slug") or publication.slug or "preview"
        if "topics" in request.POST or saved is None:
            topics = list(Topic.objects.filter(pk__in=[t for t in request.POST.getlist("topics") if t.isdigit()]))
        else:
            topics = None
        chosen = request.POST.get("preview_subscriber", "").strip()
        subscriber = Subscriber.objects.filter(pk=int(chosen)).first() if chosen.isdigit() else None
        preview = publication_preview(publication=publication, topics=topics, actor=request.user, subscriber=subscriber)
        preview["problems"] = body_problems(publication.body)
        if chosen and subscriber is None:
            preview["problems"].append(f"No subscriber #{chosen[:20]}: previewing as you.")
        return JsonResponse(preview)

    def transition_view(self, request, pk: int, action: str):
        publication = get_object_or_404(Publication, pk=pk)
        if request.method != "POST" or action not in TRANSITIONS:
            return HttpResponseNotAllowed(["POST"])
        try:
            TRANSITIONS[action](publication=publication, actor=request.user)
        except ApplicationError as exc:
            self.message_user(request, service_error_text(exc), messages.ERROR)
        else:
            publication.refresh_from_db()
            self.message_user(request, f"“{publication}” is now {publication.get_state_display().lower()}.")
        return redirect("admin:publishing_publication_change", pk)

    def publish_view(self, request, pk: int):
        """Schedule or publish after seeing exactly who it will reach, per channel."""
        publication = get_object_or_404(Publication, pk=pk)
        zone = editor_time_zone(request.user)
        checking = "check_times" in request.POST  # "Show the times": validate, show, publish nothing
        form = PublishForm(request.POST or None, zone=zone, checking=checking)
        failed = False
        if request.method == "POST" and not checking and form.is_valid():
            try:
                published = publication_publish(
                    publication=publication,
                    actor=request.user,
                    publish_at=form.cleaned_data["publish_at"],
                    confirmed_audience=form.cleaned_data["confirmed_total"],
                    checks_override_reason=form.cleaned_data["checks_override_reason"],
                )
            except ApplicationError as exc:
                override_errors = exc.extra.get("fields", {}).get(OVERRIDE_FIELD)
                form.add_error(None, exc.message if override_errors else service_error_text(exc))
                if override_errors:
                    form.add_error(OVERRIDE_FIELD, override_errors)
                failed = True
            else:
                when = published.publish_at if published.state == State.SCHEDULED else "now"
                self.message_user(request, f"“{published}” is {published.get_state_display().lower()} ({when}).")
                return redirect("admin:publishing_publication_change", pk)
        # Counted once, for the page shown: the service counts again when it publishes.
        audience = publication_audience_of(publication=publication)
        if not form.is_bound:
            form.initial.update(confirmed_total=audience["total"], publish_at=publication.publish_at)
        elif failed:  # the count may have moved: confirm the current one
            form.data = form.data.copy()
            form.data["confirmed_total"] = audience["total"]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Publish “{publication}”",
            "publication": publication,
            "audience": audience,
            "merge_warnings": publication_merge_warnings(publication=publication),
            **_checks_context(publication, request.user),
            "checks_overrides": publication_checks_overrides(publication=publication),
            "form": form,
            "is_alert": publication.priority == Publication.Priority.ALERT,
            **publish_times_context(publication=publication, form=form, zone=zone),
            "recent_overlaps": overlap_rows(publication=publication),
            "overlap_hours": settings.PUBLISH_OVERLAP_WARNING_HOURS,
        }
        return TemplateResponse(request, "admin/publishing/publication/publish.html", context)

    def test_send_view(self, request, pk: int):
        """POST only (CSRF-checked by the admin): a test sends real messages."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        publication = get_object_or_404(Publication, pk=pk)
        form = TestSendForm(request.POST)
        if not form.is_valid():
            self.message_user(request, f"Test not sent: {form.errors.as_text()}", messages.ERROR)
            return redirect("admin:publishing_publication_change", pk)
        channel = get_object_or_404(Channel, pk=form.cleaned_data["channel"])
        chosen = form.cleaned_data["subscriber"]
        subscriber = Subscriber.objects.filter(pk=chosen).first() if chosen else None
        if chosen and subscriber is None:
            self.message_user(request, f"Test not sent: no subscriber #{chosen}.", messages.ERROR)
            return redirect("admin:publishing_publication_change", pk)
        try:
            results = publication_test_send(
                publication=publication,
                channel=channel,
                actor=request.user,
                recipients=form.cleaned_data["recipients"],
                subscriber=subscriber,
            )
        except ApplicationError as exc:
            self.message_user(request, f"Test not sent: {service_error_text(exc)}", messages.ERROR)
        else:
            testsend_results_report(self, request, channel, results)
        return redirect("admin:publishing_publication_change", pk)


def _checks_context(publication: Publication, user) -> dict:
    """The pre-send checks for the publish page, or why this user cannot run them."""
    try:
        return {"checks": publication_checks(publication=publication, actor=user), "checks_error": ""}
    except ApplicationError as exc:
        return {"checks": None, "checks_error": exc.message}


def publish_times_context(*, publication: Publication, form: PublishForm, zone) -> dict:
    """The chosen (or scheduled) time in the editor's zone, in UTC and as the audience's most
    common time zones see it; "now" when nothing is chosen."""
    chosen = None
    if form.is_bound:
        form.is_valid()
        chosen = form.cleaned_data.get("publish_at") if hasattr(form, "cleaned_data") else None
    elif publication.publish_at:
        chosen = publication.publish_at
    at = chosen or clock.now()
    return {
        "editor_zone": zone.key,
        "times_local": f"{at.astimezone(zone):%a %Y-%m-%d %H:%M}",
        "times_utc": f"{at.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
        "times_is_now": chosen is None,
        "times_invalid": form.is_bound and "publish_at" in form.errors,
        "audience_times": local_times(at=at, zones=audience_time_zones(publication=publication)),
        "time_zone_url": reverse("admin:publishing_publication_time_zone"),
    }


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _percent(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value * 100:+.1f}%" if signed else f"{value * 100:.1f}%"
