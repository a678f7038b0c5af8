"""Public links to a subscriber's pages, and the RFC 8058 headers every email carries.

The paths are a contract with subscribers/urls.py (tests check they agree): the send
pipeline builds thousands of these per second, so it formats strings instead of reversing.
"""

from __future__ import annotations

from email.header import Header

from django.conf import settings

from subscribers.tokens import TokenPurpose, UnsubscribeScope, mail_token_make, subscriber_token_make

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


def unsubscribe_url(*, subscriber_id: int, topic_id: int | None = None, scope: UnsubscribeScope | None = None) -> str:
    """What the link stops is its `scope` (a message's topics on its channel kind, a digest's
    topics); without one, everything. `topic_id` alone is the old form: that topic, every channel."""
    token = subscriber_token_make(
        purpose=TokenPurpose.UNSUBSCRIBE, subscriber_id=subscriber_id, topic_id=topic_id, scope=scope
    )
    return settings.SITE_URL + UNSUBSCRIBE_PATH.format(token=token)


def unsubscribe_mailto(*, delivery_id: int) -> str:
    """`unsubscribe+<signed delivery token>@domain` for LIST_UNSUBSCRIBE_MAILTO `unsubscribe@domain`:
    a mail to it stops what that delivery's message stood for (subscribers.services.inbound).
    The token is short (an address's local part holds 64 characters) and signed, so a forged
    mail cannot unsubscribe anyone else."""
    local, _, domain = settings.LIST_UNSUBSCRIBE_MAILTO.partition("@")
    return f"{local}+{mail_token_make(delivery_id=delivery_id)}@{domain}"


def list_unsubscribe_headers(
    *,
    subscriber_id: int,
    topic_id: int | None = None,
    url: str | None = None,
    delivery_id: int | None = None,
) -> dict[str, str]:
    """RFC 8058 one-click headers: RFC 2369 List-Unsubscribe with the HTTPS link and, when
    LIST_UNSUBSCRIBE_MAILTO is set and the message is a delivery, a mailto Bulletin processes."""
    url = url or unsubscribe_url(subscriber_id=subscriber_id, topic_id=topic_id)
    targets = [f"<{url}>"]
    if settings.LIST_UNSUBSCRIBE_MAILTO and delivery_id:
        targets.append(f"<mailto:{unsubscribe_mailto(delivery_id=delivery_id)}?subject=unsubscribe>")
    return _one_click_headers(targets)


def list_id_header(*, name: str, label: str, namespace: str) -> str:
    """RFC 2919 `List-Id: Name <label.namespace>`: one list per topic (or per digest), so what a
    mailbox provider shows and unsubscribes is the list the reader sees. The name is quoted
    (commas, dots) and RFC 2047-encoded when it is not ASCII; the id is ASCII by construction."""
    phrase = " ".join(name.split())
    if phrase.isascii():
        phrase = '"' + phrase.replace("\\", "\\\\").replace('"', '\\"') + '"'
    else:
        phrase = Header(phrase, "utf-8").encode()
    return f"{phrase} <{label}.{namespace}>"


def testmessage_url(*, link: str) -> str:
    """A test message's stand-in for a subscriber link (`link`: unsubscribe or preferences)."""
    return settings.SITE_URL + TEST_MESSAGE_PATH.format(link=link)


def testmessage_list_unsubscribe_headers() -> dict[str, str]:
    """The RFC 8058 headers of a test message, pointing at the test page (which answers the
    one-click POST): a test looks to mailbox providers exactly like a list message."""
    return _one_click_headers([f"<{testmessage_url(link='unsubscribe')}>"])


def _one_click_headers(targets: list[str]) -> dict[str, str]:
    return {"List-Unsubscribe": ", ".join(targets), "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
