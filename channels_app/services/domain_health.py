"""Domain health of each From domain Bulletin sends from: SPF, DKIM (the selectors configured on
the channel), DMARC and List-Unsubscribe readiness, looked up through channels_app.dns, each
with what to fix and the exact DNS record to add. Re-checked daily (beat) and on demand in
admin; a failing domain is a pre-send warning (publishing/services/checks/domains.py).

Gmail's and Yahoo's bulk sender rules (2024): SPF or DKIM aligned with the From domain, a DMARC
record, one-click unsubscribe. https://support.google.com/a/answer/81126
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction

from channels_app.adapters import ADAPTERS
from channels_app.adapters.fields import addr_spec
from channels_app.dns import DnsUnavailable, mx_hosts, txt_records
from channels_app.models import Channel, DomainHealth
from core.clock import clock
from core.roles import Role, role_require

logger = logging.getLogger(__name__)
OK, WARNING, FAILING, UNKNOWN = (s.value for s in DomainHealth.Status)

# The include each ESP asks for in the From domain's SPF (their setup guides).
ESP_SPF_INCLUDE = {
    "amazon_ses": "amazonses.com",
    "postmark": "spf.mtasv.net",
    "sendgrid": "sendgrid.net",
    "mailgun": "mailgun.org",
    "brevo": "spf.brevo.com",
}


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    found: str = ""
    problem: str = ""
    fix: str = ""
    record: dict | None = None  # {"name", "type", "value"}: the exact record to add


def _record(name: str, rdtype: str, value: str) -> dict:
    return {"name": f"{name}.", "type": rdtype, "value": value}


# --- SPF ------------------------------------------------------------------------------------


def check_spf(domain: str, *, esp: str = "") -> Check:
    spf = [t for t in txt_records(domain) if t.lower().startswith("v=spf1")]
    include = ESP_SPF_INCLUDE.get(esp, "")
    wanted = f"v=spf1 include:{include} ~all" if include else "v=spf1 mx ~all"
    if not spf:
        return Check(
            "spf", FAILING, problem="No SPF record.", fix="Add one TXT record.", record=_record(domain, "TXT", wanted)
        )
    if len(spf) > 1:
        return Check(
            "spf",
            FAILING,
            found=" | ".join(spf),
            problem=f"{len(spf)} SPF records: receivers treat that as a permanent error (RFC 7208 §4.5).",
            fix="Merge them into one TXT record and delete the others.",
            record=_record(domain, "TXT", wanted),
        )
    terms = spf[0].lower().split()
    if "+all" in terms or "all" in terms:
        return Check(
            "spf",
            FAILING,
            found=spf[0],
            problem="'+all' lets anyone send as this domain.",
            fix="End it with ~all.",
            record=_record(
                domain, "TXT", " ".join(t for t in spf[0].split() if t.lower() not in ("+all", "all")) + " ~all"
            ),
        )
    if include and f"include:{include}" not in terms:
        merged = " ".join([terms[0], f"include:{include}", *spf[0].split()[1:]])
        return Check(
            "spf",
            WARNING,
            found=spf[0],
            problem=f"Does not include {include}, which your ESP sends from.",
            fix="Add the include to the existing record (do not add a second record).",
            record=_record(domain, "TXT", merged),
        )
    return Check("spf", OK, found=spf[0])


# --- DKIM -----------------------------------------------------------------------------------


def _dkim_tags(value: str) -> dict[str, str]:
    tags = {}
    for part in value.split(";"):
        name, _, tag_value = part.partition("=")
        if name.strip():
            tags[name.strip().lower()] = "".join(tag_value.split())
    return tags


def _dkim_key_problem(tags: dict[str, str]) -> str:
    if tags.get("v", "DKIM1") != "DKIM1":
        return f"v={tags['v']} is not DKIM1."
    if "p" not in tags:
        return "No p= (public key) tag."
    if not tags["p"]:
        return "p= is empty: the key is revoked."
    try:
        der = base64.b64decode(tags["p"], validate=True)
    except (binascii.Error, ValueError):
        return "p= is not valid base64: the key was probably cut short or mangled when pasted."
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    if tags.get("k", "rsa") == "ed25519":
        return "" if len(der) == 32 else "p= is not a 32-byte Ed25519 key."
    try:
        key = load_der_public_key(der)
    except ValueError:
        return (
            "p= is not a readable RSA public key: it was probably cut short when pasted "
            "(a 2048-bit key is ~392 characters)."
        )
    size = getattr(key, "key_size", 0)
    return f"The RSA key has {size} bits; receivers want at least 1024 (2048 recommended)." if size < 1024 else ""


def _dkim_fix_record(domain: str, selector: str, esp: str) -> dict:
    name = f"{selector}._domainkey.{domain}"
    if esp == "amazon_ses":  # SES Easy DKIM publishes the key behind a CNAME
        return _record(name, "CNAME", f"{selector}.dkim.amazonses.com.")
    return _record(name, "TXT", f"v=DKIM1; k=rsa; p=<the public key your ESP shows for selector {selector}>")


def check_dkim(domain: str, selector: str, *, esp: str = "") -> Check:
    name = f"dkim:{selector}"
    records = [
        t for t in txt_records(f"{selector}._domainkey.{domain}") if "p=" in t or t.lower().startswith("v=dkim1")
    ]
    fix_record = _dkim_fix_record(domain, selector, esp)
    if not records:
        return Check(
            name,
            FAILING,
            problem=f"No DKIM key at {selector}._domainkey.{domain}.",
            fix="Publish the key your ESP signs with for this selector.",
            record=fix_record,
        )
    problem = _dkim_key_problem(_dkim_tags(records[0]))
    if problem:
        return Check(
            name,
            FAILING,
            found=records[0][:120],
            problem=problem,
            fix=(
                "Replace the record with the whole key from your ESP, in one TXT value "
                "(split in 255-character strings if your DNS host asks)."
            ),
            record=fix_record,
        )
    return Check(name, OK, found=records[0][:120])


def check_dkim_configured(domain: str, selectors: list[str], *, esp: str = "") -> list[Check]:
    if not selectors:
        return [
            Check(
                "dkim",
                WARNING,
                problem="No DKIM selector is configured on the channel, so DKIM cannot be checked.",
                fix="Set the channel's 'DKIM selectors' to the selectors your ESP signs with (e.g. s1, s2).",
            )
        ]
    return [check_dkim(domain, selector, esp=esp) for selector in selectors]


# --- DMARC ----------------------------------------------------------------------------------


def check_dmarc(domain: str) -> Check:
    records = [t for t in txt_records(f"_dmarc.{domain}") if t.replace(" ", "").upper().startswith("V=DMARC1")]
    wanted = _record(f"_dmarc.{domain}", "TXT", f"v=DMARC1; p=none; rua=mailto:dmarc-reports@{domain}")
    if not records:
        return Check(
            "dmarc",
            FAILING,
            problem="No DMARC record: Gmail and Yahoo require one of bulk senders.",
            fix="Add it (p=none to start; tighten to quarantine once the reports are clean).",
            record=wanted,
        )
    if len(records) > 1:
        return Check(
            "dmarc",
            FAILING,
            found=" | ".join(records),
            problem="More than one DMARC record: receivers ignore them all.",
            fix="Keep one.",
            record=wanted,
        )
    policy = _dkim_tags(records[0]).get("p", "").lower()
    if policy not in ("none", "quarantine", "reject"):
        return Check(
            "dmarc",
            FAILING,
            found=records[0],
            problem="The record has no valid p= policy.",
            fix="Replace it.",
            record=wanted,
        )
    if policy == "none":
        return Check(
            "dmarc",
            WARNING,
            found=records[0],
            problem="p=none only monitors; spoofed mail still lands.",
            fix="Move to p=quarantine once the aggregate reports show only your senders.",
            record=_record(f"_dmarc.{domain}", "TXT", records[0].replace("p=none", "p=quarantine")),
        )
    return Check("dmarc", OK, found=records[0])


# --- List-Unsubscribe -----------------------------------------------------------------------


def check_list_unsubscribe() -> Check:
    """The headers are always added (channels_app.rendering); what they need is ours to serve:
    RFC 8058's one-click URL must be HTTPS, and a mailto address must receive mail."""
    if urlsplit(settings.SITE_URL).scheme != "https":
        return Check(
            "list_unsubscribe",
            FAILING,
            found=settings.SITE_URL,
            problem="One-click unsubscribe (RFC 8058) needs an HTTPS URL; SITE_URL is not HTTPS.",
            fix="Serve Bulletin over HTTPS and set SITE_URL to its https:// address.",
        )
    mailto = settings.LIST_UNSUBSCRIBE_MAILTO
    if not mailto:
        return Check(
            "list_unsubscribe",
            OK,
            found=f"{settings.SITE_URL} (one-click)",
            problem="",
            fix="Optional: set LIST_UNSUBSCRIBE_MAILTO for clients that only use the mailto form.",
        )
    mail_domain = mailto.rpartition("@")[2]
    if not mx_hosts(mail_domain):
        return Check(
            "list_unsubscribe",
            FAILING,
            found=mailto,
            problem=f"{mail_domain} has no MX: unsubscribe mails to {mailto} cannot arrive.",
            fix="Point its MX at your ESP's inbound mail (then the inbound webhook posts them to Bulletin).",
            record=_record(mail_domain, "MX", "10 <your ESP's inbound mail host>."),
        )
    return Check("list_unsubscribe", OK, found=f"{settings.SITE_URL} (one-click), mailto:{mailto}")


