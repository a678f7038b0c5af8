"""Channels: create and update with validated config, disable, enable (test sends: testsend.py)."""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from channels_app.adapters import ADAPTERS
from channels_app.adapters.base import ConfigError
from channels_app.circuit import circuit_reset
from channels_app.models import Channel, audience_problem
from channels_app.services.routing import routing_validate
from core.exceptions import ApplicationError
from core.roles import Role, role_require

logger = logging.getLogger(__name__)

_EDITABLE = {
    "name",
    "audience",
    "is_default",
    "config",
    "rate_limit_per_second",
    "target_rate_per_second",
    "fallbacks",
    "routes",
    "tracking_enabled",
}
_RATES = ("rate_limit_per_second", "target_rate_per_second")


def channel_validate(
    *,
    kind: str,
    audience: str,
    config: dict,
    credentials: dict,
    fallbacks: list | None = None,
    routes: list | None = None,
    rate_limit_per_second: float | None = None,
    target_rate_per_second: float | None = None,
    channel_pk: int | None = None,
) -> tuple[list[int], list[dict]]:
    """Raise ApplicationError with every field error when this configuration cannot work: what
    the kind declares (channels_app.adapters) decides, as for every kind. `channel_pk`: the
    channel being changed, if it exists."""
    adapter = ADAPTERS.get(kind)
    if adapter is None:
        raise ApplicationError.for_fields({"kind": f"must be one of {', '.join(ADAPTERS)}"})
    errors: dict[str, str] = {}
    rates = {"rate_limit_per_second": rate_limit_per_second, "target_rate_per_second": target_rate_per_second}
    for name, rate in rates.items():
        if rate is not None and rate <= 0:
            errors[name] = "must be greater than 0 (or blank for the provider's stated rate)"
    if audience not in adapter.audiences:
        errors["audience"] = audience_problem(adapter)
    try:
        adapter.validate(config, credentials, audience=audience, strict=True)
    except ConfigError as exc:
        errors.update(exc.errors)
    fallback_ids, normalized_routes, problems = routing_validate(
        channel_pk=channel_pk, kind=kind, fallbacks=fallbacks or [], routes=routes or []
    )
    errors.update(problems)
    if errors:
        raise ApplicationError.for_fields(errors, message=_invalid_message(errors))
    return fallback_ids, normalized_routes


def _invalid_message(errors: dict[str, str]) -> str:
    """One refusal names its reason in the message too; several say where to look."""
    if len(errors) == 1:
        [(field, error)] = errors.items()
        return f"Invalid channel configuration: {field}: {error}"
    return f"Invalid channel configuration: {', '.join(errors)}"


@transaction.atomic
def channel_create(
    *,
    name: str,
    kind: str,
    audience: str | None = None,
    config: dict | None = None,
    credentials: dict | None = None,
    topics=(),
    is_default: bool = False,
    rate_limit_per_second: float | None = None,
    target_rate_per_second: float | None = None,
    fallbacks: list | None = None,
    routes: list | None = None,
    tracking_enabled: bool = True,
) -> Channel:
    """`audience` left out: personal messages where the kind can send them, else broadcast."""
    if kind not in ADAPTERS:
        raise ApplicationError.for_fields({"kind": f"must be one of {', '.join(ADAPTERS)}"})
    channel = Channel(
        name=name,
        kind=kind,
        audience=audience or _default_audience(kind),
        config=dict(config or {}),
        credentials=dict(credentials or {}),
        is_default=is_default,
        rate_limit_per_second=rate_limit_per_second,
        target_rate_per_second=target_rate_per_second,
        fallbacks=list(fallbacks or []),
        routes=list(routes or []),
        tracking_enabled=tracking_enabled,
    )
    _validate_instance(channel)
    _save(channel)
    channel.topics.set(topics)
    return channel


@transaction.atomic
def channel_update(*, channel: Channel, credentials: dict | None = None, topics=None, **fields: Any) -> Channel:
    """Update the given fields; `credentials`, when given, replace the stored ones."""
    unknown = set(fields) - _EDITABLE
    if unknown:
        raise ApplicationError.for_fields(dict.fromkeys(unknown, "cannot be changed"))
    for name, value in fields.items():
        setattr(channel, name, value)
    if credentials is not None:
        channel.credentials = dict(credentials)
    _validate_instance(channel)
    _save(channel)
    if topics is not None:
        channel.topics.set(topics)
    return channel


def _default_audience(kind: str) -> str:
    audiences = ADAPTERS[kind].audiences
    return Channel.Audience.SUBSCRIBERS if Channel.Audience.SUBSCRIBERS in audiences else Channel.Audience.BROADCAST


def _validate_instance(channel: Channel) -> None:
    """Validates, and stores fallbacks and routes normalized (ids, lower-case domains)."""
    channel.fallbacks, channel.routes = channel_validate(
        kind=channel.kind,
        audience=channel.audience,
        config=channel.config,
        credentials=channel.credentials,
        fallbacks=channel.fallbacks,
        routes=channel.routes,
        channel_pk=channel.pk,
        **{name: getattr(channel, name) for name in _RATES},
    )


def _save(channel: Channel) -> None:
    other_default = Channel.objects.filter(kind=channel.kind, is_default=True).exclude(pk=channel.pk)
    if channel.is_default and other_default.exists():
        raise ApplicationError.for_fields({"is_default": f"another {channel.kind} channel is the default"})
    if Channel.objects.filter(name=channel.name).exclude(pk=channel.pk).exists():
        raise ApplicationError.for_fields({"name": "a channel with this name exists"})
    try:
        with transaction.atomic():
            channel.save()
    except IntegrityError as exc:
        # A concurrent request won the race for the same name or default.
        raise ApplicationError("Another change to channels happened at the same time; try again.") from exc


def channel_disable(*, channel: Channel, reason: str) -> Channel:
    """Stop using a channel whose configuration the provider refuses (editors see why in admin)."""
    Channel.objects.filter(pk=channel.pk).update(
        is_active=False, disabled_reason=reason[:2000], disabled_at=timezone.now()
    )
    channel.is_active, channel.disabled_reason = False, reason[:2000]
    logger.warning("channel %s disabled: %s", channel.pk, reason[:200])
    return channel


def channel_enable(*, channel: Channel, actor=None) -> Channel:
    """Back in use, circuit closed (admin role; `actor=None` is the system)."""
    role_require(actor, Role.ADMIN, "Enabling a channel")
    Channel.objects.filter(pk=channel.pk).update(is_active=True, disabled_reason="", disabled_at=None)
    channel.is_active, channel.disabled_reason = True, ""
    circuit_reset(channel)
    return channel


def channel_circuit_reset(*, channel: Channel, actor=None) -> Channel:
    """Close the circuit by hand: sending resumes at once, without waiting for a probe (admin role)."""
    role_require(actor, Role.ADMIN, "Resetting a circuit breaker")
    circuit_reset(channel)
    return channel
