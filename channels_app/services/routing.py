"""Failover and routing across providers of one kind (e.g. email through SES, Postmark, Mailgun).

- Ordered fallbacks (`Channel.fallbacks`, channel ids): while a channel's circuit is open
  (failures in a row, or at once when the provider pauses the account), its batches go to the
  first fallback whose circuit allows (the pipeline's `_carrier`).
- Routes (`Channel.routes`, [{"domain", "channel"}]): the messages of a batch are grouped by the
  route matching their recipient's domain (exact, case-insensitive); each group goes through its
  route's channel, with that channel's own rate limit, circuit, chunking and fallbacks. Routing
  applies once, on the channel the deliveries belong to: a routed group never follows the route
  channel's own routes.

Either way the delivery stays on its own channel and `sent_via` names the one that carried it,
so the provider's feedback (found by provider message id) lands on it whichever carried it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from channels_app.circuit import circuit_allows
from channels_app.models import Channel
from core.exceptions import ApplicationError

MAX_FALLBACKS = 5
MAX_ROUTES = 50
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def channel_fallback_chain(channel: Channel) -> list[Channel]:
    """The channel's fallbacks in their order, those still usable (active, same kind)."""
    ids = [i for i in channel.fallbacks or [] if isinstance(i, int)]
    found = Channel.objects.in_bulk(ids)
    return [found[i] for i in ids if i in found and found[i].is_active and found[i].kind == channel.kind]


def channel_referrers(channel: Channel) -> list[str]:
    """Why `channel` cannot be deleted: the channels listing it as a fallback or a route
    (a handful of rows; JSON containment is not portable to SQLite)."""
    reasons = []
    for other in Channel.objects.exclude(pk=channel.pk).only("name", "fallbacks", "routes"):
        if channel.pk in (other.fallbacks or []):
            reasons.append(f"{other.name} lists it as a fallback")
        if any(isinstance(r, dict) and r.get("channel") == channel.pk for r in other.routes or []):
            reasons.append(f"{other.name} routes a domain to it")
    return reasons


def channel_delete_check(*, channel: Channel) -> None:
    """Refuse deleting a channel another one still fails over or routes to (409, the reasons)."""
    reasons = channel_referrers(channel)
    if reasons:
        raise ApplicationError(f"{channel.name} is still in use: {'; '.join(reasons)}.", status_code=409)


def failover_ready(head: Channel, *, after: Channel) -> bool:
    """Whether a channel of `head`'s chain other than `after` (whose circuit just opened) would
    take work now: the rest of a stopped batch is then due at once instead of after the cooldown."""
    candidates = [head, *channel_fallback_chain(head)]
    return any(c.pk != after.pk and c.is_active and circuit_allows(c) for c in candidates)


def recipient_domain(recipient: str) -> str:
    return recipient.rsplit("@", 1)[-1].strip().strip(">").lower() if "@" in recipient else ""


def routing_groups(channel: Channel, rows: Iterable) -> list[tuple[Channel, list[int]]]:
    """(channel that sends it, delivery ids) per group; `rows` have `.id` and `.recipient`.
    The channel's own group comes first; a route whose channel is gone or disabled sends
    through the channel itself."""
    routes = {r["domain"]: r["channel"] for r in channel.routes or [] if isinstance(r, dict)}
    targets = Channel.objects.in_bulk(set(routes.values())) if routes else {}
    groups: dict[int, list[int]] = {channel.pk: []}
    for row in rows:
        target = targets.get(routes.get(recipient_domain(row.recipient)))
        usable = target is not None and target.is_active and target.kind == channel.kind
        groups.setdefault(target.pk if usable else channel.pk, []).append(row.id)
    by_pk = {**targets, channel.pk: channel}
    return [(by_pk[pk], ids) for pk, ids in groups.items() if ids]


