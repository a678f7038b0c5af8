"""The ESP send API emulators, called over HTTP as each ESP documents its API (paths,
authentication, answers and error bodies), without anymail in between."""

from __future__ import annotations

import requests

KEY = "emulator-key"


def test_postmark_answers_a_message_id_and_refuses_a_wrong_token(postmark_emulator):
    url = f"{postmark_emulator.api_url}/email"
    message = {"From": "a@example.com", "To": "b@example.com", "Subject": "Hi", "TextBody": "x"}
    ok = requests.post(url, json=message, headers={"X-Postmark-Server-Token": KEY}, timeout=5)
    assert ok.status_code == 200
    assert ok.json()["ErrorCode"] == 0 and ok.json()["Message"] == "OK"
    assert postmark_emulator.messages()[0]["message_id"] == ok.json()["MessageID"]
    wrong = requests.post(url, json=message, headers={"X-Postmark-Server-Token": "nope"}, timeout=5)
    assert (wrong.status_code, wrong.json()["ErrorCode"]) == (401, 10)


def test_sendgrid_accepts_with_202_and_an_x_message_id(sendgrid_emulator):
    url = f"{sendgrid_emulator.api_url}mail/send"
    body = {
        "personalizations": [{"to": [{"email": "b@example.com"}], "custom_args": {"anymail_id": "id-1"}}],
        "from": {"email": "a@example.com"},
        "subject": "Hi",
        "content": [{"type": "text/plain", "value": "x"}],
    }
    ok = requests.post(url, json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=5)
    assert ok.status_code == 202 and ok.content == b"" and ok.headers["X-Message-Id"]
    assert sendgrid_emulator.messages()[0]["message_id"] == "id-1"
    wrong = requests.post(url, json=body, headers={"Authorization": "Bearer nope"}, timeout=5)
    assert wrong.status_code == 401 and "authorization grant" in wrong.json()["errors"][0]["message"]


def test_mailgun_queues_a_form_post_for_a_known_domain_only(mailgun_emulator):
    form = {"from": "a@mg.example.com", "to": "b@example.com", "subject": "Hi", "text": "x", "h:List-Id": "L"}
    url = f"{mailgun_emulator.api_url}/mg.example.com/messages"
    ok = requests.post(url, data=form, auth=("api", KEY), timeout=5)
    assert ok.status_code == 200 and ok.json()["message"] == "Queued. Thank you."
    assert ok.json()["id"].startswith("<") and ok.json()["id"].endswith("@mg.example.com>")
    assert mailgun_emulator.messages()[0]["headers"] == {"List-Id": "L"}
    multipart = requests.post(url, files={k: (None, v) for k, v in form.items()}, auth=("api", KEY), timeout=5)
    assert multipart.status_code == 200 and mailgun_emulator.messages()[1]["to"] == "b@example.com"
    other = requests.post(f"{mailgun_emulator.api_url}/other.example/messages", data=form, auth=("api", KEY), timeout=5)
    assert other.status_code == 404 and "Domain not found" in other.json()["message"]
    wrong = requests.post(url, data=form, auth=("api", "x"), timeout=5)
    assert (wrong.status_code, wrong.text) == (401, "Forbidden")


def test_brevo_answers_201_with_a_message_id_and_its_error_codes(brevo_emulator):
    url = f"{brevo_emulator.api_url}smtp/email"
    body = {"sender": {"email": "a@example.com"}, "to": [{"email": "b@example.com"}], "subject": "Hi"}
    ok = requests.post(url, json=body, headers={"api-key": KEY}, timeout=5)
    assert ok.status_code == 201 and ok.json()["messageId"].endswith("@smtp-relay.mailin.fr>")
    wrong = requests.post(url, json=body, headers={"api-key": "nope"}, timeout=5)
    assert (wrong.status_code, wrong.json()["code"]) == (401, "unauthorized")
    brevo_emulator.configure(fail_next={"status": 429})
    throttled = requests.post(url, json=body, headers={"api-key": KEY}, timeout=5)
    assert (throttled.status_code, throttled.json()["code"]) == (429, "too_many_requests")
    assert len(brevo_emulator.messages()) == 1
