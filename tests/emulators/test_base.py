"""What the emulators share: the HTTP control API, the CLI, keep-alive, reset and the limiters."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

import pytest
import requests

from tests.emulators.limits import FixedWindow, TokenBucket
from tests.emulators.sesv2 import SESv2Emulator
from tests.emulators.webhook import WebhookReceiver


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def control(emulator, method: str, action: str, **kwargs) -> requests.Response:
    return requests.request(method, f"{emulator.endpoint_url}/_emulator/{action}", timeout=5, **kwargs)


def test_the_control_api_configures_reports_lists_and_resets_over_http(ses_emulator):
    config = control(ses_emulator, "POST", "config", json={"latency_ms": 5, "reject": ["x@example.com"]}).json()
    assert (config["latency_ms"], config["reject"]) == (5.0, ["x@example.com"])

    client_body = {
        "FromEmailAddress": "news@example.com",
        "Destination": {"ToAddresses": ["a@example.com"]},
        "Content": {"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "t"}}}},
    }
    requests.post(f"{ses_emulator.endpoint_url}/v2/email/outbound-emails", json=client_body, timeout=5)

    assert control(ses_emulator, "GET", "stats").json()["by_recipient"] == {"a@example.com": 1}
    assert [m["subject"] for m in control(ses_emulator, "GET", "messages", params={"to": "a@example.com"}).json()] == [
        "s"
    ]
    assert control(ses_emulator, "POST", "reset").json() == {"ok": True}
    assert control(ses_emulator, "GET", "stats").json()["messages_accepted"] == 0
    assert control(ses_emulator, "GET", "config").json()["latency_ms"] == 0


def test_an_unknown_option_is_refused_over_http_and_in_process(ses_emulator):
    response = control(ses_emulator, "POST", "config", json={"latency": 5})
    assert (response.status_code, response.json()) == (400, {"error": "unknown options: ['latency']"})
    with pytest.raises(ValueError, match="unknown fail_next keys"):
        ses_emulator.configure(fail_next={"times": 2})


def test_fail_next_specs_are_used_in_order_and_shown_in_the_config(webhook_receiver):
    webhook_receiver.configure(fail_next=[{"status": 500}, {"status": 429, "count": 2}])
    assert [fault["count"] for fault in webhook_receiver.config()["fail_next"]] == [1, 2]

    statuses = [requests.post(webhook_receiver.url(), timeout=5).status_code for _ in range(4)]

    assert statuses == [500, 429, 429, 200]
    assert webhook_receiver.config()["fail_next"] == []


def test_a_fault_with_after_lets_that_many_requests_through_first(webhook_receiver):
    webhook_receiver.configure(fail_next={"status": 503, "count": 2, "after": 2})

    statuses = [requests.post(webhook_receiver.url(), timeout=5).status_code for _ in range(5)]

    assert statuses == [200, 200, 503, 503, 200]


def test_many_requests_share_one_keep_alive_connection(webhook_receiver):
    connection = http.client.HTTPConnection(urlsplit(webhook_receiver.endpoint_url).netloc, timeout=5)
    sockets = set()
    for _ in range(5):
        connection.request("POST", "/hook", body=b"{}")
        response = connection.getresponse()
        response.read()
        sockets.add(id(connection.sock))
        assert response.getheader("Connection") == "keep-alive"
    connection.close()

    assert len(sockets) == 1
    assert webhook_receiver.stats()["received"] == 5


def test_reset_drops_a_request_still_waiting_out_its_latency(webhook_receiver):
    webhook_receiver.configure(latency_ms=500)
    outcome = []

    def slow_post() -> None:
        try:
            outcome.append(requests.post(webhook_receiver.url(), timeout=5).status_code)
        except requests.ConnectionError:
            outcome.append("closed")

    thread = threading.Thread(target=slow_post)
    thread.start()
    while not webhook_receiver.stats()["requests"]:  # wait until it is in flight
        time.sleep(0.01)
    webhook_receiver.reset()
    thread.join()

    assert outcome == ["closed"]
    assert webhook_receiver.messages() == []


def test_two_emulators_get_different_free_ports_and_stop_cleanly():
    with SESv2Emulator() as first, WebhookReceiver() as second:
        assert first.endpoint_url != second.endpoint_url
        url = second.url()
    with pytest.raises(requests.ConnectionError):
        requests.post(url, timeout=1)


@pytest.mark.parametrize(
    ("module", "args", "expected_config"),
    [
        (
            "sesv2",
            ["--latency-ms", "20", "--rate", "500", "--no-store"],
            {"rate_per_second": 500.0, "store_messages": False},
        ),
        ("slack", ["--token", "xoxb-cli", "--rate-per-channel", "1"], {"rate_per_channel": 1.0}),
        ("discord", ["--rate-limit", "5/2"], {"rate_limit": {"limit": 5, "window": 2.0}}),
        (
            "webhook",
            ["--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "--status", "204"],
            {"tolerance_seconds": 300.0},
        ),
    ],
)
def test_the_cli_prints_its_endpoint_first_and_stops_on_sigterm(module, args, expected_config):
    command = [sys.executable, "-m", f"tests.emulators.{module}", "--host", "127.0.0.1", "--port", "0", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        first_line = json.loads(process.stdout.readline())
        config = requests.get(f"{first_line['endpoint_url']}/_emulator/config", timeout=5).json()
        assert expected_config.items() <= config.items()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_the_token_bucket_lets_a_burst_through_then_refills_at_the_rate():
    clock = FakeClock()
    bucket = TokenBucket(rate=2, clock=clock)

    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.5]
    clock.now = 0.5
    assert bucket.take() == 0.0


def test_the_token_bucket_charges_a_many_recipient_send_into_debt_like_ses():
    clock = FakeClock()
    bucket = TokenBucket(rate=1, clock=clock)

    assert bucket.take(5) == 0.0  # one token left is enough to send to five
    assert bucket.take() == 5.0  # and then nothing for five seconds
    clock.now = 5.0
    assert bucket.take() == 0.0


def test_the_fixed_window_counts_down_and_resets():
    clock = FakeClock()
    window = FixedWindow(limit=2, window=10, clock=clock)

    assert [window.take(), window.take(), window.take()] == [0.0, 0.0, 10.0]
    assert window.remaining == 0
    clock.now = 10.0
    assert (window.take(), window.remaining) == (0.0, 1)
