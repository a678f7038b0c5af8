"""Mailbox providers: which one holds each recipient's mailbox, a pace per provider shared by
every worker, and holding one provider's stream of a send while the others flow.

Classification: the well-known consumer domains from a table; any other domain by its MX
(a company on Google Workspace has `aspmx.l.google.com`), looked up once and kept in
MailboxDomain for MAILBOX_PROVIDER_CACHE_SECONDS, with a small per-process memo in front, so a
batch costs at most one query for the domains the process has not seen lately and an MX lookup
only for a domain nobody has seen. A domain whose lookup fails counts as "other" for a minute
(not stored: it is not a fact about the domain).

The send loop asks only when it has something to do with the answer: an email channel, and
MAILBOX_PROVIDER_RATES set or a hold on one of the batch's sends. Otherwise it costs nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction

from channels_app.dns import DnsUnavailable, mx_hosts
from channels_app.models import MailboxDomain, MailboxProvider, ProviderHold, Send
from channels_app.ratelimit import ChannelLimiter, Reservation, reserve
from channels_app.services.routing import recipient_domain
from core.clock import clock
from core.exceptions import ApplicationError
from core.roles import Role, role_require

Provider = MailboxProvider

WELL_KNOWN: Mapping[str, str] = {
    **dict.fromkeys(["gmail.com", "googlemail.com"], Provider.GMAIL),
    **dict.fromkeys(
        [
            "outlook.com",
            "hotmail.com",
            "live.com",
            "msn.com",
            "hotmail.co.uk",
            "hotmail.fr",
            "live.co.uk",
            "outlook.fr",
        ],
        Provider.OUTLOOK,
    ),
    **dict.fromkeys(
        ["yahoo.com", "ymail.com", "rocketmail.com", "yahoo.co.uk", "yahoo.fr", "yahoo.de", "aol.com"], Provider.YAHOO
    ),
    **dict.fromkeys(["icloud.com", "me.com", "mac.com"], Provider.APPLE),
}
# MX host suffixes of each provider's hosted mail (https://support.google.com/a/answer/174125,
# Microsoft 365 "<tenant>.mail.protection.outlook.com", Yahoo "*.yahoodns.net", iCloud custom
# domains "mx01.mail.icloud.com").
MX_SUFFIXES: Sequence[tuple[str, str]] = (
    ("google.com", Provider.GMAIL),
    ("googlemail.com", Provider.GMAIL),
    ("outlook.com", Provider.OUTLOOK),
    ("hotmail.com", Provider.OUTLOOK),
    ("yahoodns.net", Provider.YAHOO),
    ("icloud.com", Provider.APPLE),
)
# Reserved for documentation and testing (RFC 2606, RFC 6761): no mailbox provider, no lookup.
RESERVED_DOMAINS = frozenset({"example.com", "example.net", "example.org"})
RESERVED_SUFFIXES = (".example", ".invalid", ".localhost", ".local")
_FAILED_LOOKUP_SECONDS = 60.0
_LOOKUP_THREADS = 16
HELD_REASON_PREFIX = "held: mailbox provider "
_MEMO_SECONDS = 300.0


def provider_of_mx(hosts: Sequence[str]) -> str:
    for host in hosts:
        for suffix, provider in MX_SUFFIXES:
            if host == suffix or host.endswith("." + suffix):
                return provider
    return Provider.OTHER


class _Memo:
    """domain → (provider, expires at) in this process; a dict under a lock."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, domain: str) -> str | None:
        found = self._known.get(domain)
        return found[0] if found and found[1] > time.monotonic() else None

    def put(self, domain: str, provider: str, seconds: float) -> None:
        with self._lock:
            if len(self._known) > 100_000:
                self._known.clear()
            self._known[domain] = (provider, time.monotonic() + seconds)

    def clear(self) -> None:
        with self._lock:
            self._known.clear()


_memo = _Memo()


