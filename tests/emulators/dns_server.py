"""A small authoritative DNS server for tests, built on dnspython's message API: UDP, and TCP
for answers too big for a datagram (the resolver retries over TCP when the answer is truncated,
as a DKIM key of 2048 bits makes it).

    server = DnsServer().start()          # 127.0.0.1, a free port (UDP and TCP alike)
    server.add("acme.test", "MX", "10 aspmx.l.google.com.")
    server.add_txt("s1._domainkey.acme.test", "v=DKIM1; k=rsa; p=...")
    settings.DNS_NAMESERVERS, settings.DNS_PORT = [server.host], server.port

A name with no records is NXDOMAIN; a name with records of other types answers NOERROR with
no answer; a name added with `fail()` answers SERVFAIL. `queries` counts every question asked
(pins "looked up once"). `good_domain()` / `broken_dkim_domain()` fill a From domain's zone.
Run alone: `python -m tests.emulators.dns_server --port 5353` serves the demo zones.
"""

from __future__ import annotations

import argparse
import base64
import socketserver
import struct
import threading
from collections import Counter, defaultdict

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

TTL = 300


def _name(text: str) -> dns.name.Name:
    return dns.name.from_text(text.lower())


def dkim_public_key() -> str:
    """A real RSA public key (SubjectPublicKeyInfo, base64), as a DKIM p= carries it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


class DnsServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.records: dict[dns.name.Name, list[dns.rdata.Rdata]] = defaultdict(list)
        self.failing: set[dns.name.Name] = set()
        self.queries: Counter[tuple[str, str]] = Counter()
        self.lock = threading.Lock()
        self._udp = socketserver.ThreadingUDPServer((host, port), self._udp_handler())
        self.port = self._udp.server_address[1]
        self._tcp = socketserver.ThreadingTCPServer((host, self.port), self._tcp_handler(), bind_and_activate=False)
        self._tcp.allow_reuse_address = True
        self._tcp.server_bind()
        self._tcp.server_activate()
        self._threads: list[threading.Thread] = []

    # --- zone data ---------------------------------------------------------------------------
    def add(self, name: str, rdtype: str, text: str) -> None:
        rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rdtype), text)
        with self.lock:
            self.records[_name(name)].append(rdata)

    def add_txt(self, name: str, value: str) -> None:
        """One TXT record; values over 255 bytes are split in character-strings, as zone files do."""
        chunks = [value[i : i + 255] for i in range(0, len(value), 255)] or [""]
        self.add(name, "TXT", " ".join('"' + c.replace('"', '\\"') + '"' for c in chunks))

    def fail(self, name: str) -> None:
        with self.lock:
            self.failing.add(_name(name))

    def clear(self) -> None:
        with self.lock:
            self.records.clear()
            self.failing.clear()
            self.queries.clear()

    def good_domain(self, domain: str, *, selector: str = "s1", spf: str = "include:amazonses.com") -> None:
        """SPF, a valid DKIM key at `selector`, DMARC with a policy, and an MX."""
        self.add_txt(domain, f"v=spf1 {spf} ~all")
        self.add_txt(f"{selector}._domainkey.{domain}", f"v=DKIM1; k=rsa; p={dkim_public_key()}")
        self.add_txt(f"_dmarc.{domain}", f"v=DMARC1; p=quarantine; rua=mailto:dmarc@{domain}")
        self.add(domain, "MX", f"10 mx.{domain}.")

    def broken_dkim_domain(self, domain: str, *, selector: str = "s1") -> None:
        """Like good_domain, but the DKIM key was cut short when pasted (not a readable key)."""
        self.add_txt(domain, "v=spf1 include:amazonses.com ~all")
        self.add_txt(f"{selector}._domainkey.{domain}", f"v=DKIM1; k=rsa; p={dkim_public_key()[:120]}")
        self.add_txt(f"_dmarc.{domain}", f"v=DMARC1; p=quarantine; rua=mailto:dmarc@{domain}")

    # --- answering ---------------------------------------------------------------------------
    def answer(self, wire: bytes, *, max_size: int = 65535) -> bytes:
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        with self.lock:
            self.queries[(question.name.to_text(omit_final_dot=True), dns.rdatatype.to_text(question.rdtype))] += 1
            if question.name in self.failing:
                response.set_rcode(dns.rcode.SERVFAIL)
                return response.to_wire()
            rdatas = list(self.records.get(question.name, []))
        if not rdatas:
            response.set_rcode(dns.rcode.NXDOMAIN)
        matching = [r for r in rdatas if r.rdtype == question.rdtype]
        if matching:
            response.answer.append(dns.rrset.from_rdata_list(question.name, TTL, matching))
        try:
            return response.to_wire(max_size=max_size)
        except dns.exception.TooBig:
            response.answer.clear()
            response.flags |= dns.flags.TC  # the resolver asks again over TCP
            return response.to_wire()

    def _udp_handler(self):
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                sock.sendto(server.answer(data, max_size=512), self.client_address)

        return Handler

    def _tcp_handler(self):
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                header = self.request.recv(2)
                if len(header) < 2:
                    return
                (length,) = struct.unpack("!H", header)
                data = b""
                while len(data) < length:
                    more = self.request.recv(length - len(data))
                    if not more:
                        return
                    data += more
                reply = server.answer(data)
                self.request.sendall(struct.pack("!H", len(reply)) + reply)

        return Handler

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> DnsServer:
        for srv in (self._udp, self._tcp):
            srv.daemon_threads = True
            thread = threading.Thread(target=srv.serve_forever, daemon=True, name="dns-emulator")
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for srv in (self._udp, self._tcp):
            srv.shutdown()
            srv.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Authoritative test DNS server (UDP+TCP).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5353)
    args = parser.parse_args()
    server = DnsServer(args.host, args.port).start()
    server.good_domain("good.bulletin.test")
    server.broken_dkim_domain("broken.bulletin.test")
    server.add("gmail-hosted.bulletin.test", "MX", "1 aspmx.l.google.com.")
    print(f"DNS on {args.host}:{server.port} (udp+tcp): good.bulletin.test, broken.bulletin.test", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
