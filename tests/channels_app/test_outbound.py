"""core.outbound, the one layer every outbound connection goes through (issue 11 item 7).

Which targets are refused (every private range, IPv6 transition forms, odd IPv4 spellings, names
that resolve to private addresses), that each adapter kind goes through it (refused with the
development setting off, reaching the local emulator with it on), that the socket connects to
the address that was checked (a resolver answering public, then private), and that what a
provider answers is only ever kept as a short reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.test import override_settings

from channels_app.adapters.base import MessageTemplate, ProviderError, RenderedMessage
from channels_app.adapters.discord import DiscordAdapter
from channels_app.adapters.email import EmailAdapter
from channels_app.adapters.slack import SlackAdapter
from channels_app.adapters.webhook import WebhookAdapter
from channels_app.models import Channel
from core.outbound import TargetRefused, check_host, create_connection, resolver_override, short_reason
from core.outbound.addresses import parse_ip_literal, refusal_label
from core.outbound.checks import check_outbound_private_targets
from core.outbound.http import MAX_BODY_BYTES, OutboundSession, check_url
from core.roles import Role
from subscribers.validators import validate_webhook_url
from tests.emulators.fixtures import SLACK_TOKEN, WEBHOOK_SECRET
from tests.factories import ChannelFactory

PUBLIC = "93.184.215.14"  # a public address (no test ever reaches it: see _ConnectRecorder)

REFUSED_ADDRESSES = [
    # IPv4 special-purpose blocks
    ("0.0.0.0", "unspecified"),
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.254", "private"),
    ("192.168.0.10", "private"),
    ("100.64.0.1", "shared"),
    ("169.254.169.254", "link-local"),
    ("224.0.0.251", "multicast"),
    ("239.255.255.250", "multicast"),
    ("192.0.2.7", "documentation"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.7", "documentation"),
    ("192.0.0.170", "reserved"),
    ("198.18.0.1", "reserved"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    # IPv6
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"),
    ("fc00::1", "unique-local"),
    ("fd12:3456:789a::1", "unique-local"),
    ("fec0::1", "unique-local"),
    ("ff02::1", "multicast"),
    ("2001:db8::1", "documentation"),
    ("100::1", "reserved"),
    # IPv6 transition forms carrying a private IPv4, and the ones refused whole
    ("::ffff:127.0.0.1", "loopback IPv4 127.0.0.1 inside IPv6"),
    ("::ffff:a9fe:a9fe", "link-local IPv4 169.254.169.254 inside IPv6"),
    ("::127.0.0.1", "loopback IPv4"),  # IPv4-compatible (deprecated)
    ("::10.0.0.1", "private IPv4"),
    ("64:ff9b::127.0.0.1", "loopback IPv4"),  # NAT64 well-known prefix
    ("64:ff9b::a9fe:a9fe", "link-local IPv4 169.254.169.254"),
    ("64:ff9b:1::1", "local-use NAT64"),
    ("2002:7f00:1::1", "loopback IPv4 127.0.0.1"),  # 6to4
    ("2002:a9fe:a9fe::", "link-local IPv4 169.254.169.254"),
    ("2002:c0a8:1::1", "private IPv4 192.168.0.1"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
    ("2001::1", "Teredo"),
]
PUBLIC_ADDRESSES = ["8.8.8.8", PUBLIC, "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"]

REFUSED_URLS = [
    "http://2130706433/",  # 127.0.0.1 in decimal
    "http://0x7f000001/",  # in hex
    "http://017700000001/",  # in octal
    "http://0177.0.0.1/",
    "http://0x7f.0.0.1/",
    "http://127.1/",
    "http://127.0.1/",
    "http://0/",
    "http://127.0.0.1./",
    "http://2852039166/latest/meta-data/",  # 169.254.169.254 in decimal
    "http://0xa9fea9fe/",
    "http://0251.0376.0251.0376/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:8080/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[0:0:0:0:0:ffff:127.0.0.1]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[2002:7f00:1::]/",
    "http://[fe80::1%25eth0]/",
    "http://localhost:8000/",
    "http://LOCALHOST/",
    "http://api.localhost/",
    "http://printer.local/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://intranet/",
    "ftp://example.com/file",
    "file:///etc/passwd",
    "gopher://example.com:70/",
    "javascript:alert(1)",
    "http:///no-host",
    "http://example.com:notaport/",
]


@pytest.fixture
def private_targets_refused(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_TARGETS = False


# --- which addresses -----------------------------------------------------------------------


@pytest.mark.parametrize(("address", "label"), REFUSED_ADDRESSES)
def test_private_reserved_and_transition_addresses_are_refused(address, label):
    assert label in (refusal_label(parse_ip_literal(address)) or "")


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
def test_public_addresses_are_allowed_including_transition_forms_of_public_ipv4(address):
    assert refusal_label(parse_ip_literal(address)) is None


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_private_hosts_in_any_spelling_and_non_http_urls_are_refused_before_any_network(url, private_targets_refused):
    with pytest.raises(TargetRefused):
        check_url(url)


@pytest.mark.parametrize(
    "url", ["https://hooks.example.com/x", "http://93.184.215.14:8080/", "https://[2606:4700::1]/"]
)
def test_public_http_urls_pass_the_static_check(url, private_targets_refused):
    check_url(url)


@pytest.mark.parametrize(("address", "label"), REFUSED_ADDRESSES)
def test_a_name_resolving_to_a_refused_address_is_never_connected_to(address, label, private_targets_refused):
    with resolver_override(lambda host, port: [address]), pytest.raises(TargetRefused, match="private address"):
        create_connection(("hooks.example.com", 80), timeout=1)


def test_a_name_with_one_private_record_among_public_ones_is_refused_whole(private_targets_refused):
    with resolver_override(lambda host, port: [PUBLIC, "10.0.0.5"]), pytest.raises(TargetRefused, match="10.0.0.5"):
        create_connection(("hooks.example.com", 80), timeout=1)


def test_localhost_resolved_by_the_system_resolver_is_refused(private_targets_refused):
    with pytest.raises(TargetRefused, match="loopback"):
        create_connection(("localhost", 80), timeout=1)


def test_the_development_setting_lets_loopback_through(webhook_receiver, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_TARGETS = True
    check_host("localhost")
    with OutboundSession() as session:
        assert session.post(webhook_receiver.url("/dev"), data=b"{}").status_code == 200
    assert len(webhook_receiver.messages()) == 1


CHANNEL_PAYLOADS = {
    "slack-base_url": (
        {
            "kind": "slack",
            "config": {"channel": "C1", "base_url": "http://[::ffff:a9fe:a9fe]/api/"},
            "credentials": {"token": "xoxb-1"},
        },
        "base_url",
    ),
    "ses-endpoint_url": (
        {
            "kind": "email",
            "config": {"esp": "amazon_ses", "from_email": "a@example.com", "endpoint_url": "http://2852039166/"},
        },
        "endpoint_url",
    ),
    "smtp-host": (
        {"kind": "email", "config": {"esp": "smtp", "from_email": "a@example.com", "host": "10.0.0.25"}},
        "host",
    ),
    "discord-url": ({"kind": "discord", "credentials": {"url": "http://[64:ff9b::7f00:1]/api/webhooks/1/x"}}, "url"),
    "webhook-url": (
        {
            "kind": "webhook",
            "config": {"url": "http://metadata.google.internal/"},
            "credentials": {"secret": WEBHOOK_SECRET},
        },
        "url",
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", CHANNEL_PAYLOADS)
def test_a_channel_naming_a_private_target_is_a_400_with_the_field_and_nothing_is_written(
    case, client_for, private_targets_refused
):
    payload, field = CHANNEL_PAYLOADS[case]
    audience = "subscribers" if payload["kind"] == "email" else "broadcast"
    body = {"name": case, "audience": audience, "credentials": {}, **payload}
    response = client_for(Role.ADMIN).post("/api/v1/publishing/channels", body, format="json")
    assert response.status_code == 400, response.json()
    assert "private" in str(response.json()["extra"]["fields"][field]) or "public" in str(
        response.json()["extra"]["fields"][field]
    )
    assert not Channel.objects.exists()


@pytest.mark.parametrize(
    "url",
    ["https://[::ffff:127.0.0.1]/h", "https://[64:ff9b::a9fe:a9fe]/h", "https://0x7f.1/h", "https://db.internal/h"],
)
def test_a_personal_webhook_naming_a_private_target_is_refused_at_input(url, private_targets_refused):
    with pytest.raises(ValidationError):
        validate_webhook_url(url)


# --- every adapter kind goes through the layer ------------------------------------------------


@dataclass
class Target:
    adapter: Any
    message: RenderedMessage
    received: Any  # () -> how many requests/sessions reached the local server


TEMPLATE = MessageTemplate(key="t", subject="Hi", html="<p>Hi</p>", text="Hi")


def _email(config: dict, credentials: dict | None = None) -> EmailAdapter:
    return EmailAdapter(config={"from_email": "News <news@example.com>", **config}, credentials=credentials or {})


def _target(kind: str, request: pytest.FixtureRequest, rename: str = "127.0.0.1") -> Target:
    """An adapter of `kind` pointing at its local emulator (as `rename` instead of 127.0.0.1)."""

    def named(url: str) -> str:
        return url.replace("127.0.0.1", rename)

    payload = RenderedMessage(1, "", payload={"text": "hi", "content": "hi"})
    email = RenderedMessage(1, "ada@example.com", template=TEMPLATE, variables={})
    if kind == "slack":
        slack = request.getfixturevalue("slack_emulator")
        adapter = SlackAdapter(
            config={"base_url": named(slack.url), "channel": "C0NEWS01"}, credentials={"token": SLACK_TOKEN}
        )
        return Target(adapter, payload, lambda: sum(slack.stats()["requests"].values()))
    if kind == "ses":
        ses = request.getfixturevalue("ses_emulator")
        keys = {"aws_access_key_id": "AKIATEST", "aws_secret_access_key": "secret"}
        adapter = _email({"esp": "amazon_ses", "endpoint_url": named(ses.endpoint_url), "region": "us-east-1"}, keys)
        return Target(adapter, email, lambda: sum(ses.stats()["requests"].values()))
    if kind == "smtp":
        smtp = request.getfixturevalue("smtp_server")
        adapter = _email({"esp": "smtp", "host": rename, "port": smtp.port, "use_tls": False})
        return Target(adapter, email, smtp.connections)
    if kind == "anymail-esp":  # an ESP's api_url given in the channel's credentials
        receiver = request.getfixturevalue("webhook_receiver")
        adapter = _email({"esp": "postmark"}, {"server_token": "t", "api_url": named(receiver.url("/postmark/"))})
        return Target(adapter, email, lambda: len(receiver.messages()))
    if kind == "discord":
        discord = request.getfixturevalue("discord_emulator")
        adapter = DiscordAdapter(config={}, credentials={"url": named(discord.webhook_url())})
        return Target(adapter, payload, lambda: sum(discord.stats()["requests"].values()))
    receiver = request.getfixturevalue("webhook_receiver")
    if kind == "webhook":
        adapter = WebhookAdapter(config={"url": named(receiver.url("/hook"))}, credentials={"secret": WEBHOOK_SECRET})
        return Target(adapter, payload, lambda: len(receiver.messages()))
    # a subscriber's personal webhook: the URL is the message's recipient
    adapter = WebhookAdapter(config={}, credentials={"secret": WEBHOOK_SECRET})
    return Target(
        adapter, RenderedMessage(1, named(receiver.url("/theirs")), payload={"t": 1}), lambda: len(receiver.messages())
    )


KINDS = ["slack", "ses", "smtp", "anymail-esp", "discord", "webhook", "personal-webhook"]


def _send(target: Target) -> str:
    """The adapter's refusal or failure reason ('' when it sent)."""
    try:
        [result] = target.adapter.send_batch([target.message])
    except ProviderError as exc:
        return f"{type(exc).__name__}: {exc.message}"
    return "" if result.ok else f"permanent={result.permanent}: {result.error}"


