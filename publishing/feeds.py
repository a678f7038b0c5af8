"""RSS 2.0 and Atom feeds per public topic (django.contrib.syndication)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.shortcuts import get_object_or_404
from django.utils.feedgenerator import Atom1Feed

from publishing.selectors import archive_publications
from publishing.services.rendering import archive_url, publication_html
from subscribers.models import Topic
from subscribers.selectors import public_topics


class TopicRssFeed(Feed):
    def get_object(self, request, slug: str) -> Topic:
        return get_object_or_404(public_topics(), slug=slug)

    def title(self, topic: Topic) -> str:
        return f"{topic.name} · {settings.SITE_NAME}"

    def link(self, topic: Topic) -> str:
        return f"/archive/topics/{topic.slug}/"

    def description(self, topic: Topic) -> str:
        return topic.description or f"Everything {settings.SITE_NAME} publishes about {topic.name}."

    def items(self, topic: Topic):
        return archive_publications().filter(topics=topic)[: settings.ARCHIVE_PAGE_SIZE]

    def item_title(self, publication) -> str:
        return publication.title

    def item_description(self, publication) -> str:
        summary = f"<p><em>{_escape(publication.summary)}</em></p>" if publication.summary else ""
        return summary + publication_html(publication=publication)

    def item_link(self, publication) -> str:
        return archive_url(slug=publication.slug)

    def item_guid(self, publication) -> str:
        return archive_url(slug=publication.slug)

    item_guid_is_permalink = True

    def item_pubdate(self, publication):
        return publication.published_at

    def item_updateddate(self, publication):
        return publication.updated_at

    def item_categories(self, publication) -> list[str]:
        return [t.name for t in publication.topics.all()]


class TopicAtomFeed(TopicRssFeed):
    feed_type = Atom1Feed

    def subtitle(self, topic: Topic) -> str:
        return self.description(topic)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
