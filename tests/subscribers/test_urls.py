"""links.py formats public paths without reversing: they must stay what urls.py routes."""

from django.conf import settings
from django.urls import resolve, reverse

from subscribers import links
from subscribers.tokens import TokenPurpose, subscriber_token_read


def _token(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_confirm_links_resolve_to_the_confirm_page():
    url = links.confirm_url(subscriber_id=3)
    token = _token(url)
    assert url == settings.SITE_URL + reverse("subscribers:confirm", args=[token])
    assert resolve(url.removeprefix(settings.SITE_URL)).url_name == "confirm"


def test_preference_links_resolve_to_the_preference_centre():
    url = links.preferences_url(subscriber_id=3, token_version=2)
    assert url == settings.SITE_URL + reverse("subscribers:preferences", args=[_token(url)])


def test_unsubscribe_links_resolve_to_the_one_click_endpoint():
    url = links.unsubscribe_url(subscriber_id=3, topic_id=8)
    assert url == settings.SITE_URL + reverse("subscribers:unsubscribe", args=[_token(url)])
    assert subscriber_token_read(purpose=TokenPurpose.UNSUBSCRIBE, token=_token(url)).topic_id == 8


def test_list_unsubscribe_header_points_at_the_routed_path():
    header = links.list_unsubscribe_headers(subscriber_id=3)["List-Unsubscribe"]
    url = header.split(",")[0].strip("<> ")
    assert resolve(url.removeprefix(settings.SITE_URL)).url_name == "unsubscribe"


def test_test_message_links_resolve_to_the_test_message_page():
    for link in links.TEST_MESSAGE_LINKS:
        url = links.testmessage_url(link=link)
        assert url == settings.SITE_URL + reverse("subscribers:test-message", args=[link])
