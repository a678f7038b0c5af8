"""Admin's channel form, built from the kind's declared fields (its adapter's `config_fields`).

One input per setting, secrets as password inputs that are never filled in again (blank keeps
what is stored); the audience offers only what the kind can reach. Whether the whole is valid
is `channel_validate`'s decision, as for the API.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.utils.html import format_html

from channels_app.adapters import ADAPTERS
from channels_app.adapters.base import ChannelAdapter
from channels_app.models import Channel
from channels_app.services.channels import channel_validate
from core.exceptions import ApplicationError
from core.forms import form_add_service_errors

MODEL_FIELDS = [
    "name",
    "kind",
    "audience",
    "is_default",
    "topics",
    "rate_limit_per_second",
    "target_rate_per_second",
    "fallbacks",
    "routes",
    "tracking_enabled",
]
KEEP_SECRET = "Stored encrypted and never shown; leave blank to keep what is stored."


def setting_name(name: str, *, secret: bool) -> str:
    return f"{'credentials' if secret else 'config'}_{name}"


class ChannelAdminForm(forms.ModelForm):
    adapter: ClassVar[type[ChannelAdapter]]

    fallbacks = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Fallback providers, one channel name a line, in order: while this channel's circuit is "
        "open (or its provider paused the account) batches go to the first whose circuit allows.",
    )
    routes = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Routing by recipient domain, one rule a line: <code>gmail.com = Channel name</code>. "
        "Recipients of that domain are sent through that channel (its own limits, circuit and fallbacks).",
    )

    class Meta:
        model = Channel
        fields = MODEL_FIELDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "audience" in self.fields:
            self.fields["audience"].choices = [
                (value, label) for value, label in Channel.Audience.choices if value in self.adapter.audiences
            ]
        if "kind" in self.fields:
            self.fields["kind"].initial = self.adapter.kind
            self.fields["kind"].widget = forms.HiddenInput()
        names = dict(Channel.objects.values_list("pk", "name"))
        self.initial["fallbacks"] = "\n".join(names.get(i, str(i)) for i in self.instance.fallbacks or [])
        self.initial["routes"] = "\n".join(
            f"{r['domain']} = {names.get(r['channel'], r['channel'])}" for r in self.instance.routes or []
        )
        for name, spec in self.adapter.config_fields.items():
            if not spec.secret and name in self.instance.config:
                value = self.instance.config[name]
                self.initial[setting_name(name, secret=False)] = (
                    ("true" if value else "false") if isinstance(value, bool) else value
                )
                self._keep_stored_choice(setting_name(name, secret=False))

    def _keep_stored_choice(self, input_name: str) -> None:
        """A stored value no longer among the choices (an ESP no longer offered) is shown as it
        is, not as the blank default, so saving never silently switches it; the service then
        says why it must change."""
        field, value = self.fields.get(input_name), self.initial.get(input_name)
        if isinstance(field, forms.ChoiceField) and value not in {str(choice) for choice, _ in field.choices}:
            field.choices = [*field.choices, (value, f"{value} (no longer offered)")]

    def clean_fallbacks(self) -> list[int]:
        lines = [line.strip() for line in self.cleaned_data["fallbacks"].splitlines() if line.strip()]
        return [_channel_id(line) for line in lines]

    def clean_routes(self) -> list[dict[str, Any]]:
        routes = []
        for line in filter(None, (line.strip() for line in self.cleaned_data["routes"].splitlines())):
            domain, sep, name = line.partition("=")
            if not sep or not domain.strip() or not name.strip():
                raise forms.ValidationError(f"{line!r}: write one rule a line as 'gmail.com = Channel name'")
            routes.append({"domain": domain.strip(), "channel": _channel_id(name.strip())})
        return routes

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        config, credentials = self.settings(data)
        data["config"], data["credentials"] = config, credentials
        try:
            channel_validate(
                kind=self.adapter.kind,
                audience=data.get("audience"),
                config=config,
                credentials=credentials,
                fallbacks=data.get("fallbacks") or [],
                routes=data.get("routes") or [],
                channel_pk=self.instance.pk,
                rate_limit_per_second=data.get("rate_limit_per_second"),
                target_rate_per_second=data.get("target_rate_per_second"),
            )
        except ApplicationError as exc:
            form_add_service_errors(self, _named_like_inputs(exc, self.adapter))
        return data

    def settings(self, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """config and credentials from the inputs; stored secrets stay unless one is typed."""
        config: dict[str, Any] = {}
        credentials: dict[str, Any] = dict(self.instance.credentials) if self.instance.pk else {}
        for name, spec in self.adapter.config_fields.items():
            value = spec.from_form(data.get(setting_name(name, secret=spec.secret)))
            if spec.secret and value is not None:
                credentials[name] = value
            elif not spec.secret and value is not None:
                config[name] = value
        return config, credentials


def channel_admin_form(adapter: type[ChannelAdapter], *, change: bool) -> type[ChannelAdminForm]:
    """The form class for one kind: its declared settings as inputs."""
    inputs: dict[str, Any] = {"adapter": adapter}
    for name, spec in adapter.config_fields.items():
        field = spec.formfield()
        if spec.secret:
            field.help_text = " ".join(filter(None, [spec.help, KEEP_SECRET if change else ""]))
        inputs[setting_name(name, secret=spec.secret)] = field
    return type(f"{adapter.__name__}Form", (ChannelAdminForm,), inputs)


def channel_fieldsets(
    adapter: type[ChannelAdapter], *, readonly: list[str], config: dict | None = None
) -> list[tuple[str | None, dict]]:
    settings = [setting_name(n, secret=False) for n, s in adapter.config_fields.items() if not s.secret]
    secrets = [setting_name(n, secret=True) for n, s in adapter.config_fields.items() if s.secret]
    fieldsets: list[tuple[str | None, dict]] = [(None, {"fields": [*readonly[:1], *MODEL_FIELDS]})]
    if settings:
        fieldsets.append((f"{adapter.label} settings", {"fields": settings, "description": docs_link(adapter, config)}))
    if secrets:
        fieldsets.append(("Credentials", {"fields": secrets, "description": KEEP_SECRET}))
    if readonly[1:]:
        fieldsets.append(("Status", {"fields": readonly[1:]}))
    return fieldsets


def docs_link(adapter: type[ChannelAdapter], config: dict | None) -> str:
    """ "Where to find these settings": the provider's documentation, as a link."""
    url = adapter.docs_for(config or {})
    if not url:
        return ""
    return format_html('Where to find these settings: <a href="{}" rel="noopener" target="_blank">{}</a>', url, url)


def adapter_requested(request, obj: Channel | None) -> type[ChannelAdapter] | None:
    """The kind being added or edited: the object's, or ?kind= / the posted kind."""
    kind = obj.kind if obj is not None else (request.POST.get("kind") or request.GET.get("kind"))
    return ADAPTERS.get(kind) if kind else None


def _named_like_inputs(exc: ApplicationError, adapter: type[ChannelAdapter]) -> ApplicationError:
    """The service names settings as `config` keys; the form's inputs carry a prefix."""
    fields = exc.extra.get("fields") or {}
    renamed = {
        (setting_name(name, secret=adapter.config_fields[name].secret) if name in adapter.config_fields else name): v
        for name, v in fields.items()
    }
    return ApplicationError(exc.message, {**exc.extra, "fields": renamed}) if fields else exc


def _channel_id(name: str) -> int:
    pk = Channel.objects.filter(name=name).values_list("pk", flat=True).first()
    if pk is None:
        raise forms.ValidationError(f"no channel is named {name!r}")
    return pk
