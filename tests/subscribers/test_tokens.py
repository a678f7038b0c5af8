import pytest
from django.core import signing

from subscribers.links import list_unsubscribe_headers, preferences_url, unsubscribe_url
from subscribers.tokens import (
    InvalidToken,
    TokenPurpose,
    UnsubscribeScope,
    mail_token_make,
    mail_token_read,
    subscriber_token_make,
    subscriber_token_read,
)


def test_a_token_reads_back_for_its_own_purpose():
    token = subscriber_token_make(purpose=TokenPurpose.PREFERENCES, subscriber_id=42, version=3)
    data = subscriber_token_read(purpose=TokenPurpose.PREFERENCES, token=token)
    assert (data.subscriber_id, data.version, data.topic_id) == (42, 3, None)


def test_a_token_for_one_purpose_is_refused_for_another():
    token = subscriber_token_make(purpose=TokenPurpose.PREFERENCES, subscriber_id=42)
    with pytest.raises(InvalidToken) as caught:
        subscriber_token_read(purpose=TokenPurpose.UNSUBSCRIBE, token=token)
    assert caught.value.reason == "tampered"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2],
        lambda t: "x" + t,
        lambda t: "1" + t,  # another subscriber, the same tag
        lambda t: t.replace(".", ";"),
        lambda t: t.replace(".", ":"),  # looks like a token of Django's signer
        lambda t: "",
    ],
)
def test_a_tampered_token_is_refused(mangle):
    token = subscriber_token_make(purpose=TokenPurpose.UNSUBSCRIBE, subscriber_id=7, topic_id=9)
    with pytest.raises(InvalidToken) as caught:
        subscriber_token_read(purpose=TokenPurpose.UNSUBSCRIBE, token=mangle(token))
    assert caught.value.reason == "tampered"


def test_a_validly_signed_payload_of_the_wrong_shape_is_refused():
    token = signing.TimestampSigner(salt=TokenPurpose.CONFIRM.salt).sign_object({"s": 1})
    with pytest.raises(InvalidToken):
        subscriber_token_read(purpose=TokenPurpose.CONFIRM, token=token)


def test_an_expired_token_says_so_and_names_its_subscriber(settings):
    token = subscriber_token_make(purpose=TokenPurpose.CONFIRM, subscriber_id=5)
    settings.CONFIRM_TOKEN_MAX_AGE = -1
    with pytest.raises(InvalidToken) as caught:
        subscriber_token_read(purpose=TokenPurpose.CONFIRM, token=token)
    assert (caught.value.reason, caught.value.subscriber_id) == ("expired", 5)


def test_unsubscribe_links_carry_the_topic(settings):
    url = unsubscribe_url(subscriber_id=7, topic_id=9)
    assert url.startswith(settings.SITE_URL + "/u/")
    data = subscriber_token_read(purpose=TokenPurpose.UNSUBSCRIBE, token=url.rsplit("/", 1)[1])
    assert (data.subscriber_id, data.topic_id) == (7, 9)


def test_preference_links_carry_the_token_version():
    token = preferences_url(subscriber_id=7, token_version=4).rsplit("/", 1)[1]
    assert subscriber_token_read(purpose=TokenPurpose.PREFERENCES, token=token).version == 4


def test_list_unsubscribe_headers_follow_rfc_8058(settings):
    settings.LIST_UNSUBSCRIBE_MAILTO = "unsubscribe@bulletin.example.com"
    headers = list_unsubscribe_headers(subscriber_id=7, delivery_id=123456)
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https, mailto = headers["List-Unsubscribe"].split(", ")
    assert https.startswith("<http") and "/u/" in https and https.endswith(">")
    address = mailto.removeprefix("<mailto:").removesuffix("?subject=unsubscribe>")
    local, domain = address.split("@")
    assert domain == "bulletin.example.com" and local.startswith("unsubscribe+") and len(local) <= 64
    assert mail_token_read(local.removeprefix("unsubscribe+")) == 123456


