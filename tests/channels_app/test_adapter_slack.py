"""SlackAdapter through slack-sdk's WebClient, against the Slack emulator (base_url)."""

import pytest

from channels_app.adapters.base import PermanentProviderError, RenderedMessage, TransientProviderError
from channels_app.adapters.slack import SlackAdapter
from tests.emulators.fixtures import SLACK_TOKEN


def _adapter(slack, token=SLACK_TOKEN, channel="C0NEWS01"):
    return SlackAdapter(config={"base_url": slack.url, "channel": channel}, credentials={"token": token})


def _message(i=1, recipient="", blocks=None, text="Alert: rotate keys"):
    return RenderedMessage(i, recipient, payload={"text": text, "blocks": blocks or []})


def test_a_broadcast_goes_to_the_channel_with_top_level_text(slack_emulator):
    [result] = _adapter(slack_emulator).send_batch([_message()])
    assert result.ok and result.provider_message_id.startswith("C0NEWS01:")
    [posted] = slack_emulator.messages(channel="C0NEWS01")
    assert posted["text"] == "Alert: rotate keys"


def test_a_personal_message_goes_to_the_member_as_a_direct_message(slack_emulator):
    [result] = _adapter(slack_emulator, channel="").send_batch([_message(recipient="U0ADA001")])
    assert result.ok
    assert slack_emulator.messages(channel="U0ADA001")


def test_oversized_blocks_are_cut_to_slacks_limits_not_refused(slack_emulator):
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 5000}} for _ in range(60)]
    [result] = _adapter(slack_emulator).send_batch([_message(blocks=blocks)])
    assert result.ok, result.error
    [posted] = slack_emulator.messages()
    assert len(posted["blocks"]) == 50
    assert all(len(b["text"]["text"]) <= 3000 for b in posted["blocks"] if b["type"] == "section")
    assert "11 more" in posted["blocks"][-1]["elements"][0]["text"]


def test_ratelimited_stops_the_chunk_with_slacks_retry_after(slack_emulator):
    slack_emulator.configure(fail_next={"count": 1, "status": 429, "code": "ratelimited", "retry_after": 3})
    results = _adapter(slack_emulator).send_batch([_message(1), _message(2), _message(3)])
    assert [r.ok for r in results] == [False, False, False]
    assert {r.retry_after for r in results} == {3.0}
    assert not any(r.permanent for r in results)
    assert slack_emulator.stats()["messages_posted"] == 0
    assert sum(slack_emulator.stats()["requests"].values()) == 1, "no request after the 429"


@pytest.mark.parametrize("status", ["invalid_auth", "token_revoked", "account_inactive"])
def test_a_revoked_or_invalid_token_is_permanent_for_the_channel(slack_emulator, status):
    slack_emulator.set_token("xoxb-gone", status)
    with pytest.raises(PermanentProviderError, match=status):
        _adapter(slack_emulator, token="xoxb-gone").send_batch([_message()])


def test_a_missing_broadcast_channel_disables_it_but_a_missing_member_fails_only_that_message(slack_emulator):
    slack_emulator.configure(strict_channels=True)
    with pytest.raises(PermanentProviderError, match="channel_not_found"):
        _adapter(slack_emulator, channel="C0GONE01").send_batch([_message()])
    [result] = _adapter(slack_emulator, channel="").send_batch([_message(recipient="U0GONE01")])
    assert not result.ok and result.permanent


def test_slack_being_down_is_transient(slack_emulator):
    slack_emulator.configure(down="close")
    with pytest.raises(TransientProviderError):
        _adapter(slack_emulator).send_batch([_message()])
