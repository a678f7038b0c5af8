"""Audience queries (segment counts, previews, the fan-out's member list) run with their own
planner settings on PostgreSQL, for that transaction only."""

import pytest
from django.db import connection

from subscribers.selectors import audience_ids, audience_session
from tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _show(name: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {name}")
        return cursor.fetchone()[0]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="planner settings exist on PostgreSQL only")
def test_the_audience_session_sets_its_planner_settings_for_its_own_transaction_only(settings):
    settings.SEGMENT_QUERY_WORK_MEM, settings.SEGMENT_QUERY_PARALLEL_TUPLE_COST = "48MB", 0.02
    before = {name: _show(name) for name in ("jit", "work_mem", "parallel_tuple_cost")}
    with audience_session():
        assert (_show("jit"), _show("work_mem"), _show("parallel_tuple_cost")) == ("off", "48MB", "0.02")
    assert {name: _show(name) for name in before} == before


def test_audience_ids_reads_every_id_in_the_order_of_the_query():
    made = sorted(s.pk for s in SubscriberFactory.create_batch(5))
    from subscribers.models import Subscriber

    assert list(audience_ids(Subscriber.objects.order_by("-pk"))) == made[::-1]
