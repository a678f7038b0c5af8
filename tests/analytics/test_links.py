import pytest

from analytics.links import InvalidTrackingToken, click_token_read, click_url, open_token_read, open_url


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
