"""The Slack emulator driven by slack-sdk's WebClient."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.emulators.fixtures import SLACK_TOKEN

CHANNEL = "C0123456789"
SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "*News*"}}


@pytest.fixture
def slack(slack_emulator):
    return WebClient(token=SLACK_TOKEN, base_url=slack_emulator.url)


def slack_error(call) -> tuple[str, int]:
    with pytest.raises(SlackApiError) as excinfo:
        call()
    return excinfo.value.response["error"], excinfo.value.response.status_code


def test_post_message_answers_like_slack_and_records_channel_text_blocks_and_thread(slack, slack_emulator):
    response = slack.chat_postMessage(channel=CHANNEL, text="News", blocks=[SECTION], thread_ts="1700000000.000100")

    assert (response["ok"], response["channel"]) == (True, CHANNEL)
    assert response["message"]["blocks"] == [SECTION]
    [message] = slack_emulator.messages(channel=CHANNEL)
    assert (message["text"], message["blocks"], message["thread_ts"]) == ("News", [SECTION], "1700000000.000100")
    assert message["ts"] == response["ts"]


def test_post_message_with_a_form_body_and_the_token_in_it_is_accepted(slack_emulator):
    anonymous = WebClient(base_url=slack_emulator.url)

    response = anonymous.api_call("chat.postMessage", params={"token": SLACK_TOKEN, "channel": CHANNEL, "text": "form"})

    assert response["ok"]
    assert slack_emulator.messages()[0]["text"] == "form"


def test_post_message_to_a_member_id_lands_in_their_dm_channel(slack, slack_emulator):
    response = slack.chat_postMessage(channel="U0AAAAAAAA", text="just you")

    assert response["channel"] == "D0AAAAAAAA"
    assert slack_emulator.stats()["by_channel"] == {"D0AAAAAAAA": 1}


def test_conversations_open_returns_the_dm_channel_of_a_member(slack):
    assert slack.conversations_open(users="W0BBBBBBBB")["channel"]["id"] == "D0BBBBBBBB"


def test_auth_test_names_the_bot_and_its_team(slack):
    response = slack.auth_test()
    assert (response["team_id"], response["bot_id"]) == ("T0EMULATOR", "B0EMULATOR")


def test_ts_values_strictly_increase_and_record_when_each_message_arrived(slack, slack_emulator):
    for n in range(5):
        slack.chat_postMessage(channel=CHANNEL, text=str(n))

    ts = [float(message["ts"]) for message in slack_emulator.messages(channel=CHANNEL)]
    assert ts == sorted(set(ts)) and len(ts) == 5
    assert len(slack_emulator.timestamps(CHANNEL)) == 5


@pytest.mark.parametrize("status", ["invalid_auth", "token_revoked", "account_inactive"])
def test_a_token_in_a_bad_state_gets_that_error(slack_emulator, status):
    slack_emulator.set_token("xoxb-other", status)
    client = WebClient(token="xoxb-other", base_url=slack_emulator.url)

    assert slack_error(lambda: client.chat_postMessage(channel=CHANNEL, text="x")) == (status, 200)
    assert slack_emulator.messages() == []


def test_an_unknown_token_is_invalid_auth(slack_emulator):
    client = WebClient(token="xoxb-unknown", base_url=slack_emulator.url)
    assert slack_error(lambda: client.auth_test()) == ("invalid_auth", 200)


def test_a_malformed_or_unregistered_channel_is_channel_not_found(slack, slack_emulator):
    assert slack_error(lambda: slack.chat_postMessage(channel="#nowhere", text="x")) == ("channel_not_found", 200)
    slack_emulator.configure(strict_channels=True)
    assert slack_error(lambda: slack.chat_postMessage(channel=CHANNEL, text="x")) == ("channel_not_found", 200)


def test_a_registered_channel_resolves_by_name_and_one_the_bot_left_is_not_in_channel(slack, slack_emulator):
    slack_emulator.add_channel("C0GENERAL1", name="general")
    slack_emulator.add_channel("C0PRIVATE1", member=False)

    assert slack.chat_postMessage(channel="#general", text="x")["channel"] == "C0GENERAL1"
    assert slack_error(lambda: slack.chat_postMessage(channel="C0PRIVATE1", text="x")) == ("not_in_channel", 200)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"text": "x" * 40_001}, "msg_too_long"),
        ({"blocks": [SECTION] * 51}, "invalid_blocks"),
        ({"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]}, "invalid_blocks"),
        ({"blocks": [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}]}, "invalid_blocks"),
        ({"blocks": [{"type": "sparkles"}]}, "invalid_blocks"),
        ({"text": ""}, "no_text"),
    ],
)
@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing:UserWarning")
def test_content_past_slack_limits_is_refused(slack, slack_emulator, kwargs, error):
    assert slack_error(lambda: slack.chat_postMessage(channel=CHANNEL, **kwargs)) == (error, 200)
    assert slack_emulator.stats()["errors"] == {error: 1}


def test_blocks_at_slack_limits_are_accepted(slack):
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3000}}] * 50
    assert slack.chat_postMessage(channel=CHANNEL, text="x", blocks=blocks)["ok"]


def test_invalid_blocks_name_the_problem_with_a_json_pointer(slack):
    blocks = [SECTION, {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    with pytest.raises(SlackApiError) as excinfo:
        slack.chat_postMessage(channel=CHANNEL, text="x", blocks=blocks)
    assert excinfo.value.response["errors"] == ["must be less than 3001 characters [json-pointer:/blocks/1/text/text]"]


def test_the_per_channel_rate_limit_answers_429_with_retry_after_and_webclient_does_not_retry(slack, slack_emulator):
    slack_emulator.configure(rate_per_channel=1)
    slack.chat_postMessage(channel=CHANNEL, text="first")

    with pytest.raises(SlackApiError) as excinfo:
        slack.chat_postMessage(channel=CHANNEL, text="too soon")

    response = excinfo.value.response
    assert (response.status_code, response["error"], response.headers["Retry-After"]) == (429, "ratelimited", "1")
    assert slack.chat_postMessage(channel="C0OTHER0001", text="other channel")["ok"]
    stats = slack_emulator.stats()
    assert stats["requests"] == {"chat.postMessage": 3}
    assert stats["ratelimited_by_channel"] == {CHANNEL: 1}


def test_the_workspace_ceiling_limits_every_conversation_together(slack, slack_emulator):
    slack_emulator.configure(rate_per_channel=1, workspace_rate_per_minute=60, workspace_burst=3)
    members = [f"U0MEMBER{i:03d}" for i in range(4)]
    for member in members[:3]:  # three conversations at once: within the workspace's burst
        assert slack.chat_postMessage(channel=member, text="hi")["ok"]

    error, status = slack_error(lambda: slack.chat_postMessage(channel=members[3], text="one too many"))

    assert (error, status) == ("ratelimited", 429)
    stats = slack_emulator.stats()
    assert (stats["ratelimited_workspace"], stats["ratelimited_by_channel"], stats["ratelimited"]) == (1, {}, 1)
    assert stats["by_channel"] == {"D" + m[1:]: 1 for m in members[:3]}


def test_fail_next_can_force_ratelimited_with_a_retry_after(slack, slack_emulator):
    slack_emulator.configure(fail_next={"code": "ratelimited", "retry_after": 30})

    with pytest.raises(SlackApiError) as excinfo:
        slack.chat_postMessage(channel=CHANNEL, text="x")

    assert (excinfo.value.response.status_code, excinfo.value.response.headers["Retry-After"]) == (429, "30")
    assert slack.chat_postMessage(channel=CHANNEL, text="x")["ok"]


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ({"code": "invalid_auth"}, ("invalid_auth", 200)),
        ({"code": "token_revoked"}, ("token_revoked", 200)),
        ({"status": 500}, ("internal_error", 500)),
        ({"status": 503}, ("service_unavailable", 503)),
    ],
)
def test_fail_next_answers_the_next_call_with_the_given_error(slack, slack_emulator, fault, expected):
    slack_emulator.configure(fail_next=fault)
    assert slack_error(lambda: slack.chat_postMessage(channel=CHANNEL, text="x")) == expected
