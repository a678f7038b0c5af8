import pytest
from django.core import signing

from subscribers.links import list_unsubscribe_headers, preferences_url, unsubscribe_url
from subscribers.tokens import InvalidToken, TokenPurpose, subscriber_token_make, subscriber_token_read


def test_a_token_reads_back_for_its_own_purpose():
    token = subscriber_token_make(purpose=TokenPurpose.PREFERENCES, subscriber_id=42, version=3)
    data = subscriber_token_read(purpose=TokenPurpose.PREFERENCES, token=token)
    assert (data.subscriber_id, data.version, data.topic_id) == (42, 3, None)


def test_a_token_for_one_purpose_is_refused_for_another():
    token = subscriber_token_make(purpose=TokenPurpose.PREFERENCES, subscriber_id=42)
    with pytest.raises(InvalidToken) as caught:
        subscriber_token_read(purpose=TokenPurpose.UNSUBSCRIBE, token=token)
    assert caught.value.reason == "tampered"


@pytest.mark.parametrize("mangle", [lambda t: t[:-2], lambda t: "x" + t, lambda t: t.replace(":", ";"), lambda t: ""])
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
    headers = list_unsubscribe_headers(subscriber_id=7)
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https, mailto = headers["List-Unsubscribe"].split(", ")
    assert https.startswith("<http") and "/u/" in https and https.endswith(">")
    assert mailto.startswith("<mailto:unsubscribe@bulletin.example.com?subject=unsubscribe%20")
    assert https[1:-1].rsplit("/", 1)[1] in mailto