def routing_validate(
    *, channel_pk: int | None, kind: str, fallbacks: Sequence, routes: Sequence
) -> tuple[list[int], list[dict], dict[str, str]]:
    """Normalized (fallbacks, routes) and the field errors, each naming exactly what is wrong."""
    errors: dict[str, str] = {}
    fallback_ids, problem = _fallbacks_check(channel_pk, kind, fallbacks)
    if problem:
        errors["fallbacks"] = problem
    normalized, problem = _routes_check(channel_pk, kind, routes)
    if problem:
        errors["routes"] = problem
    return fallback_ids, normalized, errors


def _fallbacks_check(channel_pk: int | None, kind: str, fallbacks: Sequence) -> tuple[list[int], str]:
    if not isinstance(fallbacks, list | tuple):
        return [], "must be a list of channel ids, in order"
    ids = [f.pk if isinstance(f, Channel) else f for f in fallbacks]
    if any(not isinstance(i, int) or isinstance(i, bool) for i in ids):
        return [], "must be a list of channel ids, in order"
    if len(ids) > MAX_FALLBACKS:
        return [], f"at most {MAX_FALLBACKS} fallback channels"
    if len(set(ids)) != len(ids):
        return [], "a channel is listed twice"
    if channel_pk is not None and channel_pk in ids:
        return [], "a channel cannot be its own fallback"
    found = Channel.objects.in_bulk(ids)
    for i in ids:
        problem = _usable_problem(found.get(i), i, kind, "fallback")
        if problem:
            return [], problem
    if channel_pk is not None:
        for i in ids:
            if _falls_back_to(found[i], channel_pk):
                return [], f"channel {found[i].name!r} falls back to this channel already: that would be a cycle"
    return ids, ""


def _falls_back_to(start: Channel, target_pk: int) -> bool:
    """Whether `target_pk` is reachable from `start` through fallbacks."""
    seen, frontier = set(), [start]
    while frontier:
        channel = frontier.pop()
        if channel.pk in seen:
            continue
        seen.add(channel.pk)
        nexts = [i for i in channel.fallbacks or [] if isinstance(i, int)]
        if target_pk in nexts:
            return True
        frontier.extend(Channel.objects.in_bulk([i for i in nexts if i not in seen]).values())
    return False


def _routes_check(channel_pk: int | None, kind: str, routes: Sequence) -> tuple[list[dict], str]:
    if not isinstance(routes, list | tuple):
        return [], 'must be a list of {"domain": ..., "channel": <id>}'
    if len(routes) > MAX_ROUTES:
        return [], f"at most {MAX_ROUTES} routes"
    normalized: list[dict] = []
    for n, route in enumerate(routes, start=1):
        if not isinstance(route, dict) or set(route) != {"domain", "channel"}:
            return [], f'route {n}: must be {{"domain": ..., "channel": <id>}}'
        domain, target = str(route["domain"]).strip().lower(), route["channel"]
        target = target.pk if isinstance(target, Channel) else target
        if not _DOMAIN.match(domain):
            return [], f"route {n}: {route['domain']!r} is not a domain name (like gmail.com)"
        if any(r["domain"] == domain for r in normalized):
            return [], f"route {n}: {domain} is routed twice"
        if not isinstance(target, int) or isinstance(target, bool):
            return [], f"route {n}: channel must be a channel id"
        if channel_pk is not None and target == channel_pk:
            return [], f"route {n}: a channel cannot route to itself"
        problem = _usable_problem(Channel.objects.filter(pk=target).first(), target, kind, "route")
        if problem:
            return [], f"route {n}: {problem}"
        normalized.append({"domain": domain, "channel": target})
    return normalized, ""


def _usable_problem(channel: Channel | None, pk: int, kind: str, what: str) -> str:
    if channel is None:
        return f"channel {pk} does not exist"
    if channel.kind != kind:
        return f"channel {channel.name!r} is a {channel.kind} channel: a {what} must be of the same kind ({kind})"
    if not channel.is_active:
        return f"channel {channel.name!r} is disabled"
    return ""
