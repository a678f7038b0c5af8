"""Public archive and feeds. Publication pages live at /archive/<slug>/ (the "read online" link
publishing.services.rendering.archive_url formats without reversing)."""

from django.urls import path

from publishing import views
from publishing.feeds import SiteAtomFeed, SiteRssFeed, TopicAtomFeed, TopicRssFeed
from publishing.selectors import archive_last_modified
from publishing.views import archive_cached

app_name = "archive"


def _feed(feed):
    return archive_cached(lambda slug=None: archive_last_modified(topic_slug=slug))(feed)


urlpatterns = [
    path("archive/", views.archive_index_view, name="index"),
    # Before archive/<slug>/: these two names are not publication slugs.
    path("archive/rss/", _feed(SiteRssFeed()), name="site-rss"),
    path("archive/atom/", _feed(SiteAtomFeed()), name="site-atom"),
    path("archive/topics/<slug:slug>/", views.archive_topic_view, name="topic"),
    path("archive/topics/<slug:slug>/rss/", _feed(TopicRssFeed()), name="topic-rss"),
    path("archive/topics/<slug:slug>/atom/", _feed(TopicAtomFeed()), name="topic-atom"),
    path("archive/<slug:slug>/", views.archive_publication_view, name="publication"),
]
