"""Public links to a subscriber's pages, and the RFC 8058 headers every email carries.

The paths are a contract with subscribers/urls.py (tests check they agree): the send
pipeline builds thousands of these per second, so it formats strings instead of reversing.
"""

from __future__ import annotations

from django.conf import settings

from subscribers.tokens import TokenPurpose, subscriber_token_make

CONFIRM_PATH = "/confirm/{token}"
PREFERENCES_PATH = "/preferences/{token}"
UNSUBSCRIBE_PATH = "/u/{token}"
# Where the unsubscribe and preferences links of a test message lead: a page saying it was a test.
TEST_MESSAGE_PATH = "/test-message/{link}"
TEST_MESSAGE_LINKS = ("unsubscribe", "preferences")


def confirm_url(*, subscriber_id: int, topic_id: int | None = None) -> str:
    """The double opt-in link; with `topic_id`, the opt-in to that one topic of an active subscriber."""
    token = subscriber_token_make(purpose=TokenPurpose.CONFIRM, subscriber_id=subscriber_id, topic_id=topic_id)
    return settings.SITE_URL + CONFIRM_PATH.format(token=token)


def preferences_url(*, subscriber_id: int, token_version: int) -> str:
    token = subscriber_token_make(purpose=TokenPurpose.PREFERENCES, subscriber_id=subscriber_id, version=token_version)
    return settings.SITE_URL + PREFERENCES_PATH.format(token=token)


def unsubscribe_url(*, subscriber_id: int, topic_id: int | None = None) -> str:
    """Per-topic when `topic_id` is given (from a topic's message), else from everything."""
    token = subscriber_token_make(purpose=TokenPurpose.UNSUBSCRIBE, subscriber_id=subscriber_id, topic_id=topic_id)
    return settings.SITE_URL + UNSUBSCRIBE_PATH.format(token=token)


def list_unsubscribe_headers(
    *, subscriber_id: int, topic_id: int | None = None, url: str | None = None
) -> dict[str, str]:
    """RFC 8058 one-click headers (RFC 2369 List-Unsubscribe with HTTPS and, when configured, mailto)."""
    url = url or unsubscribe_url(subscriber_id=subscriber_id, topic_id=topic_id)
    targets = [f"<{url}>"]
    if settings.LIST_UNSUBSCRIBE_MAILTO:
        # The signed token, not the id: a mailed request must prove it came from a message.
        token = url.rsplit("/", 1)[1]
        targets.append(f"<mailto:{settings.LIST_UNSUBSCRIBE_MAILTO}?subject=unsubscribe%20{token}>")
    return _one_click_headers(targets)


def testmessage_url(*, link: str) -> str:
    """A test message's stand-in for a subscriber link (`link`: unsubscribe or preferences)."""
    return settings.SITE_URL + TEST_MESSAGE_PATH.format(link=link)


def testmessage_list_unsubscribe_headers() -> dict[str, str]:
    """The RFC 8058 headers of a test message, pointing at the test page (which answers the
    one-click POST): a test looks to mailbox providers exactly like a list message."""
    return _one_click_headers([f"<{testmessage_url(link='unsubscribe')}>"])


def _one_click_headers(targets: list[str]) -> dict[str, str]:
    return {"List-Unsubscribe": ", ".join(targets), "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