@pytest.mark.parametrize("kind", KINDS)
def test_every_adapter_kind_refuses_a_private_target_when_the_development_setting_is_off(
    kind, request, private_targets_refused
):
    target = _target(kind, request)
    outcome = _send(target)
    if kind == "personal-webhook":  # only that subscriber's message fails
        assert outcome.startswith("permanent=True") and "private address" in outcome
    else:
        assert outcome.startswith("UnsafeTargetError") and "127.0.0.1" in outcome
    assert target.received() == 0


@pytest.mark.parametrize("kind", KINDS)
def test_every_adapter_kind_reaches_its_local_emulator_when_the_development_setting_is_on(kind, request, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_TARGETS = True
    target = _target(kind, request)
    outcome = _send(target)
    assert target.received() == 1
    if kind != "anymail-esp":  # the webhook receiver does not speak Postmark's API
        assert outcome == ""


# --- no DNS-rebinding window ----------------------------------------------------------------


class _ConnectRecorder:
    """Records socket.connect calls (a Python audit event) and refuses those to PUBLIC, so a test
    sees where a client connects without ever leaving the machine."""

    active: list[tuple[str, int]] | None = None

    @classmethod
    def hook(cls, event: str, args: tuple) -> None:
        if event != "socket.connect" or cls.active is None or not isinstance(args[1], tuple):
            return
        cls.active.append(tuple(args[1][:2]))
        if args[1][0] == PUBLIC:
            raise ConnectionRefusedError("the test's public address is not really reached")


sys.addaudithook(_ConnectRecorder.hook)


@pytest.fixture
def connects():
    _ConnectRecorder.active = []
    yield _ConnectRecorder.active
    _ConnectRecorder.active = None


class RebindingResolver:
    """Answers a public address the first time it is asked and loopback after that."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls += 1
        return [PUBLIC] if self.calls == 1 else ["127.0.0.1"]


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_connects_to_the_address_it_validated_not_to_a_second_dns_answer(
    kind, request, connects, private_targets_refused
):
    target = _target(kind, request, rename="provider.example.com")
    resolver = RebindingResolver()
    with resolver_override(resolver):
        outcome = _send(target)
    ports = {port for _, port in connects}
    assert [host for host, _ in connects] == [PUBLIC] * len(connects) and len(ports) == 1, connects
    assert resolver.calls == 1, "the name is resolved once, for both the check and the connect"
    assert target.received() == 0, "nothing reached the loopback server the second answer names"
    assert outcome, "the public address refused the connection (as the recorder arranged)"


# --- what a provider answers is kept short ----------------------------------------------------

HTML_PAGE = (
    "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1>"
    "<p>upstream said: token xoxb-1234-5678-abcdefghijkl</p>" + "<p>padding</p>" * 500 + "</body></html>"
)


def test_an_html_error_page_from_a_webhook_receiver_is_not_recorded(webhook_receiver):
    webhook_receiver.respond(502, body=HTML_PAGE)
    adapter = WebhookAdapter(config={"url": webhook_receiver.url("/hook")}, credentials={"secret": WEBHOOK_SECRET})
    [result] = adapter.send_batch([RenderedMessage(1, "", payload={"t": 1})])
    assert not result.ok and result.error.startswith("HTTP 502")
    assert "<" not in result.error and "xoxb" not in result.error and len(result.error) <= 200


def test_a_discord_error_keeps_its_json_message_only(discord_emulator):
    discord_emulator.configure(fail_next={"count": 1, "status": 404})
    adapter = DiscordAdapter(config={}, credentials={"url": discord_emulator.webhook_url()})
    with pytest.raises(ProviderError) as refused:
        adapter.send_batch([RenderedMessage(1, "", payload={"content": "hi"})])
    assert refused.value.message == "Discord webhook answered HTTP 404 Not Found: Unknown Webhook"


def test_an_html_page_from_a_slack_base_url_never_reaches_the_error(httpserver):
    httpserver.expect_request("/api/chat.postMessage").respond_with_data(
        HTML_PAGE, status=502, content_type="text/html"
    )
    adapter = SlackAdapter(
        config={"base_url": httpserver.url_for("/api/"), "channel": "C1"}, credentials={"token": SLACK_TOKEN}
    )
    [result] = adapter.send_batch([RenderedMessage(1, "", payload={"text": "hi"})])
    assert not result.ok and "HTTP 502" in result.error
    assert "<" not in result.error and "xoxb" not in result.error and "Bad Gateway</" not in result.error


def test_a_slack_base_url_redirect_is_not_followed(httpserver):
    httpserver.expect_request("/api/chat.postMessage").respond_with_data(
        "", status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/"}
    )
    adapter = SlackAdapter(
        config={"base_url": httpserver.url_for("/api/"), "channel": "C1"}, credentials={"token": SLACK_TOKEN}
    )
    [result] = adapter.send_batch([RenderedMessage(1, "", payload={"text": "hi"})])
    assert not result.ok and "HTTP 302" in result.error
    assert len(httpserver.log) == 1


def test_a_huge_body_is_read_only_up_to_the_limit(httpserver):
    httpserver.expect_request("/big").respond_with_data(b"x" * (MAX_BODY_BYTES * 3))
    with OutboundSession() as session:
        response = session.get(httpserver.url_for("/big"))
    assert len(response.content) == MAX_BODY_BYTES


def test_environment_proxies_are_not_used(httpserver, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    httpserver.expect_request("/direct").respond_with_data("ok")
    with OutboundSession() as session:
        assert session.get(httpserver.url_for("/direct")).text == "ok"


@pytest.mark.parametrize(
    ("raw", "kept", "gone"),
    [
        ("Slack error: invalid_auth for xoxb-123-456-abcdef", "Slack error: invalid_auth", "xoxb"),
        ("posting to https://discord.com/api/webhooks/1/SECRETTOKEN?wait=true", "https://discord.com/…", "SECRET"),
        ("HTTP 500: <html><body>stack trace</body></html>", "HTTP 500: (HTML omitted)", "stack"),
        ("Authorization: Bearer abcdefghijklmnop", "Authorization: [redacted]", "abcdefghijklmnop"),
        ("key " + "A" * 40, "key [redacted]", "AAAA"),
        ("line one\nline\ttwo\x00", "line one line two", "\n"),
        ("SMTP 550: <p@example.com> unknown", "SMTP 550: <p@example.com> unknown", "omitted"),
    ],
)
def test_reasons_are_one_line_without_html_urls_paths_or_credentials(raw, kept, gone):
    reason = short_reason(raw)
    assert kept in reason and gone not in reason


def test_reasons_are_capped():
    assert len(short_reason("word " * 1000)) == 300


@pytest.mark.django_db
def test_a_channel_test_answer_shows_only_the_short_reason(client_for, webhook_receiver):
    webhook_receiver.respond(500, body=HTML_PAGE)
    channel = ChannelFactory(
        kind="webhook",
        audience="broadcast",
        config={"url": webhook_receiver.url("/hook")},
        credentials={"secret": WEBHOOK_SECRET},
    )
    response = client_for(Role.ADMIN).post(f"/api/v1/publishing/channels/{channel.pk}/test", {}, format="json")
    assert response.status_code == 502
    body = response.json()
    assert body["extra"]["error"].startswith("HTTP 500")
    assert "<" not in body["message"] and "xoxb" not in body["message"] and len(body["message"]) < 400


# --- production refuses the development setting ----------------------------------------------


def test_the_deploy_check_fails_while_private_targets_are_allowed():
    with override_settings(OUTBOUND_ALLOW_PRIVATE_TARGETS=True):
        assert [e.id for e in check_outbound_private_targets(None)] == ["bulletin.E101"]
    with override_settings(OUTBOUND_ALLOW_PRIVATE_TARGETS=False):
        assert check_outbound_private_targets(None) == []


def test_production_settings_refuse_the_development_setting():
    env = {k: v for k, v in os.environ.items() if k != "BULLETIN_VAR_DIR"} | {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "x" * 60,
        "ALLOWED_HOSTS": "bulletin.example.com",
        "OUTBOUND_ALLOW_PRIVATE_TARGETS": "true",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "OUTBOUND_ALLOW_PRIVATE_TARGETS is for development only" in result.stderr