def test_no_mailto_is_emitted_unless_bulletin_processes_it(settings):
    settings.LIST_UNSUBSCRIBE_MAILTO = ""
    assert "mailto:" not in list_unsubscribe_headers(subscriber_id=7, delivery_id=5)["List-Unsubscribe"]
    settings.LIST_UNSUBSCRIBE_MAILTO = "unsubscribe@bulletin.example.com"
    # A message that is not a delivery (a test) has nothing a mail could unsubscribe from.
    assert "mailto:" not in list_unsubscribe_headers(subscriber_id=7)["List-Unsubscribe"]


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("a" if t[-1] != "a" else "b"),  # one character of the signature
        lambda t: "1" + t,  # another delivery, the same signature
        lambda t: t.split("-")[0],  # no signature
        lambda t: "zz-" + t.split("-")[1],
        lambda t: "",
    ],
)
def test_a_forged_mailto_token_is_refused(mangle):
    token = mail_token_make(delivery_id=4242)
    assert mail_token_read(token.upper()) == 4242  # mail systems may change the case
    with pytest.raises(InvalidToken):
        mail_token_read(mangle(token))


def test_unsubscribe_links_carry_their_scope():
    scope = UnsubscribeScope(kind="slack", topic_ids=(3, 5), frequency="daily")
    url = unsubscribe_url(subscriber_id=7, scope=scope)
    data = subscriber_token_read(purpose=TokenPurpose.UNSUBSCRIBE, token=url.rsplit("/", 1)[1])
    assert (data.subscriber_id, data.scope) == (7, scope)
    everything = unsubscribe_url(subscriber_id=7)
    assert subscriber_token_read(
        purpose=TokenPurpose.UNSUBSCRIBE, token=everything.rsplit("/", 1)[1]
    ).scope.is_everything


def _legacy(purpose: TokenPurpose, payload: list) -> str:
    """A token as links sent before compact tokens carry it (Django's TimestampSigner)."""
    from django.conf import settings

    return signing.TimestampSigner(key=settings.SECRET_KEY, salt=purpose.salt).sign_object(payload)


def test_links_sent_before_compact_tokens_still_work_with_their_scope_and_age():
    data = subscriber_token_read(purpose=TokenPurpose.PREFERENCES, token=_legacy(TokenPurpose.PREFERENCES, [42, 3, 0]))
    assert (data.subscriber_id, data.version) == (42, 3)
    scoped = _legacy(TokenPurpose.UNSUBSCRIBE, [7, 0, 0, "slack", "daily", [3, 5]])
    data = subscriber_token_read(purpose=TokenPurpose.UNSUBSCRIBE, token=scoped)
    assert data.scope == UnsubscribeScope(kind="slack", topic_ids=(3, 5), frequency="daily")
    with pytest.raises(InvalidToken):
        subscriber_token_read(purpose=TokenPurpose.CONFIRM, token=scoped)


def test_a_compact_subscriber_token_is_short_and_carries_when_it_was_issued():
    from core.clock import clock

    token = subscriber_token_make(purpose=TokenPurpose.PREFERENCES, subscriber_id=123456, version=2)
    assert ":" not in token and len(token) < 45
    data = subscriber_token_read(purpose=TokenPurpose.PREFERENCES, token=token)
    assert abs(data.issued_at.timestamp() - clock.time()) < 5


def test_a_scope_cannot_be_grafted_onto_another_purpose_or_shortened():
    scope = UnsubscribeScope(kind="email", topic_ids=(3,), frequency="")
    token = unsubscribe_url(subscriber_id=7, scope=scope).rsplit("/", 1)[1]
    message, _, tag = token.rpartition(".")
    for forged in (".".join(message.split(".")[:4]) + "." + tag, message + ".9." + tag):
        with pytest.raises(InvalidToken):
            subscriber_token_read(purpose=TokenPurpose.UNSUBSCRIBE, token=forged)
    with pytest.raises(InvalidToken):
        subscriber_token_read(purpose=TokenPurpose.PREFERENCES, token=token)
