"""The admin landing dashboard and lists that stay fast at a million rows: no COUNT(*) over a
whole table on a list page (PostgreSQL's estimate instead), capped counts when filtered, and
search on indexed columns only."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from analytics.models import GuardTrip
from channels_app.models import Delivery
from core.roles import Role
from tests.factories import DeliveryFactory, SendFactory, SubscriberFactory

pytestmark = pytest.mark.django_db
needs_postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="estimates are PostgreSQL's")
# A COUNT straight over a table: what a million-row list must never run per page.
FULL_COUNT = re.compile(r'SELECT COUNT\(\*\) AS "__count" FROM "(subscribers_subscriber|channels_app_delivery)"')


@pytest.fixture
def staff_client(make_user):
    client = Client()
    client.force_login(make_user(Role.ADMIN, is_superuser=True))
    return client


def analyze(*tables: str) -> None:
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"ANALYZE {table}")


def get_with_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return response, [q["sql"] for q in queries.captured_queries]


@needs_postgres
@pytest.mark.parametrize("url", ["/admin/subscribers/subscriber/", "/admin/channels_app/delivery/"])
def test_big_lists_use_the_estimate_and_never_count_the_whole_table(staff_client, url):
    DeliveryFactory.create_batch(30)
    analyze("subscribers_subscriber", "channels_app_delivery")
    response, sql = get_with_queries(staff_client, url)
    assert not [q for q in sql if FULL_COUNT.search(q)], [q for q in sql if "COUNT" in q]
    assert any("reltuples" in q for q in sql)
    assert response.context["cl"].result_count == 30
    # Nor a filter whose choices are a DISTINCT over the table (the locale filter lists LANGUAGES).
    assert not [q for q in sql if "SELECT DISTINCT" in q and "subscribers_subscriber" in q]


def test_the_locale_filter_offers_the_languages_and_filters(staff_client):
    german = SubscriberFactory(locale="de")
    SubscriberFactory(locale="en")
    response = staff_client.get("/admin/subscribers/subscriber/?locale=de")
    assert [s.pk for s in response.context["cl"].result_list] == [german.pk]
    assert "Deutsch" in response.content.decode()


@needs_postgres
def test_a_filtered_list_counts_at_most_the_cap(staff_client):
    DeliveryFactory.create_batch(3, state=Delivery.State.DEAD)
    _, sql = get_with_queries(staff_client, "/admin/channels_app/delivery/?state__exact=dead")
    counts = [q for q in sql if "COUNT(" in q]
    assert counts and all("LIMIT 10001" in q for q in counts), counts


def test_subscriber_search_uses_the_indexed_email_or_the_number(staff_client):
    wanted = SubscriberFactory(email="ada@example.com", name="Ada")
    SubscriberFactory(email="grace@example.com", name="Ada too")
    response, sql = get_with_queries(staff_client, "/admin/subscribers/subscriber/?q=ADA@example.com")
    assert [s.pk for s in response.context["cl"].result_list] == [wanted.pk]
    assert not [q for q in sql if "LIKE" in q and "subscribers_subscriber" in q]
    by_number = staff_client.get(f"/admin/subscribers/subscriber/?q={wanted.pk}")
    assert [s.pk for s in by_number.context["cl"].result_list] == [wanted.pk]
    # A word is not an indexed search: nothing, rather than a scan of a million names.
    assert list(staff_client.get("/admin/subscribers/subscriber/?q=Ada").context["cl"].result_list) == []


def test_delivery_search_by_provider_message_id(staff_client):
    wanted = DeliveryFactory(provider_message_id="0100018c-abc")
    DeliveryFactory()
    response = staff_client.get("/admin/channels_app/delivery/?q=0100018c-abc")
    assert [d.pk for d in response.context["cl"].result_list] == [wanted.pk]


def test_the_dashboard_shows_sends_with_progress_dead_letters_guard_trips_and_growth(staff_client):
    send = SendFactory(subject="Quarterly results", audience_size=4, status="sending")
    for state in ("delivered", "delivered", "dead", "queued"):
        DeliveryFactory(send=send, state=state)
    GuardTrip.objects.create(
        scope="send", metric="bounce", send=send, rate=0.08, threshold=0.05, events=8, sample=100, reason="Bounces high"
    )
    page = staff_client.get("/admin/").content.decode()
    assert "Recent sends" in page and "Quarterly results" in page
    assert 'value="75"' in page and "3 / 4" in page  # three of four finished
    assert re.search(r'dashboard-figure">1<', page)  # one dead letter
    assert "Bounce rate" in page and "Bounces high" in page
    assert "New subscribers per day" in page and "+4 in 14 days" in page


def test_the_dashboard_is_not_shown_to_staff_without_a_role(make_user):
    client = Client()
    client.force_login(make_user(None, is_staff=True))
    assert "Recent sends" not in client.get("/admin/").content.decode()
