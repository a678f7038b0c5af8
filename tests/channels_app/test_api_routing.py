"""Ordered fallbacks and domain routes: validated by one service for the API (400 with the exact
reason, nothing written) and admin (a form error), and the provider that carried each delivery
shown in both."""

from __future__ import annotations

import pytest

from channels_app.models import Channel
from core.roles import Role
from tests.factories import ChannelFactory, DeliveryFactory, SendFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/publishing/channels"
OUTBOX = {"esp": "outbox", "from_email": "News <news@example.com>", "list_id": "lists.example.com"}


def _email(name: str, **fields) -> Channel:
    return ChannelFactory(name=name, kind="email", is_default=False, config=dict(OUTBOX), **fields)


def _payload(**fields) -> dict:
    return {"name": "Primary", "kind": "email", "config": OUTBOX, "credentials": {}, **fields}


def test_an_admin_creates_a_channel_with_ordered_fallbacks_and_routes(client_for):
    postmark, mailgun = _email("Postmark"), _email("Mailgun")
    routes = [{"domain": "GMail.com ", "channel": postmark.pk}, {"domain": "outlook.com", "channel": mailgun.pk}]
    response = client_for(Role.ADMIN).post(
        URL, _payload(fallbacks=[postmark.pk, mailgun.pk], routes=routes), format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["fallbacks"] == [postmark.pk, mailgun.pk], "the order is kept"
    assert body["routes"] == [
        {"domain": "gmail.com", "channel": postmark.pk},
        {"domain": "outlook.com", "channel": mailgun.pk},
    ]
    channel = Channel.objects.get(pk=body["id"])
    assert (channel.fallbacks, channel.routes) == (body["fallbacks"], body["routes"])


def _refusals() -> dict[str, tuple[dict, str, str]]:
    """name: (payload fields built from the channels below, field, the exact reason)."""
    return {
        "other-kind": ({"fallbacks": ["slack"]}, "fallbacks", "channel 'Slack' is a slack channel: a fallback must be"),
        "disabled": ({"fallbacks": ["off"]}, "fallbacks", "channel 'Off' is disabled"),
        "unknown": ({"fallbacks": [987654]}, "fallbacks", "channel 987654 does not exist"),
        "twice": ({"fallbacks": ["postmark", "postmark"]}, "fallbacks", "a channel is listed twice"),
        "too-many": ({"fallbacks": list(range(1, 8))}, "fallbacks", "at most 5 fallback channels"),
        "bad-domain": (
            {"routes": [{"domain": "not a domain", "channel": "postmark"}]},
            "routes",
            "route 1: 'not a domain' is not a domain name",
        ),
        "domain-twice": (
            {"routes": [{"domain": d, "channel": "postmark"} for d in ("gmail.com", "Gmail.com")]},
            "routes",
            "route 2: gmail.com is routed twice",
        ),
        "route-kind": (
            {"routes": [{"domain": "gmail.com", "channel": "slack"}]},
            "routes",
            "route 1: channel 'Slack' is a slack channel: a route must be of the same kind (email)",
        ),
        "route-shape": ({"routes": [{"domain": "gmail.com"}]}, "routes", 'route 1: must be {"domain": ..., "channel"'),
        "route-disabled": (
            {"routes": [{"domain": "gmail.com", "channel": "off"}]},
            "routes",
            "route 1: channel 'Off' is disabled",
        ),
    }


@pytest.mark.parametrize("case", list(_refusals()))
def test_a_bad_fallback_or_route_is_a_400_naming_the_reason_and_writes_nothing(client_for, case):
    channels = {
        "postmark": _email("Postmark").pk,
        "off": _email("Off", is_active=False).pk,
        "slack": ChannelFactory(name="Slack", kind="slack", audience="broadcast").pk,
    }
    fields, field, reason = _refusals()[case]
    fields = {
        "fallbacks": [channels.get(f, f) for f in fields.get("fallbacks", [])],
        "routes": [{**r, "channel": channels[r["channel"]]} if "channel" in r else r for r in fields.get("routes", [])],
    }
    before = Channel.objects.count()
    response = client_for(Role.ADMIN).post(URL, _payload(**fields), format="json")
    assert response.status_code == 400, response.json()
    [message] = response.json()["extra"]["fields"][field]
    assert message.startswith(reason), message
    assert Channel.objects.count() == before


def test_a_channel_cannot_fall_back_to_itself_or_route_to_itself(client_for):
    primary = _email("Primary")
    client = client_for(Role.ADMIN)
    response = client.patch(f"{URL}/{primary.pk}", {"fallbacks": [primary.pk]}, format="json")
    assert response.status_code == 400
    assert response.json()["extra"]["fields"]["fallbacks"] == ["a channel cannot be its own fallback"]
    to_itself = {"routes": [{"domain": "a.com", "channel": primary.pk}]}
    response = client.patch(f"{URL}/{primary.pk}", to_itself, format="json")
    assert response.json()["extra"]["fields"]["routes"] == ["route 1: a channel cannot route to itself"]
    primary.refresh_from_db()
    assert (primary.fallbacks, primary.routes) == ([], [])


def test_a_cycle_through_the_chain_is_refused(client_for):
    """SES → Postmark → Mailgun; Mailgun falling back to SES would close the circle."""
    mailgun = _email("Mailgun")
    postmark = _email("Postmark", fallbacks=[mailgun.pk])
    ses = _email("SES", fallbacks=[postmark.pk])
    response = client_for(Role.ADMIN).patch(f"{URL}/{mailgun.pk}", {"fallbacks": [ses.pk]}, format="json")
    assert response.status_code == 400
    assert response.json()["extra"]["fields"]["fallbacks"] == [
        "channel 'SES' falls back to this channel already: that would be a cycle"
    ]
    mailgun.refresh_from_db()
    assert mailgun.fallbacks == []


def _admin_data(**fields) -> dict:
    return {
        "name": "Primary",
        "audience": "subscribers",
        "config_esp": "outbox",
        "config_from_email": "News <news@example.com>",
        "config_list_id": "lists.example.com",
        "tracking_enabled": "on",
        **fields,
    }


def test_admin_takes_fallbacks_and_routes_by_channel_name_and_shows_them_again(admin_client):
    primary, postmark, mailgun = _email("Primary"), _email("Postmark"), _email("Mailgun")
    url = f"/admin/channels_app/channel/{primary.pk}/change/"
    data = _admin_data(fallbacks="Postmark\nMailgun", routes="gmail.com = Mailgun\n\nYahoo.com=Postmark")
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    primary.refresh_from_db()
    assert primary.fallbacks == [postmark.pk, mailgun.pk]
    assert primary.routes == [
        {"domain": "gmail.com", "channel": mailgun.pk},
        {"domain": "yahoo.com", "channel": postmark.pk},
    ]
    page = admin_client.get(url).content.decode()
    assert "Postmark\nMailgun</textarea>" in page and "gmail.com = Mailgun\nyahoo.com = Postmark</textarea>" in page


@pytest.mark.parametrize(
    "fields,error",
    [
        ({"fallbacks": "Nobody"}, "no channel is named &#x27;Nobody&#x27;"),
        ({"routes": "gmail.com Postmark"}, "write one rule a line as"),
        ({"fallbacks": "Mailgun"}, "falls back to this channel already: that would be a cycle"),
    ],
    ids=["unknown-name", "bad-rule", "cycle"],
)
def test_admin_shows_a_bad_fallback_or_route_as_a_form_error_and_saves_nothing(admin_client, fields, error):
    primary = _email("Primary")
    _email("Postmark")
    _email("Mailgun", fallbacks=[primary.pk])
    response = admin_client.post(f"/admin/channels_app/channel/{primary.pk}/change/", _admin_data(**fields))
    assert response.status_code == 200
    assert error in response.content.decode()
    primary.refresh_from_db()
    assert (primary.fallbacks, primary.routes) == ([], [])


def test_the_api_and_admin_show_which_provider_carried_each_delivery(client_for, admin_client):
    ses, postmark = _email("SES"), _email("Postmark")
    send = SendFactory()
    own = DeliveryFactory(send=send, channel=ses, state="sent")
    carried = DeliveryFactory(send=send, channel=ses, state="sent", sent_via=postmark)
    response = client_for(Role.VIEWER).get(f"/api/v1/publishing/sends/{send.pk}/deliveries")
    assert response.status_code == 200, response.json()
    rows = {row["id"]: row for row in response.json()["results"]}
    assert (rows[own.pk]["channel"], rows[own.pk]["sent_via"]) == ("SES", None)
    assert (rows[carried.pk]["channel"], rows[carried.pk]["sent_via"], rows[carried.pk]["sent_via_id"]) == (
        "SES",
        "Postmark",
        postmark.pk,
    )
    bad = client_for(Role.VIEWER).get(f"/api/v1/publishing/sends/{send.pk}/deliveries?state=nope")
    assert bad.status_code == 400 and "state" in bad.json()["extra"]["fields"]
    page = admin_client.get(f"/admin/channels_app/delivery/?sent_via__id__exact={postmark.pk}").content.decode()
    assert f"/admin/channels_app/delivery/{carried.pk}/change/" in page
    assert f"/admin/channels_app/delivery/{own.pk}/change/" not in page


def test_a_channel_another_fails_over_or_routes_to_cannot_be_deleted(client_for, admin_client):
    postmark = _email("Postmark")
    _email("SES", fallbacks=[postmark.pk], routes=[{"domain": "gmail.com", "channel": postmark.pk}])
    response = client_for(Role.ADMIN).delete(f"{URL}/{postmark.pk}")
    assert response.status_code == 409
    assert response.json()["message"] == (
        "Postmark is still in use: SES lists it as a fallback; SES routes a domain to it."
    )
    page = admin_client.get(f"/admin/channels_app/channel/{postmark.pk}/delete/").content.decode()
    assert "Postmark: SES lists it as a fallback" in page
    admin_client.post(f"/admin/channels_app/channel/{postmark.pk}/delete/", {"post": "yes"})
    assert Channel.objects.filter(pk=postmark.pk).exists()
    unused = _email("Unused")
    assert client_for(Role.ADMIN).delete(f"{URL}/{unused.pk}").status_code == 204
