"""The home page and the embed page in German for a German browser (locale/de)."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import PublicationFactory, TopicFactory

pytestmark = pytest.mark.django_db
GERMAN = "de-DE,de;q=0.9,en;q=0.5"


def test_the_home_page_speaks_german_to_a_german_browser():
    topic = TopicFactory(slug="news", name="News")
    PublicationFactory(topics=[topic], published=True, title="Release 4.2")
    html = Client().get("/", HTTP_ACCEPT_LANGUAGE=GERMAN).content.decode()
    for text in ("Neueste Beiträge", "Alles im Archiv", "Feeds", "Archiv", "Alles"):
        assert text in html, text
    assert "Everything in the archive" not in html


def test_an_empty_home_page_says_so_in_german():
    html = Client().get("/", HTTP_ACCEPT_LANGUAGE=GERMAN).content.decode()
    assert "Noch nichts veröffentlicht." in html


def test_the_embed_page_speaks_german():
    TopicFactory(slug="news", name="News")
    html = Client().get("/subscribe/embed", HTTP_ACCEPT_LANGUAGE=GERMAN).content.decode()
    assert "Anmeldeformular von Bulletin auf Ihrer Website einbinden" in html
    assert "Kein Skript, kein Cookie." in html and "Vorschau" in html
