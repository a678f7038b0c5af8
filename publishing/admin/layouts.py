"""Message layouts per channel kind and topic, edited in admin with a live preview; every save
is a version, and any earlier version is put back with one click (POST)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseNotAllowed, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from channels_app.adapters import ADAPTERS
from core.admin import ServiceErrorAdminMixin, service_error_text
from core.exceptions import ApplicationError
from core.forms import form_add_service_errors
from publishing.layout_models import ChannelLayout
from publishing.services.layouts import (
    layout_default_source,
    layout_names,
    layout_preview,
    layout_revert,
    layout_save,
)
from subscribers.models import Topic

NAMES = sorted({name for kind in ADAPTERS for name in layout_names(kind)})


class ChannelLayoutForm(forms.ModelForm):
    kind = forms.ChoiceField(choices=())
    name = forms.ChoiceField(choices=[(n, n) for n in NAMES], label="Template")
    source = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 28, "class": "layout-source", "spellcheck": "false"}),
        help_text="Django template text with the same context as the files in templates/channels/ for its kind. "
        "Blank on a new layout: start from the file it replaces.",
    )
    note = forms.CharField(required=False, max_length=200, help_text="What changed (kept with the version).")

    class Meta:
        model = ChannelLayout
        fields = ["kind", "name", "topic"]

    def __init__(self, *args, actor=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.actor = actor
        if self.instance.pk:  # what it replaces is fixed once saved (shown read-only)
            for name in ("kind", "name", "topic"):
                self.fields.pop(name, None)
        if "kind" in self.fields:
            self.fields["kind"].choices = [(kind, a.label) for kind, a in ADAPTERS.items()]
        current = (
            self.instance.versions.filter(version=self.instance.current_version).first() if self.instance.pk else None
        )
        if current is not None:
            self.initial["source"] = current.source

    def target(self) -> tuple[str, str, Topic | None]:
        data = self.cleaned_data
        if self.instance.pk:
            return self.instance.kind, self.instance.name, self.instance.topic
        return data.get("kind", ""), data.get("name", ""), data.get("topic")

    def clean(self):
        data = super().clean()
        kind, name, topic = self.target()
        if self.errors or not kind:
            return data
        if name not in layout_names(kind):
            self.add_error(
                "name", f"{ADAPTERS[kind].label} messages have no {name}; choose {', '.join(layout_names(kind))}."
            )
            return data
        if not data.get("source", "").strip():
            if self.instance.pk:
                self.add_error("source", "A layout cannot be empty: revert to a version, or delete the layout.")
                return data
            data["source"] = layout_default_source(kind=kind, name=name, topic=topic)
        try:
            layout_preview(kind=kind, name=name, source=data["source"], topic=topic, actor=self.actor)
        except ApplicationError as exc:
            form_add_service_errors(self, exc)
        return data


@admin.register(ChannelLayout)
class ChannelLayoutAdmin(ServiceErrorAdminMixin, admin.ModelAdmin):
    form = ChannelLayoutForm
    change_form_template = "admin/publishing/channellayout/change_form.html"
    list_display = ["__str__", "kind", "name", "topic", "current_version", "updated_at"]
    list_filter = ["kind", "name"]
    list_select_related = ["topic"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)

        class WithActor(form):
            def __init__(self, *args, **inner):
                super().__init__(*args, actor=request.user, **inner)

        return WithActor

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["kind", "name", "topic", "source", "note"]
        return ["layout_target", "source", "note", "history"]

    def get_readonly_fields(self, request, obj=None):
        return ["layout_target", "history"] if obj else []

    @admin.display(description="Replaces")
    def layout_target(self, obj: ChannelLayout) -> str:
        return f"templates/channels/{obj.kind}/{obj.name} for {obj.topic.name if obj.topic_id else 'every topic'}"

    @admin.display(description="Versions")
    def history(self, obj: ChannelLayout):
        url = reverse("admin:publishing_channellayout_revert", args=[obj.pk])
        rows = format_html_join(
            "",
            "<tr><td>v{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    v.version,
                    " (in use)" if v.version == obj.current_version else "",
                    v.created_at.strftime("%Y-%m-%d %H:%M"),
                    v.created_by or "",
                    v.note,
                    format_html(
                        '<button type="submit" class="button" formaction="{}" formmethod="post" name="version" '
                        'value="{}" formnovalidate>Revert to v{}</button>',
                        url,
                        v.version,
                        v.version,
                    )
                    if v.version != obj.current_version
                    else "",
                )
                for v in obj.versions.select_related("created_by").order_by("-version")[:50]
            ),
        )
        head = mark_safe("<tr><th>Version</th><th>Saved</th><th>By</th><th>Note</th><th></th></tr>")  # noqa: S308
        return format_html('<table class="layout-versions">{}{}</table>', head, rows)

    def save_model(self, request, obj, form, change):
        kind, name, topic = form.target()
        try:
            saved = layout_save(
                actor=request.user,
                kind=kind,
                name=name,
                topic=topic,
                source=form.cleaned_data["source"],
                note=form.cleaned_data.get("note", ""),
            )
        except ApplicationError as exc:
            raise ValidationError(service_error_text(exc)) from exc
        obj.pk, obj._state.adding = saved.layout_id, False

    def save_related(self, request, form, formsets, change):
        pass  # no relations beyond what layout_save wrote

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("preview/", view(self.preview_view), name="publishing_channellayout_preview"),
            path("<int:pk>/revert/", view(self.revert_view), name="publishing_channellayout_revert"),
            *super().get_urls(),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["layout_preview_url"] = reverse("admin:publishing_channellayout_preview")
        return super().render_change_form(request, context, add, change, form_url, obj)

    def preview_view(self, request):
        """The live preview (static/publishing/layouts.js): the form's text rendered, or its errors."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        layout = ChannelLayout.objects.filter(pk=request.POST.get("object_id") or None).first()
        kind = layout.kind if layout else request.POST.get("kind", "")
        name = layout.name if layout else request.POST.get("name", "")
        topic = layout.topic if layout else Topic.objects.filter(pk=_int(request.POST.get("topic"))).first()
        source = request.POST.get("source", "")
        if kind not in ADAPTERS:
            return JsonResponse({"message": "Choose a channel kind.", "extra": {}}, status=400)
        if not source.strip() and name in layout_names(kind):
            source = layout_default_source(kind=kind, name=name, topic=topic)
        try:
            part = layout_preview(kind=kind, name=name, source=source, topic=topic, actor=request.user)
        except ApplicationError as exc:
            return JsonResponse({"message": exc.message, "extra": exc.extra}, status=400)
        style = ADAPTERS[kind].preview if ADAPTERS[kind].renders_email else "json"
        return JsonResponse({"kind": kind, "name": name, "style": style, "part": part})

    def revert_view(self, request, pk: int):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        layout = get_object_or_404(ChannelLayout, pk=pk)
        try:
            created = layout_revert(actor=request.user, layout=layout, version=_int(request.POST.get("version")) or 0)
        except ApplicationError as exc:
            self.message_user(request, f"Not reverted: {service_error_text(exc)}", messages.ERROR)
        else:
            self.message_user(
                request, f"{layout}: {created.note.lower()}; it is version {created.version}, in use now."
            )
        return redirect("admin:publishing_channellayout_change", pk)


def _int(value) -> int | None:
    return int(value) if value and str(value).isdigit() else None