# --- the whole domain -----------------------------------------------------------------------


def domain_checks(domain: str, *, selectors: list[str], esp: str = "") -> list[Check]:
    return [
        check_spf(domain, esp=esp),
        *check_dkim_configured(domain, selectors, esp=esp),
        check_dmarc(domain),
        check_list_unsubscribe(),
    ]


def _overall(checks: list[Check]) -> str:
    statuses = {c.status for c in checks}
    return next((s for s in (FAILING, WARNING) if s in statuses), OK)


def channel_from_domain(channel: Channel) -> str:
    return addr_spec(str(channel.config.get("from_email", ""))).rpartition("@")[2].lower()


def channel_dkim_selectors(channel: Channel) -> list[str]:
    raw = str(channel.config.get("dkim_selectors", ""))
    return [s.strip().lower() for s in raw.replace(" ", ",").split(",") if s.strip()]


def email_sender_domains() -> dict[str, list[Channel]]:
    """From domain → the active email channels sending from it."""
    domains: dict[str, list[Channel]] = {}
    kinds = [kind for kind, adapter in ADAPTERS.items() if adapter.renders_email]
    for channel in Channel.objects.filter(kind__in=kinds, is_active=True).order_by("pk"):
        domain = channel_from_domain(channel)
        if domain:
            domains.setdefault(domain, []).append(channel)
    return domains


