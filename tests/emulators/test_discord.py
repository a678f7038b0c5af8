"""The Discord webhook emulator driven by requests, as a webhook adapter would call it."""

from __future__ import annotations

import pytest
import requests

WAIT = {"wait": "true"}


def embed(**fields) -> dict:
    return {"title": "News", "description": "Body", **fields}


def test_execute_with_wait_returns_the_created_message(discord_emulator):
    url = discord_emulator.webhook_url(webhook_id="111", token="tok", channel_id="999")

    response = requests.post(url, params=WAIT, json={"content": "hello", "embeds": [embed()]}, timeout=5)

    assert response.status_code == 200
    body = response.json()
    assert (body["content"], body["channel_id"], body["webhook_id"], body["embeds"]) == (
        "hello",
        "999",
        "111",
        [embed()],
    )
    [message] = discord_emulator.messages(webhook_id="111")
    assert (message["message_id"], message["content"]) == (body["id"], "hello")


def test_execute_without_wait_answers_204_and_still_records_the_message(discord_emulator):
    response = requests.post(discord_emulator.webhook_url(), json={"content": "quiet"}, timeout=5)

    assert (response.status_code, response.content) == (204, b"")
    assert discord_emulator.stats()["messages_posted"] == 1


def test_the_versioned_path_and_thread_id_are_understood(discord_emulator):
    url = discord_emulator.webhook_url(webhook_id="222", token="tok").replace("/api/", "/api/v10/")

    body = requests.post(url, params={**WAIT, "thread_id": "333"}, json={"content": "in thread"}, timeout=5).json()

    assert body["channel_id"] == "333"


def test_any_numeric_webhook_is_accepted_without_registering_it(discord_emulator):
    url = f"{discord_emulator.endpoint_url}/api/webhooks/123456789/any-token"
    assert requests.post(url, json={"content": "x"}, timeout=5).status_code == 204


def test_a_deleted_or_malformed_webhook_is_unknown_webhook(discord_emulator):
    url = discord_emulator.webhook_url()
    discord_emulator.delete_webhook(url)

    for target in (url, f"{discord_emulator.endpoint_url}/api/webhooks/not-a-snowflake/t"):
        response = requests.post(target, json={"content": "x"}, timeout=5)
        assert (response.status_code, response.json()) == (404, {"code": 10015, "message": "Unknown Webhook"})


def test_a_wrong_token_is_invalid_webhook_token(discord_emulator):
    discord_emulator.webhook_url(webhook_id="444", token="right")

    response = requests.post(
        f"{discord_emulator.endpoint_url}/api/webhooks/444/wrong", json={"content": "x"}, timeout=5
    )

    assert (response.status_code, response.json()["code"]) == (401, 50027)


def nested(error: dict, *path: str) -> dict:
    """Discord's nested error object: {"embeds": {"0": {"title": {"_errors": [error]}}}}."""
    node: dict = {"_errors": [error]}
    for key in reversed(path):
        node = {key: node}
    return node


def too_long(limit: int, *path: str) -> dict:
    return nested({"code": "BASE_TYPE_MAX_LENGTH", "message": f"Must be {limit} or fewer in length."}, *path)


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ({"content": "x" * 2001}, too_long(2000, "content")),
        ({"embeds": [embed()] * 11}, too_long(10, "embeds")),
        ({"embeds": [embed(title="x" * 257)]}, too_long(256, "embeds", "0", "title")),
        ({"embeds": [embed(description="x" * 4097)]}, too_long(4096, "embeds", "0", "description")),
        (
            {"embeds": [embed(fields=[{"name": "n", "value": "v" * 1025}])]},
            too_long(1024, "embeds", "0", "fields", "0", "value"),
        ),
        ({"embeds": [embed(fields=[{"name": "n", "value": "v"}] * 26)]}, too_long(25, "embeds", "0", "fields")),
        (
            {"embeds": [embed(description="x" * 3500), embed(description="y" * 3500)]},
            nested({"code": "MAX_EMBED_SIZE_EXCEEDED", "message": "Embed size exceeds maximum size of 6000"}, "embeds"),
        ),
    ],
)
def test_a_payload_past_discord_limits_is_an_invalid_form_body(discord_emulator, payload, errors):
    response = requests.post(discord_emulator.webhook_url(), json=payload, timeout=5)

    assert response.status_code == 400
    assert response.json() == {"code": 50035, "message": "Invalid Form Body", "errors": errors}
    assert discord_emulator.messages() == []


def test_a_payload_at_discord_limits_is_accepted(discord_emulator):
    fields = [{"name": "n", "value": "v" * 20}] * 25
    payload = {"content": "x" * 2000, "embeds": [embed(title="t" * 256, description="d" * 4096, fields=fields)]}

    assert requests.post(discord_emulator.webhook_url(), json=payload, timeout=5).status_code == 204


@pytest.mark.parametrize(
    ("data", "code"),
    [(b"{not json", 50109), (b"{}", 50006), (b'{"content": ""}', 50006)],
)
def test_an_empty_or_unparsable_body_gets_discord_error_codes(discord_emulator, data, code):
    response = requests.post(
        discord_emulator.webhook_url(), data=data, headers={"Content-Type": "application/json"}, timeout=5
    )
    assert (response.status_code, response.json()["code"]) == (400, code)


def test_the_rate_limit_window_answers_429_with_discord_headers_and_body(discord_emulator):
    discord_emulator.configure(rate_limit="2/10")
    url = discord_emulator.webhook_url()

    remaining = [
        requests.post(url, json={"content": "x"}, timeout=5).headers["X-RateLimit-Remaining"] for _ in range(2)
    ]
    limited = requests.post(url, json={"content": "x"}, timeout=5)

    assert remaining == ["1", "0"]
    assert limited.status_code == 429
    body = limited.json()
    assert (body["message"], body["global"]) == ("You are being rate limited.", False)
    assert 9 < body["retry_after"] <= 10
    assert limited.headers["Retry-After"] == "10"
    assert limited.headers["X-RateLimit-Limit"] == "2"
    assert discord_emulator.stats()["ratelimited"] == 1


def test_fail_next_can_answer_a_global_rate_limit(discord_emulator):
    discord_emulator.configure(fail_next={"code": "global", "retry_after": 2.5})

    response = requests.post(discord_emulator.webhook_url(), json={"content": "x"}, timeout=5)

    assert (response.status_code, response.json()["global"], response.json()["retry_after"]) == (429, True, 2.5)
    assert response.headers["X-RateLimit-Global"] == "true"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_fail_next_answers_a_server_error(discord_emulator, status):
    discord_emulator.configure(fail_next={"status": status})

    response = requests.post(discord_emulator.webhook_url(), json={"content": "x"}, timeout=5)

    assert response.status_code == status
    assert discord_emulator.messages() == []


def test_a_hang_makes_the_client_time_out(discord_emulator):
    discord_emulator.configure(fail_next={"hang_seconds": 1})

    with pytest.raises(requests.Timeout):
        requests.post(discord_emulator.webhook_url(), json={"content": "x"}, timeout=0.2)
