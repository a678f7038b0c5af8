import pytest

from analytics.links import InvalidTrackingToken, click_token_read, click_url, click_urls, open_token_read, open_url


def _token(url: str) -> str:
    return url.rsplit("/", 1)[1].removesuffix(".gif")


def test_open_and_click_tokens_read_back():
    assert open_token_read(_token(open_url(delivery_id=12))) == 12
    target = click_token_read(_token(click_url(delivery_id=12, link_index=3)))
    assert (target.delivery_id, target.link_index) == (12, 3)


def test_an_open_token_is_not_a_click_token():
    with pytest.raises(InvalidTrackingToken):
        click_token_read(_token(open_url(delivery_id=12)))


@pytest.mark.parametrize(
    "mangle", [lambda t: t[:-3], lambda t: t[1:], lambda t: t + "x", lambda t: "", lambda t: "%%%"]
)
def test_tampered_or_truncated_tokens_are_refused(mangle):
    with pytest.raises(InvalidTrackingToken):
        click_token_read(mangle(_token(click_url(delivery_id=12, link_index=0))))


def _legacy(salt: str, payload: list[int]) -> str:
    """A token as messages sent before compact tokens carry it (Django's signer)."""
    from django.conf import settings
    from django.core import signing

    return signing.Signer(key=settings.SECRET_KEY, salt=salt).sign_object(payload)


def test_tokens_in_messages_sent_before_compact_tokens_still_verify():
    assert open_token_read(_legacy("bulletin.tracking.open", [41])) == 41
    target = click_token_read(_legacy("bulletin.tracking.click", [41, 2, 7]))
    assert (target.delivery_id, target.link_index, target.send_id) == (41, 2, 7)
    with pytest.raises(InvalidTrackingToken):
        click_token_read(_legacy("bulletin.tracking.open", [41, 2, 7]))


def test_every_link_of_a_message_shares_its_recipients_prefix_and_reads_back_its_own_index():
    urls = click_urls(delivery_id=987654321, send_id=55, count=6)
    assert len(set(urls)) == 6
    for index, url in enumerate(urls):
        target = click_token_read(_token(url))
        assert (target.delivery_id, target.send_id, target.link_index) == (987654321, 55, index)
        assert url == click_url(delivery_id=987654321, link_index=index, send_id=55)
    assert len(_token(urls[0])) < 45, "shorter than Django's signed JSON (about 65 characters)"


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: t.replace(t.split(".")[2], "1", 1),  # another link, same tag
        lambda t: "1" + t,  # another delivery
        lambda t: t.upper(),
        lambda t: t.replace(".", "_", 1),
        lambda t: "1_0." + t.split(".", 1)[1],  # int() would read 10
        lambda t: "+1." + t.split(".", 1)[1],
        lambda t: "0x" + t,
        lambda t: "f" * 33 + "." + t.split(".", 1)[1],  # beyond 128 bits
        lambda t: t + ".0",
        lambda t: t.rsplit(".", 1)[0] + "." + "A" * 22,
        lambda t: t.replace("\x00", "") + "\x00",
    ],
)
def test_a_compact_token_changed_in_any_way_is_refused(forge):
    token = _token(click_url(delivery_id=12, link_index=3, send_id=9))
    with pytest.raises(InvalidTrackingToken):
        click_token_read(forge(token))


def test_tokens_signed_with_a_retired_key_verify_while_it_is_a_fallback(settings):
    token = _token(open_url(delivery_id=77))
    old_key, settings.SECRET_KEY = settings.SECRET_KEY, "a-new-secret-key-" + "x" * 40
    with pytest.raises(InvalidTrackingToken):
        open_token_read(token)
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert open_token_read(token) == 77
