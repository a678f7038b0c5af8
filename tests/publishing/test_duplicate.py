"""Duplicate: a new draft with the same content and audience settings, never the published state,
schedule, sends or statistics; in admin (POST with CSRF) and the API (editor role)."""

from __future__ import annotations

import pytest
from django.test import Client

from channels_app.models import Send
from core.exceptions import ApplicationError
from core.roles import Role
from publishing.models import ABTest, Publication
from publishing.services.abtests import abtest_configure
from publishing.services.duplicate import publication_duplicate
from publishing.services.publish import publication_publish
from subscribers.models import Segment
from tests.factories import PublicationFactory

pytestmark = pytest.mark.django_db
ADMIN = "/admin/publishing/publication"
API = "/api/v1/publishing/publications"


@pytest.fixture
def segment(db):
    return Segment.objects.create(name="Everyone active", rules={"type": "status", "op": "eq", "value": "active"})


@pytest.fixture
def published(draft, publisher, editor, email_channel, make_readers, django_capture_on_commit_callbacks):
    make_readers(2)
    abtest_configure(publication=draft, actor=editor, subjects=["A subject", "B subject"], test_fraction=0.3)
    with django_capture_on_commit_callbacks(execute=True):
        return publication_publish(publication=draft, actor=publisher)


def test_a_duplicate_is_a_draft_with_the_content_and_audience_but_no_state_sends_or_stats(published, editor, topic):
    assert published.state == "published" and Send.objects.filter(publication=published).exists()
    copy = publication_duplicate(publication=published, actor=editor)
    assert (copy.title, copy.state, copy.author) == ("Quarterly results (copy)", "draft", editor)
    assert copy.slug == "quarterly-results-copy" and copy.slug != published.slug
    assert (copy.body, copy.summary, copy.priority) == (published.body, published.summary, published.priority)
    assert list(copy.topics.all()) == [topic]
    assert (copy.publish_at, copy.published_at, copy.approved_by) == (None, None, None)
    assert not Send.objects.filter(publication=copy).exists() and not copy.transitions.exists()
    test = ABTest.objects.get(publication=copy)
    assert (test.status, test.test_fraction, [v.subject for v in test.variants.all()]) == (
        "draft",
        0.3,
        ["A subject", "B subject"],
    )
    assert all(v.send_id is None for v in test.variants.all()) and test.winner_send_id is None


def test_duplicating_twice_gives_unique_slugs_and_keeps_segments(editor, topic, segment):
    source = PublicationFactory(title="T" * 200, segment=segment, exclude_segment=None, topics=[topic])
    first = publication_duplicate(publication=source, actor=editor)
    second = publication_duplicate(publication=source, actor=editor)
    assert len(first.title) == 200 and first.title.endswith("T (copy)")
    assert first.slug != second.slug and first.segment == second.segment == segment


def test_a_viewer_cannot_duplicate(make_user, draft):
    with pytest.raises(ApplicationError, match="needs the editor role"):
        publication_duplicate(publication=draft, actor=make_user(Role.VIEWER))
    assert Publication.objects.count() == 1


def test_the_admin_button_duplicates_by_post_with_csrf(editor, draft):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(editor)
    page = browser.get(f"{ADMIN}/{draft.pk}/change/").content.decode()
    assert f'action="{ADMIN}/{draft.pk}/duplicate/"' in page and "Duplicate as a new draft" in page
    assert browser.post(f"{ADMIN}/{draft.pk}/duplicate/").status_code == 403  # no CSRF token
    assert browser.get(f"{ADMIN}/{draft.pk}/duplicate/").status_code == 405
    assert Publication.objects.count() == 1
    token = browser.cookies["csrftoken"].value
    response = browser.post(f"{ADMIN}/{draft.pk}/duplicate/", {"csrfmiddlewaretoken": token})
    copy = Publication.objects.exclude(pk=draft.pk).get()
    assert response.status_code == 302 and response["Location"] == f"{ADMIN}/{copy.pk}/change/"
    assert copy.title == "Quarterly results (copy)" and copy.state == "draft"


def test_a_viewer_in_admin_gets_a_message_not_a_copy(make_user, draft):
    browser = Client()
    viewer = make_user(Role.VIEWER, is_staff=True)
    browser.force_login(viewer)
    page = browser.get(f"{ADMIN}/{draft.pk}/change/").content.decode()
    assert "Duplicate as a new draft" not in page  # not offered; refused by URL too
    response = browser.post(f"{ADMIN}/{draft.pk}/duplicate/", follow=True)
    assert (
        response.status_code == 200 and "Duplicating a publication needs the editor role." in response.content.decode()
    )
    assert Publication.objects.count() == 1


def test_the_api_duplicates_for_editors_only(client_for, draft, topic):
    viewer = client_for(Role.VIEWER).post(f"{API}/{draft.pk}/duplicate")
    assert viewer.status_code == 403 and Publication.objects.count() == 1
    assert client_for(Role.EDITOR).post(f"{API}/999999/duplicate").status_code == 404
    response = client_for(Role.EDITOR).post(f"{API}/{draft.pk}/duplicate")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["title"], body["state"], body["topics"]) == ("Quarterly results (copy)", "draft", ["news"])
    assert body["id"] != draft.pk and body["slug"] == "quarterly-results-copy"
