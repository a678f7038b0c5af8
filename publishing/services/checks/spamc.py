"""A small client of SpamAssassin's spamd: the SPAMC protocol's REPORT command over TCP.

Protocol: https://svn.apache.org/repos/asf/spamassassin/trunk/spamd/PROTOCOL
    REPORT SPAMC/1.5\\r\\nContent-length: <n>\\r\\n\\r\\n<message>
answered
    SPAMD/1.1 0 EX_OK\\r\\nContent-length: <n>\\r\\nSpam: True ; 6.4 / 5.0\\r\\n\\r\\n<report>
where the report ends with the table of rule hits (" pts rule name  description").
spamd is Bulletin's own local service (SPAMD_HOST/PORT), not a destination named by data, so
this is a plain socket rather than core.outbound.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass

_STATUS = re.compile(rb"^SPAMD/\d+\.\d+ (\d+) (.*)$")
_SPAM = re.compile(rb"^Spam: (True|False|Yes|No) ; (-?[\d.]+) / (-?[\d.]+)$", re.IGNORECASE)
_RULE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z0-9_]+)\s+(.*\S)?\s*$")
_CONTINUED = re.compile(r"^\s{10,}(\S.*)$")
MAX_MESSAGE_BYTES = 500 * 1024  # spamc's own default limit
MAX_ANSWER_BYTES = 256 * 1024


class SpamdUnavailable(Exception):
    """spamd could not be reached or did not answer as the protocol says."""


@dataclass(frozen=True)
class RuleHit:
    name: str
    score: float
    description: str


@dataclass(frozen=True)
class SpamReport:
    score: float
    threshold: float
    is_spam: bool
    rules: list[RuleHit]


def spamd_report(message: bytes, *, host: str, port: int, timeout: float) -> SpamReport:
    """Score `message` (the raw MIME bytes) with spamd's REPORT command."""
    request = b"REPORT SPAMC/1.5\r\nContent-length: %d\r\n\r\n" % len(message) + message
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(request)
            sock.shutdown(socket.SHUT_WR)
            answer = _read_all(sock)
    except OSError as exc:
        raise SpamdUnavailable(f"spamd at {host}:{port} did not answer: {exc.strerror or exc}") from exc
    return parse_report(answer)


def _read_all(sock: socket.socket) -> bytes:
    chunks, size = [], 0
    while chunk := sock.recv(65536):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            break
    return b"".join(chunks)


def parse_report(answer: bytes) -> SpamReport:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = _STATUS.match(lines[0]) if lines else None
    if status is None:
        raise SpamdUnavailable(f"spamd answered something else than SPAMD/1.x: {lines[0][:60]!r}")
    if status[1] != b"0":
        raise SpamdUnavailable(f"spamd refused the message: {status[1].decode()} {status[2].decode(errors='replace')}")
    spam = next((m for m in map(_SPAM.match, lines[1:]) if m), None)
    if spam is None:
        raise SpamdUnavailable("spamd's answer has no Spam: header")
    return SpamReport(
        score=float(spam[2]),
        threshold=float(spam[3]),
        is_spam=spam[1].lower() in (b"true", b"yes"),
        rules=parse_rules(body.decode("utf-8", errors="replace")),
    )


def parse_rules(report: str) -> list[RuleHit]:
    """The rule hits of the report's table: score, name, description (wrapped lines joined)."""
    rules: list[RuleHit] = []
    in_table = False
    for line in report.splitlines():
        if line.startswith("----"):
            in_table = True
            continue
        if not in_table or not line.strip():
            continue
        if (match := _RULE.match(line)) is not None:
            rules.append(RuleHit(name=match[2], score=float(match[1]), description=(match[3] or "").strip()))
        elif rules and (more := _CONTINUED.match(line)) is not None:
            last = rules[-1]
            rules[-1] = RuleHit(last.name, last.score, f"{last.description} {more[1].strip()}".strip())
    return rules
