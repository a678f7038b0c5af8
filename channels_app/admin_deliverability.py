"""Admin for deliverability: each From domain's health with what to fix and the exact DNS
record to add (re-check action), the mailbox provider of recipient domains, and the provider
holds the guard placed (release action). Imported by channels_app.admin."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import path
from django.utils.html import format_html, format_html_join

from channels_app.models import DomainHealth, MailboxDomain, ProviderHold
from channels_app.services.domain_health import domain_health_check, domain_health_refresh_all
from channels_app.services.mailbox_providers import provider_hold_release
from core.admin import service_error_text
from core.exceptions import ApplicationError
from core.roles import Role, user_has_role


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(DomainHealth)
class DomainHealthAdmin(_ReadOnly):
    list_display = ["domain", "status", "problem_summary", "checked_at"]
    list_filter = ["status"]
    search_fields = ["domain"]
    fields = ["domain", "status", "checked_at", "dkim_selectors", "report"]
    readonly_fields = fields
    actions = ["recheck"]

    @admin.display(description="To fix")
    def problem_summary(self, obj: DomainHealth) -> str:
        return "; ".join(f"{c['name']}: {c['problem']}" for c in obj.problems if c.get("problem")) or "—"

    @admin.display(description="Checks")
    def report(self, obj: DomainHealth) -> str:
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            (
                (c["name"], c["status"], c.get("problem") or c.get("found", ""), c.get("fix", ""), _record_text(c))
                for c in obj.checks
            ),
        )
        return format_html(
            "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{}</table>",
            "Check",
            "Status",
            "Found / problem",
            "Fix",
            "DNS record to add",
            rows,
        )

    def get_urls(self):
        check_all = self.admin_site.admin_view(self.check_all_view)
        return [path("check-all/", check_all, name="channels_app_domainhealth_check_all"), *super().get_urls()]

    def check_all_view(self, request):
        """POST: check the From domain of every active email channel now (new ones included)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        try:
            checked = domain_health_refresh_all(actor=request.user)
        except ApplicationError as exc:
            self.message_user(request, service_error_text(exc), messages.ERROR)
        else:
            summary = ", ".join(f"{h.domain}: {h.get_status_display()}" for h in checked) or "no email channel"
            self.message_user(request, f"Checked {summary}.")
        return redirect("admin:channels_app_domainhealth_changelist")

    def has_recheck_permission(self, request) -> bool:
        """Offered to editors (the service checks the role again)."""
        return user_has_role(request.user, Role.EDITOR)

    @admin.action(description="Re-check now (DNS)", permissions=["recheck"])
    def recheck(self, request, queryset):
        for health in queryset:
            try:
                health = domain_health_check(
                    domain=health.domain, channels=list(health.channels.all()), actor=request.user
                )
            except ApplicationError as exc:
                self.message_user(request, service_error_text(exc), messages.ERROR)
                return
            self.message_user(request, f"{health.domain}: {health.get_status_display()}")


def _record_text(check: dict) -> str:
    record = check.get("record")
    return f"{record['name']} {record['type']} {record['value']}" if record else ""


@admin.register(MailboxDomain)
class MailboxDomainAdmin(_ReadOnly):
    list_display = ["domain", "provider", "mx", "resolved_at"]
    list_filter = ["provider"]
    search_fields = ["domain"]
    show_full_result_count = False


@admin.register(ProviderHold)
class ProviderHoldAdmin(_ReadOnly):
    list_display = ["send", "provider", "reason", "created_at", "released_at"]
    list_filter = ["provider"]
    raw_id_fields = ["send"]
    actions = ["release"]

    def has_release_permission(self, request) -> bool:
        """Offered to publishers (the service checks the role again)."""
        return user_has_role(request.user, Role.PUBLISHER)

    @admin.action(description="Release: send the held deliveries", permissions=["release"])
    def release(self, request, queryset):
        for hold in queryset.filter(released_at__isnull=True):
            try:
                provider_hold_release(hold=hold, actor=request.user)
            except ApplicationError as exc:
                self.message_user(request, service_error_text(exc), messages.ERROR)
                return
        self.message_user(request, "Released.")
