"""WebhookAdapter: Standard Webhooks signatures, checked by a real receiver."""

import pytest

from channels_app.adapters.base import PermanentProviderError, RenderedMessage
from channels_app.adapters.http import UnsafeTargetError
from channels_app.adapters.webhook import WebhookAdapter, generate_secret
from tests.emulators.fixtures import WEBHOOK_SECRET


def _adapter(url, secret=WEBHOOK_SECRET):
    return WebhookAdapter(config={"url": url}, credentials={"secret": secret})


def _message(i=1, recipient=""):
    return RenderedMessage(i, recipient, payload={"type": "publication.published", "title": "Release 2.4"})


def test_the_receiver_verifies_our_signature(webhook_receiver):
    [result] = _adapter(webhook_receiver.url("/hook")).send_batch([_message()])
    assert result.ok
    [request] = webhook_receiver.messages()
    assert request["signature_valid"], request.get("signature_error")
    assert request["headers"]["webhook-id"] == "msg_bulletin_1"


def test_a_signature_with_another_secret_does_not_verify(webhook_receiver):
    _adapter(webhook_receiver.url("/hook"), secret=generate_secret()).send_batch([_message()])
    assert webhook_receiver.stats()["signatures_invalid"] == 1


def test_the_webhook_id_is_stable_across_retries(webhook_receiver):
    webhook_receiver.respond(503)
    adapter = _adapter(webhook_receiver.url("/hook"))
    [first] = adapter.send_batch([_message(7)])
    webhook_receiver.respond(200)
    [second] = adapter.send_batch([_message(7)])
    assert (first.ok, first.permanent, second.ok) == (False, False, True)
    ids = {r["headers"]["webhook-id"] for r in webhook_receiver.messages()}
    assert ids == {"msg_bulletin_7"}


def test_redirects_are_not_followed(webhook_receiver):
    webhook_receiver.respond(302, location="http://169.254.169.254/latest/meta-data/")
    [result] = _adapter(webhook_receiver.url("/hook")).send_batch([_message()])
    assert not result.ok and result.permanent and "redirect" in result.error
    assert len(webhook_receiver.messages()) == 1


def test_410_disables_a_broadcast_endpoint(webhook_receiver):
    webhook_receiver.respond(410)
    with pytest.raises(PermanentProviderError, match="410"):
        _adapter(webhook_receiver.url("/hook")).send_batch([_message()])


def test_410_on_a_subscribers_own_endpoint_fails_only_their_message(webhook_receiver):
    webhook_receiver.respond(410)
    [result] = _adapter("").send_batch([_message(recipient=webhook_receiver.url("/theirs"))])
    assert not result.ok and result.permanent


def test_429_is_retried_after_the_receivers_retry_after(webhook_receiver):
    webhook_receiver.respond(429, retry_after=30)
    [result] = _adapter(webhook_receiver.url("/hook")).send_batch([_message()])
    assert (result.ok, result.permanent, result.retry_after) == (False, False, 30)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1/x", "http://10.0.0.8/x", "http://[::1]/x", "http://169.254.169.254/"]
)
def test_private_and_loopback_targets_are_refused_by_default(settings, url):
    settings.OUTBOUND_ALLOW_PRIVATE_TARGETS = False
    with pytest.raises(UnsafeTargetError):
        _adapter(url).send_batch([_message()])


def test_a_subscribers_private_url_fails_only_their_message(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_TARGETS = False
    [result] = _adapter("").send_batch([_message(recipient="http://192.168.1.1/hook")])
    assert not result.ok and result.permanent and "private address" in result.error


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "not a url"])
def test_non_http_targets_are_refused(url):
    with pytest.raises(PermanentProviderError):
        _adapter(url).send_batch([_message()])