def domain_health_check(*, domain: str, channels: list[Channel], actor=None) -> DomainHealth:
    """Check one From domain now (every selector its channels configure) and keep the result.
    DNS being away keeps the last result, marked unknown only when there is none."""
    role_require(actor, Role.EDITOR, "Checking a domain's health")
    selectors = sorted({s for c in channels for s in channel_dkim_selectors(c)})
    esp = next((str(c.config.get("esp", "")) for c in channels if c.config.get("esp")), "")
    try:
        checks = domain_checks(domain, selectors=selectors, esp=esp)
    except DnsUnavailable as exc:
        logger.warning("domain health of %s not checked: %s", domain, exc)
        health, _ = DomainHealth.objects.get_or_create(domain=domain, defaults={"dkim_selectors": selectors})
        return health
    with transaction.atomic():
        health, _ = DomainHealth.objects.update_or_create(
            domain=domain,
            defaults={
                "status": _overall(checks),
                "checks": [asdict(c) for c in checks],
                "dkim_selectors": selectors,
                "checked_at": clock.now(),
            },
        )
        health.channels.set(channels)
    return health


def domain_health_refresh_all(*, actor=None) -> list[DomainHealth]:
    """Every From domain of the active email channels (the daily beat task, admin's button)."""
    role_require(actor, Role.EDITOR, "Checking the domains' health")
    return [domain_health_check(domain=d, channels=chs) for d, chs in email_sender_domains().items()]
