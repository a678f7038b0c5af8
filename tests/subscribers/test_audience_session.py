"""Audience queries (segment counts, previews, the fan-out's member list) run with their own
planner settings on PostgreSQL, for that transaction only, and an outer transaction gets its
own settings back afterwards."""

import pytest
from django.db import connection, transaction

from subscribers.models import Subscriber
from subscribers.selectors import audience_ids, audience_session
from tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db(transaction=True)
NAMES = ("jit", "work_mem", "parallel_tuple_cost", "cursor_tuple_fraction")
ON_POSTGRESQL = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="planner settings exist on PostgreSQL only"
)


def _show() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(["current_setting(%s)"] * len(NAMES)), list(NAMES))
        return dict(zip(NAMES, cursor.fetchone(), strict=True))


@ON_POSTGRESQL
def test_the_audience_session_sets_its_planner_settings_for_its_own_transaction_only(settings):
    settings.SEGMENT_QUERY_WORK_MEM, settings.SEGMENT_QUERY_PARALLEL_TUPLE_COST = "48MB", 0.02
    before = _show()
    with audience_session():
        assert _show() == {
            "jit": "off",
            "work_mem": "48MB",
            "parallel_tuple_cost": "0.02",
            "cursor_tuple_fraction": "1",
        }
    assert _show() == before


@ON_POSTGRESQL
def test_inside_an_outer_transaction_the_settings_are_put_back_for_what_follows(settings):
    settings.SEGMENT_QUERY_WORK_MEM = "48MB"
    with transaction.atomic():  # a publish counts its audience, then creates the send
        before = _show()
        with audience_session():
            assert _show()["work_mem"] == "48MB"
        assert _show() == before
        with pytest.raises(ZeroDivisionError), audience_session():
            1 / 0  # noqa: B018  (an error inside: the savepoint's rollback restores them)
        assert _show() == before


def test_audience_ids_reads_every_id_in_the_order_of_the_query():
    made = sorted(s.pk for s in SubscriberFactory.create_batch(5))
    assert list(audience_ids(Subscriber.objects.order_by("-pk"))) == made[::-1]