def mailbox_providers_for(domains: Iterable[str]) -> dict[str, str]:
    """Each domain's provider: table, memo, MailboxDomain (fresh rows), then MX for the rest."""
    answer: dict[str, str] = {}
    unknown: set[str] = set()
    for domain in {d.lower() for d in domains}:
        found = WELL_KNOWN.get(domain) or _memo.get(domain)
        if found:
            answer[domain] = found
        elif not domain or domain in RESERVED_DOMAINS or domain.endswith(RESERVED_SUFFIXES) or "." not in domain:
            answer[domain] = Provider.OTHER
        else:
            unknown.add(domain)
    if unknown:
        fresh_since = clock.now() - timedelta(seconds=settings.MAILBOX_PROVIDER_CACHE_SECONDS)
        for row in MailboxDomain.objects.filter(domain__in=unknown, resolved_at__gte=fresh_since):
            answer[row.domain] = row.provider
            _memo.put(row.domain, row.provider, _MEMO_SECONDS)
        answer.update(mailbox_domains_resolve(domains=sorted(unknown - answer.keys())))
    return answer


def mailbox_domains_resolve(*, domains: Sequence[str]) -> dict[str, str]:
    """Look the domains' MX up now, several at once (a batch of new company domains costs about
    one lookup's time, not one per domain), and keep the answers; a DNS failure is not kept."""
    if not domains:
        return {}
    with ThreadPoolExecutor(max_workers=min(_LOOKUP_THREADS, len(domains))) as pool:
        looked_up = list(zip(domains, pool.map(_mx_or_none, domains), strict=True))
    answer: dict[str, str] = {}
    for domain, hosts in looked_up:
        if hosts is None:
            _memo.put(domain, Provider.OTHER, _FAILED_LOOKUP_SECONDS)
            answer[domain] = Provider.OTHER
            continue
        answer[domain] = provider_of_mx(hosts)
        MailboxDomain.objects.update_or_create(
            domain=domain,
            defaults={"provider": answer[domain], "mx": hosts[0][:253] if hosts else "", "resolved_at": clock.now()},
        )
        _memo.put(domain, answer[domain], _MEMO_SECONDS)
    return answer


def _mx_or_none(domain: str) -> list[str] | None:
    try:
        return mx_hosts(domain)
    except DnsUnavailable:
        return None


def provider_for_address(address: str) -> str:
    domain = recipient_domain(address)
    return mailbox_providers_for([domain])[domain]


# --- the send loop's two hooks --------------------------------------------------------------


class _ActiveHolds:
    """(send id, provider) of every active hold, read at most once per HOLDS_REFRESH_SECONDS
    per process: holds are rare, and a batch must not pay a query to learn there are none.
    A hold placed a moment ago may let a batch through in that window (the guard itself acts
    on feedback that arrives minutes after sending)."""

    def __init__(self) -> None:
        self._holds: frozenset[tuple[int, str]] = frozenset()
        self._read_at = float("-inf")

    def get(self) -> frozenset[tuple[int, str]]:
        if time.monotonic() - self._read_at >= HOLDS_REFRESH_SECONDS:
            rows = ProviderHold.objects.filter(released_at__isnull=True).values_list("send_id", "provider")
            self._holds, self._read_at = frozenset(rows), time.monotonic()
        return self._holds

    def forget(self) -> None:
        self._read_at = float("-inf")


HOLDS_REFRESH_SECONDS = 2.0
_active_holds = _ActiveHolds()


def mailbox_streams_wanted(*, renders_email: bool, send_ids: Iterable[int]) -> frozenset[tuple[int, str]] | None:
    """None when the batch needs no provider split (not email, no pacing, no hold); else the
    (send id, provider) holds of these sends (maybe none)."""
    if not renders_email:
        return None
    sends = set(send_ids)
    held = frozenset(h for h in _active_holds.get() if h[0] in sends)
    if held:  # the memo may be stale: what holds now decides
        held = frozenset(
            ProviderHold.objects.filter(send_id__in=sends, released_at__isnull=True).values_list("send_id", "provider")
        )
    if not held and not settings.MAILBOX_PROVIDER_RATES:
        return None
    return held


def mailbox_hold_batch(batch, held: frozenset[tuple[int, str]]) -> None:
    """Defer the batch's deliveries to a provider held for their send (not spending an attempt),
    looked at again after MAILBOX_PROVIDER_HOLD_SECONDS; the rest of the batch goes on."""
    rows = [(send_id, row) for send_id, rows in batch.rows.items() for row in rows]
    providers = mailbox_providers_for(recipient_domain(row.recipient) for _, row in rows)
    by_provider: dict[str, list[int]] = {}
    for send_id, row in rows:
        provider = providers[recipient_domain(row.recipient)]
        if (send_id, provider) in held:
            by_provider.setdefault(provider, []).append(row.id)
    for provider, ids in by_provider.items():
        reason = f"{HELD_REASON_PREFIX}{provider}: the deliverability guard paused this provider's stream"
        batch.defer(ids, wait=settings.MAILBOX_PROVIDER_HOLD_SECONDS, reason=reason)


