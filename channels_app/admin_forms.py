"""Admin's channel form, built from the kind's declared fields (its adapter's `config_fields`).

One input per setting, secrets as password inputs that are never filled in again (blank keeps
what is stored); the audience offers only what the kind can reach. Whether the whole is valid
is `channel_validate`'s decision, as for the API.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms

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
    "fallback",
    "tracking_enabled",
]
KEEP_SECRET = "Stored encrypted and never shown; leave blank to keep what is stored."


def setting_name(name: str, *, secret: bool) -> str:
    return f"{'credentials' if secret else 'config'}_{name}"


class ChannelAdminForm(forms.ModelForm):
    adapter: ClassVar[type[ChannelAdapter]]

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
        for name, spec in self.adapter.config_fields.items():
            if not spec.secret and name in self.instance.config:
                value = self.instance.config[name]
                self.initial[setting_name(name, secret=False)] = (
                    ("true" if value else "false") if isinstance(value, bool) else value
                )

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
                fallback=data.get("fallback"),
                rate_limit_per_second=data.get("rate_limit_per_second"),
                target_rate_per_second=data.get("target_rate_per_second"),
                channel_id=self.instance.pk,
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


def channel_fieldsets(adapter: type[ChannelAdapter], *, readonly: list[str]) -> list[tuple[str | None, dict]]:
    settings = [setting_name(n, secret=False) for n, s in adapter.config_fields.items() if not s.secret]
    secrets = [setting_name(n, secret=True) for n, s in adapter.config_fields.items() if s.secret]
    fieldsets: list[tuple[str | None, dict]] = [(None, {"fields": [*readonly[:1], *MODEL_FIELDS]})]
    if settings:
        fieldsets.append((f"{adapter.label} settings", {"fields": settings}))
    if secrets:
        fieldsets.append(("Credentials", {"fields": secrets, "description": KEEP_SECRET}))
    if readonly[1:]:
        fieldsets.append(("Status", {"fields": readonly[1:]}))
    return fieldsets


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
