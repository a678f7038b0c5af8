"""A/B subject tests: variants to a test share, the winner (human opens or clicks) to the rest."""

from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app.models import Delivery, Send
from core.exceptions import ApplicationError
from publishing.models import ABTest
from publishing.services.abtests import abtest_configure, abtest_results, abtests_decide_due
from publishing.services.publish import publication_publish
from tests.factories import EngagementEventFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def newsletter(draft, editor):
    abtest_configure(
        publication=draft, actor=editor, subjects=["Results are in", "We grew 40%"], test_fraction=0.5, wait_minutes=30
    )
    return draft


def _engage(send, count, *, kind="open", machine=False):
    for delivery in Delivery.objects.filter(send=send).order_by("pk")[:count]:
        EngagementEventFactory(delivery=delivery, kind=kind, is_machine=machine)


def test_variants_go_to_the_test_share_and_the_winner_to_everyone_else(
    newsletter, publisher, email_channel, make_readers, outbox, django_capture_on_commit_callbacks
):
    readers = make_readers(20)
    with django_capture_on_commit_callbacks(execute=True):
        publication_publish(publication=newsletter, actor=publisher)
    test = ABTest.objects.get()
    a, b = test.variants.order_by("index")
    assert test.status == ABTest.Status.TESTING
    assert test.decide_at == test.started_at + timedelta(minutes=30)
    assert (a.send.audience_size, b.send.audience_size) == (5, 5)
    assert sorted(m["Subject"] for m in outbox()) == ["Results are in"] * 5 + ["We grew 40%"] * 5

    _engage(a.send, 1)
    _engage(a.send, 5, machine=True)  # Apple Mail Privacy Protection: never counts
    _engage(b.send, 3)
    assert abtests_decide_due(now=test.decide_at - timedelta(seconds=1)) == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert abtests_decide_due(now=test.decide_at) == 1
        assert abtests_decide_due(now=test.decide_at + timedelta(minutes=1)) == 0
    test.refresh_from_db()
    assert (test.status, test.winner, test.winner_send.subject) == (ABTest.Status.WINNER_SENT, b, "We grew 40%")
    winners = Delivery.objects.filter(send=test.winner_send)
    assert winners.count() == 10
    reached = set(Delivery.objects.filter(send__in=[a.send, b.send]).values_list("subscriber_id", flat=True))
    assert reached.isdisjoint(winners.values_list("subscriber_id", flat=True))
    assert reached | set(winners.values_list("subscriber_id", flat=True)) == {r.pk for r in readers}
    results = {r["variant"]: r for r in abtest_results(test=test)}
    assert (results["A"]["unique_opens"], results["B"]["unique_opens"]) == (1, 3)
    assert results["B"]["open_rate"] == 0.6 and results["B"]["winner"]
    assert len(outbox()) == 20


def test_the_click_metric_ignores_opens_and_ties_go_to_the_first_variant(
    newsletter, publisher, email_channel, make_readers, django_capture_on_commit_callbacks
):
    ABTest.objects.update(metric=ABTest.Metric.CLICKS)
    make_readers(8)
    with django_capture_on_commit_callbacks(execute=True):
        publication_publish(publication=newsletter, actor=publisher)
    test = ABTest.objects.get()
    a, b = test.variants.order_by("index")
    _engage(b.send, 2, kind="open")
    with django_capture_on_commit_callbacks(execute=True):
        abtests_decide_due(now=timezone.now() + timedelta(hours=1))
    test.refresh_from_db()
    assert test.winner == a


def test_chat_and_broadcast_destinations_get_the_newsletter_at_once(
    newsletter, publisher, email_channel, make_readers, django_capture_on_commit_callbacks
):
    make_readers(4)
    with django_capture_on_commit_callbacks(execute=True):
        publication_publish(publication=newsletter, actor=publisher)
    keys = set(Send.objects.values_list("key", flat=True))
    pk = newsletter.pk
    assert keys == {f"publication:{pk}:newsletter", f"publication:{pk}:ab:A", f"publication:{pk}:ab:B"}
    assert Send.objects.get(key=f"publication:{pk}:newsletter").audience["channel_kinds"] == ["slack", "webhook"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"subjects": ["only one"]}, "subjects"),
        ({"subjects": ["a", "b", "c", "d", "e"]}, "subjects"),
        ({"subjects": ["same", "same"]}, "subjects"),
        ({"subjects": ["a", "b"], "test_fraction": 0.9}, "test_fraction"),
        ({"subjects": ["a", "b"], "wait_minutes": 0}, "wait_minutes"),
        ({"subjects": ["a", "b"], "metric": "revenue"}, "metric"),
    ],
)
def test_invalid_tests_are_refused(draft, editor, kwargs, field):
    with pytest.raises(ApplicationError) as error:
        abtest_configure(publication=draft, actor=editor, **kwargs)
    assert field in error.value.extra["fields"]
    assert not ABTest.objects.exists()


def test_alerts_cannot_be_ab_tested(draft, editor):
    draft.priority = "alert"
    with pytest.raises(ApplicationError) as error:
        abtest_configure(publication=draft, actor=editor, subjects=["a", "b"])
    assert "priority" in error.value.extra["fields"]


def test_a_started_test_cannot_be_changed_and_an_empty_list_removes_a_draft_test(newsletter, editor):
    assert abtest_configure(publication=newsletter, actor=editor, subjects=[]) is None
    assert not ABTest.objects.exists()
    abtest_configure(publication=newsletter, actor=editor, subjects=["a", "b"])
    ABTest.objects.update(status=ABTest.Status.TESTING)
    with pytest.raises(ApplicationError):
        abtest_configure(publication=newsletter, actor=editor, subjects=["c", "d"])