def mailbox_groups(messages: Sequence) -> list[tuple[str, list]]:
    """Messages (`.recipient`) grouped by provider: the unpaced providers first, then the paced
    ones fastest first, so a slow provider's waits never hold up the others' mail."""
    providers = mailbox_providers_for(recipient_domain(m.recipient) for m in messages)
    groups: dict[str, list] = {}
    for message in messages:
        groups.setdefault(providers[recipient_domain(message.recipient)], []).append(message)
    rates = settings.MAILBOX_PROVIDER_RATES
    return sorted(groups.items(), key=lambda group: -rates.get(group[0], float("inf")))


@dataclass(frozen=True)
class ProviderPacedLimiter(ChannelLimiter):
    """The channel's limiter plus one provider's pace on the same account, reserved atomically
    in one call (the provider is the reservation's one "target"). The pipeline still sees a
    limiter without per-target rate, so it chunks and reserves bursts as usual; `rate` is the
    slower of the two (chunks sized for it), `ceiling_rate` the channel's own."""

    ceiling_rate: float = 0.0
    provider_key: str = ""
    provider_rate: float = 0.0

    @property
    def burst_units(self) -> float:
        return min(super().burst_units, max(self.provider_rate, 1.0))

    def target(self, message) -> str:
        return self.provider_key

    def reserve(self, chunk: Sequence) -> Reservation:
        units = len(chunk)
        return reserve(
            key=self.key,
            rate_per_second=self.ceiling_rate,
            burst=self.burst if self.burst is not None else self.ceiling_rate,
            targets={self.provider_key: units},
            target_rate=self.provider_rate,
            target_burst=max(self.provider_rate, float(units)),
            # waiting for a provider's pace is waiting like for the ceiling's; longer: deferred
            target_max_wait=settings.RATE_LIMIT_MAX_WAIT_SECONDS,
        )


def mailbox_paced(limiter: ChannelLimiter, provider: str) -> ChannelLimiter:
    rate = settings.MAILBOX_PROVIDER_RATES.get(provider) if provider else None
    if not rate or limiter.target_rate:  # per-conversation channels are not mailboxes
        return limiter
    return ProviderPacedLimiter(
        key=limiter.key,
        rate=min(limiter.rate, float(rate)),
        burst=limiter.burst,
        target_rate=None,
        target_burst=limiter.target_burst,
        target_of=limiter.target_of,
        ceiling_rate=limiter.rate,
        provider_key=f"{limiter.key}:mailbox:{provider}",
        provider_rate=float(rate),
    )


# --- holds ----------------------------------------------------------------------------------


def provider_hold(*, send: Send, provider: str, reason: str) -> ProviderHold | None:
    """Hold one provider's deliveries of a send (the guard); None when already held."""
    if provider not in Provider.values:
        raise ApplicationError(f"Unknown mailbox provider {provider!r}.", extra={"fields": {"provider": "unknown"}})
    with transaction.atomic():
        if ProviderHold.objects.select_for_update().filter(send=send, provider=provider, released_at=None).exists():
            return None
        hold = ProviderHold.objects.create(send=send, provider=provider, reason=reason[:2000])
    _active_holds.forget()  # this process sees it at once; the others within HOLDS_REFRESH_SECONDS
    return hold


@transaction.atomic
def provider_hold_release(*, hold: ProviderHold, actor=None) -> ProviderHold:
    """A publisher decided: the held deliveries go again (they are due at once)."""
    role_require(actor, Role.PUBLISHER, "Releasing a mailbox provider hold")
    from channels_app.models import Delivery

    updated = ProviderHold.objects.filter(pk=hold.pk, released_at=None).update(released_at=clock.now())
    if not updated:
        raise ApplicationError("This hold was already released.")
    hold.refresh_from_db(fields=["released_at"])
    _active_holds.forget()
    Delivery.objects.filter(
        send_id=hold.send_id, state=Delivery.State.QUEUED, last_error__startswith=HELD_REASON_PREFIX
    ).update(next_attempt_at=clock.now())
    return hold
