"""Which addresses Bulletin may connect to, and the one function that connects.

A target is refused unless every address its name resolves to is public unicast. IPv6
transition forms that carry an IPv4 address (IPv4-mapped and -compatible, NAT64 64:ff9b::/96,
6to4 2002::/16) are judged by the IPv4 address inside them; Teredo, local-use NAT64 and the
other special-purpose blocks are refused outright. The name is resolved once, inside
`create_connection`, and the socket connects to exactly the addresses that were checked, so
nothing can change between the check and the connect (DNS rebinding).

settings.OUTBOUND_ALLOW_PRIVATE_TARGETS turns the address check off for development (the demo
sinks and the test emulators listen on loopback); production settings refuse it.
Special-purpose registries: https://www.iana.org/assignments/iana-ipv4-special-registry/ and
https://www.iana.org/assignments/iana-ipv6-special-registry/
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: (host, port) -> addresses as strings, in the order to try them.
Resolver = Callable[[str, int], Sequence[str]]


class TargetRefused(Exception):
    """The target is not one Bulletin may connect to. Deliberately not an OSError, so HTTP and
    SMTP libraries neither retry it nor wrap it as a connection failure."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _networks(*cidrs: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(cidr) for cidr in cidrs)


# (networks, what to call them in a refusal). IPv4: every non-global special-purpose block.
_REFUSED_V4 = (
    (_networks("0.0.0.0/8"), "unspecified"),
    (_networks("127.0.0.0/8"), "loopback"),
    (_networks("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"), "private"),
    (_networks("100.64.0.0/10"), "shared (carrier-grade NAT)"),
    (_networks("169.254.0.0/16"), "link-local"),
    (_networks("224.0.0.0/4"), "multicast"),
    (_networks("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"), "documentation"),
    (_networks("192.0.0.0/24", "192.88.99.0/24", "198.18.0.0/15", "240.0.0.0/4"), "reserved"),
)
# IPv6: checked before the transition forms (:: and ::1 sit inside IPv4-compatible ::/96).
_REFUSED_V6 = (
    (_networks("::/128"), "unspecified"),
    (_networks("::1/128"), "loopback"),
    (_networks("fe80::/10"), "link-local"),
    (_networks("fc00::/7", "fec0::/10"), "unique-local"),
    (_networks("ff00::/8"), "multicast"),
    (_networks("64:ff9b:1::/48"), "local-use NAT64"),
    (_networks("2001::/23"), "IETF protocol assignment (Teredo, benchmarking, ORCHID)"),
    (_networks("2001:db8::/32", "3fff::/20"), "documentation"),
)
_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")

# Names that never point at the public internet (RFC 6761, RFC 6762, RFC 8375, ICANN's .internal).
_LOCAL_SUFFIXES = (".localhost", ".local", ".localdomain", ".internal", ".home.arpa", ".lan")
_IPV4_PART = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*")


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 transition form carries, if it is one."""
    if address in _MAPPED or address in _COMPATIBLE or address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _SIX_TO_FOUR:
        return ipaddress.IPv4Address((int(address) >> 80) & 0xFFFFFFFF)
    return None


def refusal_label(address: IPAddress) -> str | None:
    """None for a public unicast address, else what kind of address it is."""
    if isinstance(address, ipaddress.IPv4Address):
        return _label_in(address, _REFUSED_V4) or (None if address.is_global else "reserved")
    label = _label_in(address, _REFUSED_V6)
    if label:
        return label
    inner = embedded_ipv4(address)
    if inner is not None:
        inner_label = refusal_label(inner)
        return f"{inner_label} IPv4 {inner} inside IPv6" if inner_label else None
    if address not in _GLOBAL_UNICAST or not address.is_global:
        return "reserved"
    return None


def _label_in(address: IPAddress, table) -> str | None:
    for networks, label in table:
        if any(address in network for network in networks):
            return label
    return None


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address a host names literally, in any spelling the C resolver accepts: IPv6
    (brackets and zone allowed), dotted IPv4, and inet_aton's 127.1, 2130706433, 0x7f.1, 0177.0.0.1."""
    host = host.strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_IPV4_PART.fullmatch(part) for part in parts):
        return None
    values = [_ipv4_part(part) for part in parts]
    *head, last = values
    if any(value > 255 for value in head) or last >= 256 ** (4 - len(head)):
        return None
    number = 0
    for value in head:
        number = number * 256 + value
    return ipaddress.IPv4Address(number * 256 ** (4 - len(head)) + last)


def _ipv4_part(part: str) -> int:
    if part[:2].lower() == "0x":
        return int(part[2:] or "0", 16)
    return int(part, 8 if part.startswith("0") else 10)


def private_targets_allowed() -> bool:
    return bool(getattr(settings, "OUTBOUND_ALLOW_PRIVATE_TARGETS", False))


def check_host(host: str) -> None:
    """Refuse, without resolving, a host that names a non-public place: a non-public address in
    any spelling, localhost and local-only names, single-label names (resolved via search domains)."""
    if private_targets_allowed():
        return
    literal = parse_ip_literal(host)
    if literal is not None:
        label = refusal_label(literal)
        if label:
            raise TargetRefused(f"{host} is a private address ({literal}, {label}); refused")
        return
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(_LOCAL_SUFFIXES) or "." not in name:
        raise TargetRefused(f"{host} is not a public host name; refused")


def host_problem(host: str) -> str | None:
    """check_host's reason as a value (a channel's config errors); None for a host that may be used."""
    try:
        check_host(host)
    except TargetRefused as exc:
        return exc.reason
    return None


# --- resolving and connecting ------------------------------------------------------------


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)))


_resolver: Resolver = system_resolver


@contextmanager
def resolver_override(resolver: Resolver) -> Iterator[None]:
    """Resolve names with `resolver` for a while (tests: DNS answers no real server gives)."""
    global _resolver
    previous, _resolver = _resolver, resolver
    try:
        yield
    finally:
        _resolver = previous


def resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses to connect to, each one checked; TargetRefused if any is not public
    (a name with one private record among public ones is refused whole)."""
    literal = parse_ip_literal(host)
    addresses = [literal] if literal is not None else [ipaddress.ip_address(a) for a in _resolver(host, port)]
    if not addresses:
        raise socket.gaierror(socket.EAI_NONAME, f"{host} has no address")
    if not private_targets_allowed():
        for address in addresses:
            label = refusal_label(address)
            if label:
                raise TargetRefused(f"{host} resolves to a private address ({address}, {label}); refused")
    return addresses


def create_connection(
    address: tuple[str, int],
    timeout: Any = socket._GLOBAL_DEFAULT_TIMEOUT,  # type: ignore[attr-defined]  # socket's own default
    source_address: tuple[str, int] | None = None,
    *,
    socket_options: Sequence[tuple[int, int, int]] = (),
) -> socket.socket:
    """socket.create_connection, resolving through `resolve`: the socket connects to an address
    that was just checked, never to a second answer from DNS. Same signature, so http.client,
    urllib3 and smtplib can use it in place of theirs."""
    host, port = address
    error: OSError | None = None
    for ip in resolve(host, port):
        sock = socket.socket(socket.AF_INET6 if ip.version == 6 else socket.AF_INET, socket.SOCK_STREAM)
        try:
            for option in socket_options:
                sock.setsockopt(*option)
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:  # type: ignore[attr-defined]
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect((str(ip), port))
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    raise error  # type: ignore[misc]  # resolve() returned at least one address
