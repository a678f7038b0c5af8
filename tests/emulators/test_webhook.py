"""The webhook receiver driven by requests, as the signed-webhook adapter would call it."""

from __future__ import annotations

import time

import pytest
import requests

from tests.emulators.fixtures import WEBHOOK_SECRET
from tests.emulators.webhook import sign

BODY = b'{"event": "publication.published", "id": 7}'


def signed_headers(body: bytes = BODY, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/json",
        "webhook-id": "msg_1",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, "msg_1", timestamp, body),
    }


def post(receiver, path: str = "/hook", body: bytes = BODY, headers: dict | None = None, timeout: float = 5, **kwargs):
    headers = headers or signed_headers(body)
    return requests.post(receiver.url(path), data=body, headers=headers, timeout=timeout, **kwargs)


def test_sign_reproduces_the_standard_webhooks_test_vector():
    signature = sign(WEBHOOK_SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_request_is_recorded_with_method_path_headers_and_body(webhook_receiver):
    response = post(webhook_receiver, "/orders?attempt=2")

    assert response.status_code == 200
    [received] = webhook_receiver.messages(path="/orders")
    assert (received["method"], received["query"], received["body"]) == ("POST", {"attempt": "2"}, BODY.decode())
    assert received["headers"]["webhook-id"] == "msg_1"
    assert (received["signature_valid"], received["signature_error"], received["status"]) == (True, "", 200)


# Headers are signed when the test runs, not when it is collected: a long suite would otherwise
# age every timestamp past the receiver's tolerance before these tests start.
@pytest.mark.parametrize(
    ("make_headers", "body", "error"),
    [  # headers made when the test runs: signed at collection, they age past the tolerance in a long run
        (lambda: signed_headers(BODY), BODY + b" ", "no matching v1 signature"),
        (lambda: signed_headers(BODY, secret="whsec_" + "QUJDREVGR0hJSktMTU5PUA=="), BODY, "no matching v1 signature"),
        (lambda: signed_headers(BODY, timestamp=int(time.time()) - 600), BODY, "timestamp outside the tolerance"),
        (
            lambda: {"Content-Type": "application/json"},
            BODY,
            "missing webhook-id, webhook-timestamp or webhook-signature",
        ),
    ],
    ids=["tampered body", "other secret", "old timestamp", "unsigned"],
)
def test_a_request_not_signed_with_the_secret_is_reported_invalid(webhook_receiver, make_headers, body, error):
    post(webhook_receiver, body=body, headers=make_headers())

    [received] = webhook_receiver.messages()
    assert (received["signature_valid"], received["signature_error"]) == (False, error)
    assert webhook_receiver.stats()["signatures_invalid"] == 1


def test_one_valid_signature_among_several_is_enough_during_secret_rotation(webhook_receiver):
    headers = signed_headers()
    headers["webhook-signature"] = "v1,bm9wZQ== " + headers["webhook-signature"]

    post(webhook_receiver, headers=headers)

    assert webhook_receiver.messages()[0]["signature_valid"] is True


def test_without_a_secret_signatures_are_not_judged(webhook_receiver):
    webhook_receiver.configure(secret=None)
    post(webhook_receiver)
    assert webhook_receiver.messages()[0]["signature_valid"] is None


@pytest.mark.parametrize("status", [200, 204, 410, 500])
def test_the_receiver_answers_the_status_it_is_told(webhook_receiver, status):
    webhook_receiver.respond(status)
    assert post(webhook_receiver).status_code == status


def test_a_429_carries_retry_after(webhook_receiver):
    webhook_receiver.respond(429, retry_after=30)

    response = post(webhook_receiver)

    assert (response.status_code, response.headers["Retry-After"]) == (429, "30")


def test_a_rule_for_one_path_leaves_the_others_alone(webhook_receiver):
    webhook_receiver.respond(410, path="/gone")

    assert (post(webhook_receiver, "/gone").status_code, post(webhook_receiver, "/fine").status_code) == (410, 200)


@pytest.mark.parametrize("status", [301, 302])
def test_a_redirect_shows_whether_the_client_followed_it(webhook_receiver, status):
    webhook_receiver.respond(status, path="/moved")

    response = post(webhook_receiver, "/moved", allow_redirects=False)
    assert (response.status_code, response.headers["Location"]) == (status, webhook_receiver.url("/redirected"))
    assert webhook_receiver.messages(path="/redirected") == []

    post(webhook_receiver, "/moved")  # requests' default follows, and the receiver sees it
    assert len(webhook_receiver.messages(path="/redirected")) == 1


def test_fail_next_answers_errors_then_recovers(webhook_receiver):
    webhook_receiver.configure(fail_next={"status": 503, "count": 2, "retry_after": 5})

    statuses = [post(webhook_receiver).status_code for _ in range(3)]

    assert statuses == [503, 503, 200]
    assert webhook_receiver.stats()["requests"] == {"POST /hook": 3}
    assert len(webhook_receiver.messages()) == 1


def test_a_hang_makes_the_client_time_out(webhook_receiver):
    webhook_receiver.configure(hang_seconds=1)
    with pytest.raises(requests.Timeout):
        post(webhook_receiver, timeout=0.2)
