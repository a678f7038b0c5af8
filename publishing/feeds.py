"""RSS 2.0 and Atom feeds, site-wide and per public topic (django.contrib.syndication).

Atom (RFC 4287) wants an author on every entry: the publication's author by their full name, else
the site's name (never a login name); the feed names the site as its author too."""

from __future__ import annotations

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.shortcuts import get_object_or_404
from django.utils.feedgenerator import Atom1Feed

from publishing.selectors import archive_publications
from publishing.services.rendering import archive_url, publication_html
from subscribers.models import Topic
from subscribers.selectors import public_topics


class _PublicationItems:
    """What every feed says about one publication."""

    def author_name(self) -> str:
        return settings.SITE_NAME

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

    def item_author_name(self, publication) -> str:
        author = publication.author
        return (author.get_full_name().strip() if author else "") or settings.SITE_NAME

    def item_categories(self, publication) -> list[str]:
        return [t.name for t in publication.topics.all()]


class SiteRssFeed(_PublicationItems, Feed):
    """Everything published in public topics: /archive/rss/."""

    def title(self) -> str:
        return settings.SITE_NAME

    def link(self) -> str:
        return settings.SITE_URL + "/"

    def description(self) -> str:
        return settings.SITE_DESCRIPTION

    def feed_url(self) -> str:
        return settings.SITE_URL + "/archive/rss/"

    def items(self):
        return archive_publications()[: settings.ARCHIVE_PAGE_SIZE]


class SiteAtomFeed(SiteRssFeed):
    """The same as Atom: /archive/atom/."""

    feed_type = Atom1Feed

    def subtitle(self) -> str:
        return settings.SITE_DESCRIPTION

    def feed_url(self) -> str:
        return settings.SITE_URL + "/archive/atom/"


class TopicRssFeed(_PublicationItems, Feed):
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


class TopicAtomFeed(TopicRssFeed):
    feed_type = Atom1Feed

    def subtitle(self, topic: Topic) -> str:
        return self.description(topic)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
