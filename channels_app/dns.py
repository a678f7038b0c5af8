"""The one DNS resolver Bulletin asks (dnspython), configured by settings so tests and sealed
networks point it at their own nameserver: DNS_NAMESERVERS (blank: resolv.conf), DNS_PORT,
DNS_TIMEOUT_SECONDS. https://dnspython.readthedocs.io/en/stable/resolver-class.html

Answers come back as plain strings; "no such name" and "no records of that type" are an empty
list (a fact about the domain), while a timeout or a server failure raises DnsUnavailable (we do
not know, so nothing is concluded from it).
"""

from __future__ import annotations

import dns.exception
import dns.resolver
from django.conf import settings


class DnsUnavailable(Exception):
    pass


def resolver() -> dns.resolver.Resolver:
    configured = bool(settings.DNS_NAMESERVERS)
    answer = dns.resolver.Resolver(configure=not configured)
    if configured:
        answer.nameservers = list(settings.DNS_NAMESERVERS)
    answer.port = settings.DNS_PORT
    answer.timeout = answer.lifetime = settings.DNS_TIMEOUT_SECONDS
    answer.cache = None  # our callers cache what they learn, with their own lifetimes
    return answer


def _query(name: str, rdtype: str):
    try:
        return list(resolver().resolve(name, rdtype, search=False))
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.exception.Timeout, dns.resolver.NoNameservers, dns.resolver.LifetimeTimeout) as exc:
        raise DnsUnavailable(f"DNS lookup of {name} {rdtype} failed: {exc}") from exc
    except dns.exception.DNSException as exc:  # a malformed name, a bad answer
        raise DnsUnavailable(f"DNS lookup of {name} {rdtype} failed: {exc}") from exc


def mx_hosts(domain: str) -> list[str]:
    """The domain's mail exchangers, most preferred first, lowercase without the final dot."""
    records = sorted(_query(domain, "MX"), key=lambda r: r.preference)
    return [r.exchange.to_text(omit_final_dot=True).lower() for r in records]


def txt_records(name: str) -> list[str]:
    """Each TXT record as one string (its character-strings joined, as SPF and DKIM read them)."""
    return [b"".join(r.strings).decode("utf-8", "replace") for r in _query(name, "TXT")]
