"""What a channel kind needs in its `config` and `credentials`, declared once on its adapter.

    config_fields = {"channel": TextField("Channel ID"), "token": TextField("Bot token", secret=True)}

The declaration is the channel's schema: the services refuse what it does not name (a setting
nobody reads is a promise that silently does nothing), check each value, and admin builds its
form from it. `secret=True` fields live in the encrypted `credentials`, never in `config`.
Rules that span fields (SMTP needs a host) stay in the adapter's `check`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from core.outbound.addresses import host_problem
from core.outbound.http import url_problem

if TYPE_CHECKING:
    from channels_app.adapters.base import ChannelAdapter


@dataclass(frozen=True)
class ConfigField:
    label: str
    help: str = ""
    required: bool = False
    secret: bool = False

    def problem(self, value: Any) -> str:
        """Why `value` cannot be used ("" when it can)."""
        return "" if isinstance(value, str) else "must be text"

    def formfield(self) -> forms.Field:
        widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}) if self.secret else None
        return forms.CharField(label=self.label, help_text=self.help, required=False, widget=widget, max_length=2000)

    def from_form(self, value: Any) -> Any:
        """A cleaned form value as stored; None when left blank (the key is left out)."""
        return value if value not in (None, "") else None


@dataclass(frozen=True)
class TextField(ConfigField):
    pass


@dataclass(frozen=True)
class URLField(ConfigField):
    """An http(s) URL Bulletin connects to: public addresses only (core.outbound)."""

    def problem(self, value: Any) -> str:
        if not isinstance(value, str) or not value.startswith(("https://", "http://")):
            return "must be an http(s) URL"
        return url_problem(value) or ""


@dataclass(frozen=True)
class HostField(ConfigField):
    def problem(self, value: Any) -> str:
        return super().problem(value) or host_problem(value) or ""


@dataclass(frozen=True)
class EmailField(ConfigField):
    """An address, optionally with a display name: `News <news@example.com>`."""

    def problem(self, value: Any) -> str:
        try:
            validate_email(addr_spec(str(value)))
        except ValidationError:
            return "must be an email address (optionally 'Name <address>')"
        return ""


@dataclass(frozen=True)
class ChoiceField(ConfigField):
    choices: tuple[str, ...] = ()

    def problem(self, value: Any) -> str:
        return "" if value in self.choices else f"must be one of {', '.join(self.choices)}"

    def formfield(self) -> forms.Field:
        options = [("", "(default)"), *((choice, choice) for choice in self.choices)]
        return forms.ChoiceField(label=self.label, help_text=self.help, required=False, choices=options)


@dataclass(frozen=True)
class NumberField(ConfigField):
    minimum: float = 0
    maximum: float = 1e9
    integer: bool = False

    def problem(self, value: Any) -> str:
        kinds = (int,) if self.integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds) or not self.minimum <= value <= self.maximum:
            return f"{'a whole number' if self.integer else 'a number'} from {self.minimum:g} to {self.maximum:g}"
        return ""

    def formfield(self) -> forms.Field:
        field = forms.IntegerField if self.integer else forms.FloatField
        return field(label=self.label, help_text=self.help, required=False)


@dataclass(frozen=True)
class BooleanField(ConfigField):
    def problem(self, value: Any) -> str:
        return "" if isinstance(value, bool) else "must be true or false"

    def formfield(self) -> forms.Field:
        options = [("", "(default)"), ("true", "Yes"), ("false", "No")]
        return forms.TypedChoiceField(
            label=self.label, help_text=self.help, required=False, choices=options, coerce=lambda v: v == "true"
        )

    def from_form(self, value: Any) -> Any:
        return value if isinstance(value, bool) else None


def addr_spec(value: str) -> str:
    return value.rsplit("<", 1)[-1].rstrip(">").strip() if "<" in value else value.strip()


def config_errors(
    adapter: type[ChannelAdapter],
    config: Any,
    credentials: Any,
    *,
    audience: str | None = None,
    strict: bool = True,
) -> dict[str, str]:
    """Field errors of a configuration against the kind's declared fields. `strict`: names the
    declaration does not know are refused (creating and editing; the pipeline reads leniently)."""
    if not isinstance(config, Mapping) or not isinstance(credentials, Mapping):
        return {"config" if not isinstance(config, Mapping) else "credentials": "must be a JSON object"}
    errors: dict[str, str] = {}
    for where, values, secret in (("config", config, False), ("credentials", credentials, True)):
        for name, value in values.items():
            field = adapter.config_fields.get(name)
            if field is None or field.secret != secret:
                if strict and not (secret and adapter.open_credentials):
                    errors[name] = _misplaced(adapter, name, where, field)
            elif value not in (None, "") and (problem := field.problem(value)):
                errors[name] = problem
    for name, field in adapter.config_fields.items():
        values = credentials if field.secret else config
        needed = field.required or (name == adapter.broadcast_field and audience == "broadcast")
        if needed and values.get(name) in (None, "") and name not in errors:
            errors[name] = (
                f"{adapter.label} channels need `{name}`"
                if field.required
                else f"a broadcast {adapter.label} channel needs `{name}`"
            )
    return errors


def _misplaced(adapter: type[ChannelAdapter], name: str, where: str, field: ConfigField | None) -> str:
    if field is not None:
        return f"belongs in {'credentials' if field.secret else 'config'}, not {where}"
    known = sorted(n for n, f in adapter.config_fields.items() if f.secret == (where == "credentials"))
    return f"not a setting of {adapter.label} channels ({where}: {', '.join(known) or 'none'})"
