"""The public home page, the site-wide feeds and the link-preview tags of archive pages."""

import xml.etree.ElementTree as ET
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.utils import timezone

from tests.factories import PublicationFactory, TopicFactory, UserFactory

pytestmark = pytest.mark.django_db

ATOM = {"a": "http://www.w3.org/2005/Atom"}


class _Head(HTMLParser):
    """<link> and <meta> tags of a page, as dicts of their attributes."""

    def __init__(self):
        super().__init__()
        self.links, self.metas = [], []

    def handle_starttag(self, tag, attrs):
        if tag == "link":
            self.links.append(dict(attrs))
        elif tag == "meta":
            self.metas.append(dict(attrs))

    def meta(self, key):
        found = [m["content"] for m in self.metas if key in (m.get("property"), m.get("name"))]
        return found[0] if found else None

    def alternates(self):
        return {(link["type"], link["href"]) for link in self.links if link.get("rel") == "alternate"}


def _head(response) -> _Head:
    parser = _Head()
    parser.feed(response.content.decode())
    return parser


@pytest.fixture
def story(topic):
    author = UserFactory(first_name="Ada", last_name="Lovelace")
    return PublicationFactory(
        topics=[topic], published=True, title="Visible story", slug="visible-story", summary="A summary", author=author
    )


def test_the_home_page_shows_the_name_description_form_latest_items_and_feeds(client, topic, story, settings):
    settings.SITE_NAME = "Acme News"
    settings.SITE_DESCRIPTION = "What Acme ships, when it ships."
    TopicFactory(slug="internal", name="Internal", is_public=False)
    response = client.get("/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Acme News</h1>" in html and "What Acme ships, when it ships." in html
    assert 'action="/subscribe"' in html and "csrfmiddlewaretoken" in html and f'value="{topic.pk}"' in html
    assert 'href="/archive/visible-story/"' in html and "Internal" not in html
    assert 'href="/archive/rss/"' in html and 'href="/archive/topics/news/atom/"' in html


def test_the_home_page_form_subscribes_through_the_subscribe_page(client, topic, mailoutbox):
    client.get("/")
    response = client.post("/subscribe", {"email": "ada@example.com", "topics": [topic.pk]})
    assert (response.status_code, response["Location"]) == (302, "/subscribe/thanks")


def test_the_home_page_limits_the_latest_items(client, topic, settings):
    settings.HOME_LATEST_COUNT = 2
    now = timezone.now()
    for i in range(3):
        PublicationFactory(topics=[topic], published=True, published_at=now - timedelta(days=i), title=f"Story {i}")
    html = client.get("/").content.decode()
    assert "Story 0" in html and "Story 1" in html and "Story 2" not in html


def test_public_pages_advertise_the_site_feeds_for_autodiscovery(client, topic, story):
    for url in ("/", "/archive/", "/archive/topics/news/", "/archive/visible-story/", "/subscribe"):
        alternates = _head(client.get(url)).alternates()
        assert ("application/rss+xml", "/archive/rss/") in alternates, url
        assert ("application/atom+xml", "/archive/atom/") in alternates, url
    assert ("application/rss+xml", "/archive/topics/news/rss/") in _head(client.get("/")).alternates()


def test_admin_view_site_leads_to_the_home_page(client, admin_user):
    client.force_login(admin_user)
    assert 'href="/"' in client.get("/admin/").content.decode()
    assert client.get("/").status_code == 200


def test_the_site_rss_feed_lists_every_public_publication(client, topic, story):
    PublicationFactory(topics=[TopicFactory(slug="ops", name="Ops")], published=True, title="Ops story")
    PublicationFactory(topics=[TopicFactory(slug="hidden", is_public=False)], published=True, title="Private")
    PublicationFactory(topics=[topic], title="Draft one")
    response = client.get("/archive/rss/")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/rss+xml")
    channel = ET.fromstring(response.content).find("channel")
    assert sorted(item.findtext("title") for item in channel.findall("item")) == ["Ops story", "Visible story"]
    assert channel.findtext("link") == "http://127.0.0.1:8000/"


def test_every_atom_entry_has_an_author(client, topic, story):
    PublicationFactory(topics=[topic], published=True, title="Anonymous", author=None)
    response = client.get("/archive/atom/")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)
    authors = {
        e.findtext("a:title", namespaces=ATOM): e.findtext("a:author/a:name", namespaces=ATOM)
        for e in feed.findall("a:entry", ATOM)
    }
    assert authors == {"Visible story": "Ada Lovelace", "Anonymous": "Bulletin"}
    assert feed.findtext("a:author/a:name", namespaces=ATOM) == "Bulletin"
    topic_feed = ET.fromstring(client.get("/archive/topics/news/atom/").content)
    assert all(e.find("a:author/a:name", ATOM) is not None for e in topic_feed.findall("a:entry", ATOM))


def test_the_site_feeds_answer_conditional_gets(client, story):
    last_modified = client.get("/archive/rss/")["Last-Modified"]
    assert client.get("/archive/atom/", HTTP_IF_MODIFIED_SINCE=last_modified).status_code == 304


def test_a_publication_page_has_canonical_open_graph_and_twitter_tags(client, story):
    head = _head(client.get("/archive/visible-story/"))
    url = "http://127.0.0.1:8000/archive/visible-story/"
    assert [link["href"] for link in head.links if link.get("rel") == "canonical"] == [url]
    assert head.meta("og:url") == url and head.meta("og:type") == "article"
    assert head.meta("og:title") == "Visible story" and head.meta("og:description") == "A summary"
    assert head.meta("og:site_name") == "Bulletin" and head.meta("article:published_time")
    assert head.meta("twitter:card") == "summary" and head.meta("twitter:title") == "Visible story"


def test_a_publication_first_published_elsewhere_is_canonical_there(client, topic):
    PublicationFactory(topics=[topic], published=True, slug="moved", canonical_url="https://blog.example.com/moved")
    head = _head(client.get("/archive/moved/"))
    assert [link["href"] for link in head.links if link.get("rel") == "canonical"] == ["https://blog.example.com/moved"]
    assert head.meta("og:url") == "https://blog.example.com/moved"


def test_topic_and_index_pages_are_canonical_with_their_page_number(client, topic, settings):
    settings.ARCHIVE_PAGE_SIZE = 1
    PublicationFactory.create_batch(2, topics=[topic], published=True)
    canonical = lambda r: [link["href"] for link in _head(r).links if link.get("rel") == "canonical"]  # noqa: E731
    assert canonical(client.get("/archive/topics/news/")) == ["http://127.0.0.1:8000/archive/topics/news/"]
    assert canonical(client.get("/archive/topics/news/?page=2")) == [
        "http://127.0.0.1:8000/archive/topics/news/?page=2"
    ]
    assert canonical(client.get("/archive/")) == ["http://127.0.0.1:8000/archive/"]
    assert _head(client.get("/archive/topics/news/")).meta("og:title") == "News · Bulletin"
