"""The subscribe form other sites embed: a plain HTML form posting to /subscribe/embed.

A form on another site cannot carry our CSRF token, so this one endpoint is CSRF-exempt. That is
safe because it can do nothing a stranger cannot do by typing an address into /subscribe: it
starts a double opt-in (nothing is sent to the address but a confirmation until its owner
confirms), never changes an existing subscriber (the public path only mails opt-in links), never
acts as the visitor's session (no actor is passed on), and is rate-limited per client address
and per email address like the subscribe page. Input the page would refuse is shown on our own
subscribe page, with the errors, where the visitor completes it under CSRF protection.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from core.exceptions import ApplicationError
from subscribers.forms import SubscribeForm, subscribe_wording
from subscribers.http import client_ip, user_agent
from subscribers.models import ConsentRecord
from subscribers.selectors import public_topics
from subscribers.services import ConsentContext, subscriber_subscribe
from subscribers.views import _rate_limited, _too_many

EMBED_PATH = "/subscribe/embed"


def embed_snippet() -> str:
    """The HTML a site owner pastes into their page (shown on GET /subscribe/embed, README)."""
    context = {
        "action": settings.SITE_URL + EMBED_PATH,
        "topics": list(public_topics()),
        "wording": subscribe_wording([]),
    }
    return render_to_string("subscribers/embed_snippet.html", context).strip()


def _bound_form(post: QueryDict) -> tuple[SubscribeForm, list[str]]:
    """The subscribe page's form bound to the embed's fields; topics may be named by slug."""
    by_slug = {t.slug: str(t.pk) for t in public_topics()}
    known_pks = set(by_slug.values())
    wanted = post.getlist("topics")
    unknown = [value for value in wanted if value not in by_slug and value not in known_pks]
    data = post.copy()
    data.setlist("topics", [by_slug.get(value, value) for value in wanted if value not in unknown])
    return SubscribeForm(data), unknown


def _source(request: HttpRequest) -> str:
    """The page the form sits on, as far as the browser says (scheme and host only)."""
    origin = request.headers.get("Origin") or request.headers.get("Referer") or ""
    parts = urlsplit(origin)
    where = f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else "unknown"
    return f"embed: {where}"[:255]


@csrf_exempt  # a form on another site carries no CSRF token; see the module docstring
@never_cache
@require_http_methods(["GET", "POST"])
def subscribe_embed_view(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, "subscribers/embed.html", {"snippet": embed_snippet()})
    form, unknown = _bound_form(request.POST)
    if form.is_bot:
        return redirect("subscribers:subscribe-done")  # look like success; do nothing
    if _rate_limited(request, request.POST.get("email", "")):
        return _too_many(request)
    if form.is_valid() and not unknown:
        try:
            subscriber_subscribe(
                email=form.cleaned_data["email"],
                topics=list(form.cleaned_data["topics"]),
                profile={"name": form.cleaned_data["name"], "locale": translation.get_language()},
                wording=form.wording(),
                context=ConsentContext(
                    method=ConsentRecord.Method.FORM,
                    source=_source(request),
                    ip_address=client_ip(request),
                    user_agent=user_agent(request),
                ),
            )
            return redirect("subscribers:subscribe-done")
        except ApplicationError as exc:
            form.add_service_errors(exc)
    if unknown:
        form.add_error("topics", _("Unknown topic: %(topics)s.") % {"topics": ", ".join(unknown)})
    context = {"form": form, "wording": subscribe_wording([])}
    return render(request, "subscribers/subscribe.html", context, status=400)
