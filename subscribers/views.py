"""Public pages: subscribe, confirm, preference centre, unsubscribe (RFC 8058), fresh links.

No login anywhere: a signed token in the URL is the credential. Views parse, call one
service and render; every answer about an address is the same whether we know it or not.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from core.exceptions import ApplicationError
from subscribers.forms import EmailLinkForm, PreferencesForm, SubscribeForm, subscribe_wording
from subscribers.http import client_ip, user_agent
from subscribers.i18n import subscriber_language
from subscribers.links import TEST_MESSAGE_LINKS
from subscribers.models import ConsentRecord, Subscriber, Topic
from subscribers.ratelimit import rate_limit_exceeded
from subscribers.selectors import preference_topics, subscriber_get_for_token
from subscribers.services import (
    ConsentContext,
    subscriber_confirm,
    subscriber_export,
    subscriber_link_request,
    subscriber_links_revoke,
    subscriber_preferences_update,
    subscriber_subscribe,
    subscriber_unsubscribe,
)
from subscribers.services.unsubscribe import ScopeDescription, unsubscribe_scope_describe
from subscribers.tokens import (
    InvalidToken,
    TokenPurpose,
    UnsubscribeScope,
    subscriber_token_make,
    subscriber_token_read,
)

Method = ConsentRecord.Method

INVALID_LINK_TEXT = {
    "expired": gettext_lazy("This link has expired."),
    "revoked": gettext_lazy("This link was replaced by a newer one."),
    "used": gettext_lazy("This confirmation link can no longer be used."),
    "unknown": gettext_lazy("This link no longer works."),
    "tampered": gettext_lazy(
        "This link is incomplete or damaged. Links sometimes break when they are copied or wrapped."
    ),
}


def _context(request: HttpRequest, method: str, source: str) -> ConsentContext:
    return ConsentContext(method=method, source=source, ip_address=client_ip(request), user_agent=user_agent(request))


def _rate_limited(request: HttpRequest, email: str = "") -> bool:
    """Per client IP and, when given, per address (Redis-backed when REDIS_URL is set)."""
    ip = client_ip(request) or "unknown"
    if rate_limit_exceeded(scope="public-ip", ident=ip, rate=settings.SUBSCRIBE_RATE_LIMIT_PER_IP):
        return True
    return bool(email) and rate_limit_exceeded(
        scope="public-email", ident=email.strip().lower(), rate=settings.SUBSCRIBE_RATE_LIMIT_PER_EMAIL
    )


def _too_many(request: HttpRequest) -> HttpResponse:
    return render(request, "subscribers/too_many.html", status=429)


def _link_invalid(request: HttpRequest, exc: InvalidToken, token: str, purpose: TokenPurpose) -> HttpResponse:
    """A friendly page, never a 500: a button for a fresh link when the token says whose it was,
    else a form asking for the address. Neither says whether we know anyone."""
    known = exc.reason != "tampered" and exc.subscriber_id is not None
    context = {
        "reason": exc.reason,
        "headline": INVALID_LINK_TEXT.get(exc.reason, INVALID_LINK_TEXT["unknown"]),
        "token": token if known else "",
        "purpose": purpose.value,
        "form": EmailLinkForm(),
    }
    return render(request, "subscribers/link_invalid.html", context, status=400 if not known else 410)


def _preferences_path(subscriber: Subscriber) -> str:
    token = subscriber_token_make(
        purpose=TokenPurpose.PREFERENCES, subscriber_id=subscriber.pk, version=subscriber.token_version
    )
    return reverse("subscribers:preferences", args=[token])


@never_cache
@require_http_methods(["GET", "POST"])
def subscribe_view(request: HttpRequest) -> HttpResponse:
    form = SubscribeForm(request.POST or None)
    if request.method == "POST":
        if form.is_bot:
            return redirect("subscribers:subscribe-done")  # look like success; do nothing
        if _rate_limited(request, request.POST.get("email", "")):
            return _too_many(request)
        if form.is_valid():
            try:
                subscriber_subscribe(
                    email=form.cleaned_data["email"],
                    topics=list(form.cleaned_data["topics"]),
                    # The language the form was shown in: their confirmation email is in it too.
                    profile={"name": form.cleaned_data["name"], "locale": translation.get_language()},
                    wording=form.wording(),
                    context=_context(request, Method.FORM, request.build_absolute_uri(request.path)),
                )
                return redirect("subscribers:subscribe-done")
            except ApplicationError as exc:
                form.add_service_errors(exc)
    status = 400 if form.errors else 200
    return render(
        request, "subscribers/subscribe.html", {"form": form, "wording": subscribe_wording([])}, status=status
    )


def subscribe_done_view(request: HttpRequest) -> HttpResponse:
    return render(request, "subscribers/subscribe_done.html")


@never_cache
@require_http_methods(["GET", "POST"])
def confirm_view(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button (mail scanners follow links); the POST confirms."""
    if request.method == "POST":
        try:
            subscriber = subscriber_confirm(token=token, context=_context(request, Method.LINK, "confirmation email"))
        except InvalidToken as exc:
            return _link_invalid(request, exc, token, TokenPurpose.CONFIRM)
        return redirect(_preferences_path(subscriber) + "?welcome=1")
    try:
        subscriber, data = subscriber_get_for_token(purpose=TokenPurpose.CONFIRM, token=token)
    except InvalidToken as exc:
        return _link_invalid(request, exc, token, TokenPurpose.CONFIRM)
    if subscriber.status not in (Subscriber.Status.PENDING, Subscriber.Status.ACTIVE):
        return _link_invalid(request, InvalidToken("used", subscriber.pk), token, TokenPurpose.CONFIRM)
    with translation.override(subscriber_language(subscriber)):
        return _confirm_page(request, token, subscriber, data.topic_id)


