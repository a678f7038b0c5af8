"""Public archive pages and RSS/Atom feeds: published public content only, cached, conditional GET."""

import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.http import http_date

from publishing.models import Publication
from tests.factories import PublicationFactory, TopicFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(topic):
    return PublicationFactory(
        topics=[topic],
        published=True,
        title="Visible story",
        slug="visible-story",
        summary="A summary",
        body="Hello **world** <script>alert(1)</script> [out](https://example.com/out)",
    )


def test_a_published_publication_has_a_page_with_sanitized_html(client, published):
    response = client.get("/archive/visible-story/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<strong>world</strong>" in html and "alert(1)" not in html
    assert 'href="https://example.com/out"' in html


@pytest.mark.parametrize(
    "kwargs",
    [
        {"state": Publication.State.DRAFT},
        {"state": Publication.State.SCHEDULED},
        {"state": Publication.State.IN_REVIEW},
    ],
)
def test_unpublished_publications_have_no_page(client, topic, kwargs):
    PublicationFactory(topics=[topic], slug="secret", **kwargs)
    assert client.get("/archive/secret/").status_code == 404


def test_publications_only_in_private_topics_stay_private(client):
    private = TopicFactory(slug="internal", is_public=False)
    PublicationFactory(topics=[private], published=True, slug="internal-memo")
    assert client.get("/archive/internal-memo/").status_code == 404
    assert client.get("/archive/topics/internal/").status_code == 404
    assert client.get("/archive/topics/internal/rss/").status_code == 404
    assert "internal-memo" not in client.get("/archive/").content.decode()


def test_an_archived_publication_keeps_its_page_but_leaves_lists_and_feeds(client, topic, published):
    Publication.objects.filter(pk=published.pk).update(state=Publication.State.ARCHIVED, updated_at=timezone.now())
    page = client.get("/archive/visible-story/")
    assert page.status_code == 200 and "archived" in page.content.decode()
    assert "visible-story" not in client.get("/archive/topics/news/").content.decode()
    assert "visible-story" not in client.get("/archive/topics/news/rss/").content.decode()


def test_topic_pages_list_newest_first_and_paginate(client, topic, settings):
    settings.ARCHIVE_PAGE_SIZE = 2
    now = timezone.now()
    for i in range(3):
        PublicationFactory(topics=[topic], published=True, published_at=now - timedelta(days=i), title=f"Story {i}")
    first = client.get("/archive/topics/news/").content.decode()
    assert first.index("Story 0") < first.index("Story 1") and "Story 2" not in first
    assert "Story 2" in client.get("/archive/topics/news/?page=2").content.decode()


def test_the_rss_feed_of_a_topic(client, topic, published):
    response = client.get("/archive/topics/news/rss/")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/rss+xml")
    channel = ET.fromstring(response.content).find("channel")
    [item] = channel.findall("item")
    assert item.findtext("title") == "Visible story"
    assert item.findtext("link") == "http://127.0.0.1:8000/archive/visible-story/"
    assert "<strong>world</strong>" in item.findtext("description") and "script" not in item.findtext("description")
    assert item.findtext("category") == "News"


def test_the_atom_feed_of_a_topic(client, topic, published):
    response = client.get("/archive/topics/news/atom/")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    assert feed.find("a:entry/a:title", ns).text == "Visible story"


def test_pages_answer_conditional_gets_with_304(client, published):
    first = client.get("/archive/topics/news/")
    last_modified = first["Last-Modified"]
    assert last_modified == http_date(published.updated_at.timestamp())
    assert client.get("/archive/topics/news/", HTTP_IF_MODIFIED_SINCE=last_modified).status_code == 304
    assert client.get("/archive/visible-story/", HTTP_IF_MODIFIED_SINCE=last_modified).status_code == 304
    assert client.get("/archive/topics/news/rss/", HTTP_IF_MODIFIED_SINCE=last_modified).status_code == 304


def test_pages_are_cached_and_a_new_publication_shows_at_once(client, topic, published, django_assert_max_num_queries):
    client.get("/archive/topics/news/")
    with django_assert_max_num_queries(1):  # only the last-modified query: the page comes from the cache
        assert "Visible story" in client.get("/archive/topics/news/").content.decode()
    PublicationFactory(topics=[topic], published=True, title="Brand new")
    assert "Brand new" in client.get("/archive/topics/news/").content.decode()


def test_the_index_lists_public_topics_and_latest_publications(client, topic, published):
    html = client.get("/archive/").content.decode()
    assert "Visible story" in html and "/archive/topics/news/rss/" in html
