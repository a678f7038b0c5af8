"""Publication admin pages beyond compose and publish: duplicate, the calendar of scheduled
sends and the editor's own time zone. Each view validates, calls one service and renders."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from core.admin import service_error_text
from core.clock import clock
from core.exceptions import ApplicationError
from publishing.admin.forms import EditorTimeZoneForm
from publishing.models import Publication
from publishing.services.calendar import parse_month, publication_calendar
from publishing.services.duplicate import publication_duplicate
from publishing.services.timezones import editor_time_zone, editor_time_zone_set


class PublicationExtrasMixin:
    def extra_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/duplicate/", view(self.duplicate_view), name="publishing_publication_duplicate"),
            path("calendar/", view(self.calendar_view), name="publishing_publication_calendar"),
            path("time-zone/", view(self.time_zone_view), name="publishing_publication_time_zone"),
        ]

    def duplicate_view(self, request, pk: int):
        """POST only (CSRF-checked by the admin): a new draft copy, then its page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        publication = get_object_or_404(Publication, pk=pk)
        try:
            copy = publication_duplicate(publication=publication, actor=request.user)
        except ApplicationError as exc:
            self.message_user(request, f"Not duplicated: {service_error_text(exc)}", messages.ERROR)
            return redirect("admin:publishing_publication_change", pk)
        self.message_user(request, f"“{copy}” is a new draft copy of “{publication}”.")
        return redirect("admin:publishing_publication_change", copy.pk)

    def calendar_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        zone = editor_time_zone(request.user)
        today = clock.now().astimezone(zone).date()
        error = ""
        try:
            month = parse_month(request.GET.get("month"), today=today)
        except ApplicationError as exc:
            error, month = service_error_text(exc), today.replace(day=1)
        previous = (month.replace(day=1) - _one_day()).replace(day=1)
        following = (month.replace(day=28) + 4 * _one_day()).replace(day=1)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Scheduled sends: {month:%B %Y}",
            "weeks": publication_calendar(month=month, zone=zone),
            "month": month,
            "today": today,
            "previous": f"{previous:%Y-%m}",
            "following": f"{following:%Y-%m}",
            "zone": zone.key,
            "error": error,
            "time_zone_url": reverse("admin:publishing_publication_time_zone"),
        }
        return TemplateResponse(
            request, "admin/publishing/publication/calendar.html", context, status=400 if error else 200
        )

    def time_zone_view(self, request):
        """Any signed-in staff user sets their own time zone (POST, CSRF-checked)."""
        current = editor_time_zone(request.user)
        form = EditorTimeZoneForm(request.POST or None, initial={"time_zone": current.key})
        if request.method == "POST" and form.is_valid():
            try:
                editor_time_zone_set(user=request.user, time_zone=form.cleaned_data["time_zone"])
            except ApplicationError as exc:
                form.add_error("time_zone", service_error_text(exc))
            else:
                self.message_user(request, f"Admin now shows times in {form.cleaned_data['time_zone']}.")
                return redirect(request.GET.get("next") if _safe_next(request) else "admin:index")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Your time zone",
            "form": form,
            "current": current.key,
        }
        return TemplateResponse(request, "admin/publishing/publication/time_zone.html", context)


def _one_day() -> timedelta:
    return timedelta(days=1)


def _safe_next(request) -> bool:
    target = request.GET.get("next", "")
    return bool(target) and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})