def _confirm_page(request: HttpRequest, token: str, subscriber: Subscriber, topic_id: int | None) -> HttpResponse:
    if topic_id is not None:  # one more topic for an active subscriber
        topic = Topic.objects.filter(pk=topic_id).first()
        if topic is None or subscriber.status != Subscriber.Status.ACTIVE:
            return _link_invalid(request, InvalidToken("used", subscriber.pk), token, TokenPurpose.CONFIRM)
        return render(
            request, "subscribers/confirm.html", {"subscriber": subscriber, "topics": [topic], "adding": True}
        )
    topics = [s.topic for s in subscriber.subscriptions.select_related("topic").exclude(frequency="off")]
    context = {"subscriber": subscriber, "topics": topics, "already": subscriber.status == Subscriber.Status.ACTIVE}
    if context["already"]:
        context["preferences_path"] = _preferences_path(subscriber)
    return render(request, "subscribers/confirm.html", context)


def preferences_link(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Resolve /preferences/<token> to its subscriber (revocation included) or the stale-link page."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, token: str) -> HttpResponse:
        try:
            subscriber, _ = subscriber_get_for_token(purpose=TokenPurpose.PREFERENCES, token=token)
        except InvalidToken as exc:
            return _link_invalid(request, exc, token, TokenPurpose.PREFERENCES)
        with translation.override(subscriber_language(subscriber)):
            return view(request, token, subscriber)

    return wrapper


@never_cache
@require_http_methods(["GET", "POST"])
@preferences_link
def preferences_view(request: HttpRequest, token: str, subscriber: Subscriber) -> HttpResponse:
    form = PreferencesForm(
        request.POST or None, subscriber=subscriber, topics=list(preference_topics(subscriber=subscriber))
    )
    if request.method == "POST" and form.is_valid():
        try:
            saved = subscriber_preferences_update(
                subscriber=subscriber,
                changes=form.changes(),
                subscriptions=form.subscription_choices(),
                context=_context(request, Method.LINK, "preference centre"),
            )
        except ApplicationError as exc:
            form.add_service_errors(exc)
        else:
            with translation.override(subscriber_language(saved)):  # the language just chosen
                messages.success(request, _("Your preferences are saved."))
            return redirect(request.path)
    context = {"subscriber": subscriber, "form": form, "token": token, "welcome": "welcome" in request.GET}
    return render(request, "subscribers/preferences.html", context, status=400 if form.errors else 200)


@never_cache
@require_POST
@preferences_link
def preferences_unsubscribe_view(request: HttpRequest, token: str, subscriber: Subscriber) -> HttpResponse:
    done = subscriber_unsubscribe(subscriber=subscriber, context=_context(request, Method.LINK, "preference centre"))
    return render(
        request,
        "subscribers/unsubscribed.html",
        {"stopped": done.stopped, "preferences_path": request.path.rsplit("/", 1)[0]},
    )


@never_cache
@require_POST
@preferences_link
def preferences_revoke_view(request: HttpRequest, token: str, subscriber: Subscriber) -> HttpResponse:
    subscriber_links_revoke(subscriber=subscriber, context=_context(request, Method.LINK, "preference centre"))
    return render(request, "subscribers/links_revoked.html")


@never_cache
@preferences_link
def preferences_data_view(request: HttpRequest, token: str, subscriber: Subscriber) -> HttpResponse:
    response = JsonResponse(
        subscriber_export(subscriber=subscriber), encoder=DjangoJSONEncoder, json_dumps_params={"indent": 2}
    )
    response["Content-Disposition"] = 'attachment; filename="my-bulletin-data.json"'
    return response


def _is_one_click(request: HttpRequest) -> bool:
    """RFC 8058 §3.2: the body is `List-Unsubscribe=One-Click`, form-encoded or multipart."""
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return request.POST.get("List-Unsubscribe") == "One-Click"
    return request.body[:64].strip() == b"List-Unsubscribe=One-Click"


@csrf_exempt  # RFC 8058: the mail provider's POST carries no cookie and no CSRF token
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe_view(request: HttpRequest, token: str) -> HttpResponse:
    if request.method == "POST" and _is_one_click(request):
        return _one_click_unsubscribe(request, token)
    return _unsubscribe_page(request, token)


def _unsubscribe_target(token: str) -> tuple[Subscriber, UnsubscribeScope]:
    """Whom an unsubscribe link is for and what it stops. Raises InvalidToken."""
    subscriber, data = subscriber_get_for_token(purpose=TokenPurpose.UNSUBSCRIBE, token=token)
    return subscriber, data.scope


def _one_click_unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    try:
        subscriber, scope = _unsubscribe_target(token)
    except InvalidToken as exc:
        if exc.reason == "unknown":  # erased: there is no one left to unsubscribe
            return HttpResponse(_("Unsubscribed.") + "\n", content_type="text/plain; charset=utf-8")
        return HttpResponse(f"{INVALID_LINK_TEXT[exc.reason]}\n", status=400, content_type="text/plain; charset=utf-8")
    context = _context(request, Method.ONE_CLICK, "List-Unsubscribe-Post")
    with translation.override(subscriber_language(subscriber)):
        done = subscriber_unsubscribe(subscriber=subscriber, scope=scope, context=context)
        text = render_to_string(
            "subscribers/unsubscribed.txt", {"stopped": done.stopped, "site_name": settings.SITE_NAME}
        )
    return HttpResponse(" ".join(text.split()) + "\n", content_type="text/plain; charset=utf-8")


@csrf_protect
def _unsubscribe_page(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows exactly what will stop and a button; link scanners that GET never unsubscribe anyone."""
    try:
        subscriber, scope = _unsubscribe_target(token)
    except InvalidToken as exc:
        if exc.reason == "unknown":
            return render(request, "subscribers/unsubscribed.html", {"stopped": ScopeDescription(everything=True)})
        return _link_invalid(request, exc, token, TokenPurpose.UNSUBSCRIBE)
    with translation.override(subscriber_language(subscriber)):
        return _unsubscribe_page_for(request, subscriber, scope)


def _unsubscribe_page_for(request: HttpRequest, subscriber: Subscriber, scope: UnsubscribeScope) -> HttpResponse:
    context = {"subscriber": subscriber, "preferences_path": _preferences_path(subscriber)}
    if request.method == "POST":
        consent = _context(request, Method.LINK, "unsubscribe page")
        done = subscriber_unsubscribe(subscriber=subscriber, scope=scope, context=consent)
        return render(request, "subscribers/unsubscribed.html", {**context, "stopped": done.stopped})
    stopping = unsubscribe_scope_describe(scope=scope)
    context["stopping"] = stopping
    context["already"] = stopping.everything and subscriber.status != Subscriber.Status.ACTIVE
    return render(request, "subscribers/unsubscribe.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def link_request_view(request: HttpRequest) -> HttpResponse:
    """ "Email me a fresh link": by the old token (expired or revoked) or by address."""
    form = EmailLinkForm(request.POST or None)
    if request.method == "POST":
        token, purpose = request.POST.get("token", ""), request.POST.get("purpose", "")
        subscriber_id = _token_owner(token, purpose) if token else None
        if _rate_limited(request, request.POST.get("email", "") or f"id:{subscriber_id}"):
            return _too_many(request)
        if subscriber_id is not None or form.is_valid():
            subscriber_link_request(subscriber_id=subscriber_id, email=form.data.get("email", ""))
            return render(request, "subscribers/link_sent.html")
    return render(request, "subscribers/link_request.html", {"form": form}, status=400 if form.errors else 200)


def _token_owner(token: str, purpose: str) -> int | None:
    """Whose link this was, when its signature is good (even if expired or revoked)."""
    if purpose not in TokenPurpose._value2member_map_:
        return None
    try:
        return subscriber_token_read(purpose=TokenPurpose(purpose), token=token).subscriber_id
    except InvalidToken as exc:
        return exc.subscriber_id


@csrf_exempt  # the one-click POST of a test message's List-Unsubscribe carries no CSRF token
@require_http_methods(["GET", "POST"])
def testmessage_view(request: HttpRequest, link: str) -> HttpResponse:
    """Where a test message's unsubscribe and preferences links lead: nobody is subscribed by a
    test, so there is nothing to change; the page says so (and a one-click POST gets a 200)."""
    if link not in TEST_MESSAGE_LINKS:
        raise Http404("No such link")
    if request.method == "POST":
        return HttpResponse("This was a test message: nothing to unsubscribe from.\n", content_type="text/plain")
    return render(request, "subscribers/test_message.html", {"link": link})
