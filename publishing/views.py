"""The public archive: an index, a page per public topic and per publication. Pages are cached
under a key that includes when their content last changed, so a cached page is never stale, and
answer conditional GETs (Last-Modified / If-Modified-Since) without rendering."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import cache_page
from django.views.decorators.http import condition, require_safe

from publishing.selectors import archive_last_modified, archive_publication_get, archive_publications
from publishing.services.rendering import archive_url, publication_html
from subscribers.forms import SubscribeForm, subscribe_wording
from subscribers.selectors import public_topics


def archive_cached(last_modified: Callable[..., object]):
    """Conditional GET on `last_modified(**kwargs)`, and a page cache keyed by it."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, **kwargs):
            stamp = last_modified(**kwargs)
            prefix = f"archive:{stamp.timestamp() if stamp else 0}"
            cached = cache_page(settings.ARCHIVE_CACHE_SECONDS, key_prefix=prefix)(view)
            return condition(last_modified_func=lambda request, **kw: stamp)(cached)(request, **kwargs)

        return wrapped

    return decorator


def _meta(*, title: str, description: str, url: str, **extra) -> dict:
    """Context of publishing/_social_meta.html: canonical URL, Open Graph, Twitter card."""
    return {"meta_title": title, "meta_description": description, "meta_url": url, **extra}


@require_safe
def home_view(request):
    """The front page: what this is, a subscribe form, the latest publications and the feeds.
    Not page-cached: the form carries the visitor's CSRF token."""
    context = {
        "form": SubscribeForm(),
        "wording": subscribe_wording([]),
        "publications": list(archive_publications()[: settings.HOME_LATEST_COUNT]),
        "topics": list(public_topics()),
        **_meta(title=settings.SITE_NAME, description=settings.SITE_DESCRIPTION, url=settings.SITE_URL + "/"),
    }
    return render(request, "publishing/home.html", context)


@require_safe
@archive_cached(lambda: archive_last_modified())
def archive_index_view(request):
    topics = list(public_topics())
    latest = list(archive_publications()[: settings.ARCHIVE_PAGE_SIZE])
    meta = _meta(
        title=f"Archive · {settings.SITE_NAME}",
        description=settings.SITE_DESCRIPTION,
        url=settings.SITE_URL + request.path,
    )
    return render(request, "publishing/archive_index.html", {"topics": topics, "publications": latest, **meta})


@require_safe
@archive_cached(lambda slug: archive_last_modified(topic_slug=slug))
def archive_topic_view(request, slug: str):
    topic = get_object_or_404(public_topics(), slug=slug)
    paginator = Paginator(archive_publications().filter(topics=topic), settings.ARCHIVE_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    url = settings.SITE_URL + request.path + (f"?page={page.number}" if page.number > 1 else "")
    description = topic.description or f"Everything {settings.SITE_NAME} publishes about {topic.name}."
    meta = _meta(title=f"{topic.name} · {settings.SITE_NAME}", description=description, url=url)
    return render(request, "publishing/archive_topic.html", {"topic": topic, "page": page, **meta})


@require_safe
@archive_cached(lambda slug: archive_last_modified(slug=slug))
def archive_publication_view(request, slug: str):
    publication = archive_publication_get(slug=slug)
    if publication is None:
        raise Http404("No such publication")
    meta = _meta(
        title=publication.title,
        description=publication.summary or settings.SITE_DESCRIPTION,
        # The canonical URL says where the original lives (this page, unless it was published elsewhere).
        url=publication.canonical_url or archive_url(slug=publication.slug),
        meta_type="article",
        meta_published=publication.published_at,
        meta_modified=publication.updated_at,
    )
    context = {"publication": publication, "body_html": publication_html(publication=publication), **meta}
    return render(request, "publishing/archive_publication.html", context)
