"""The editorial workflow: editors draft and submit; publishers approve, schedule, publish, archive."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.exceptions import ApplicationError
from core.roles import Role
from publishing.models import Publication
from publishing.services.publish import publication_publish
from publishing.services.states import (
    publication_archive,
    publication_create,
    publication_delete,
    publication_return_to_draft,
    publication_submit,
    publication_update,
)

pytestmark = pytest.mark.django_db
State = Publication.State


def test_an_editor_drafts_and_submits_and_every_step_is_recorded(editor, topic):
    publication = publication_create(actor=editor, title="Hello world", body="Hi **there**", topics=[topic])
    assert (publication.state, publication.author, publication.slug) == (State.DRAFT, editor, "hello-world")
    publication_submit(publication=publication, actor=editor)
    publication.refresh_from_db()
    assert publication.state == State.IN_REVIEW
    [transition] = publication.transitions.all()
    assert (transition.from_state, transition.to_state, transition.actor) == (State.DRAFT, State.IN_REVIEW, editor)


def test_slugs_are_unique_and_never_the_reserved_topics_path(editor):
    first = publication_create(actor=editor, title="Same title")
    second = publication_create(actor=editor, title="Same title")
    reserved = publication_create(actor=editor, title="Topics")
    assert (first.slug, second.slug, reserved.slug) == ("same-title", "same-title-2", "topics-1")


def test_a_viewer_cannot_create(make_user):
    with pytest.raises(ApplicationError) as error:
        publication_create(actor=make_user(Role.VIEWER), title="Nope")
    assert error.value.status_code == 403
    assert not Publication.objects.exists()


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("Hi <script>alert(1)</script>", "<script> is not allowed"),
        ('<a href="javascript:alert(1)">x</a>', "javascript: URLs are not allowed"),
        ('<img src="x.png" onerror="alert(1)">', "event handler attributes (onerror=) are not allowed"),
        ("<iframe src='https://evil.example'></iframe>", "<iframe> is not allowed"),
        ("nul \x00 byte", "control characters"),
    ],
)
def test_dangerous_markdown_or_html_is_refused_with_the_reason_and_nothing_is_saved(editor, body, problem):
    with pytest.raises(ApplicationError) as error:
        publication_create(actor=editor, title="Bad", body=body)
    assert any(problem in message for message in error.value.extra["fields"]["body"])
    assert not Publication.objects.exists()


def test_an_update_with_invalid_fields_changes_nothing(draft, editor):
    with pytest.raises(ApplicationError) as error:
        publication_update(publication=draft, actor=editor, title="", quality_score=2, canonical_url="ftp://x")
    assert set(error.value.extra["fields"]) == {"title", "quality_score", "canonical_url"}
    draft.refresh_from_db()
    assert draft.title == "Quarterly results"


def test_submitting_needs_topics(editor):
    publication = publication_create(actor=editor, title="No topics yet")
    with pytest.raises(ApplicationError) as error:
        publication_submit(publication=publication, actor=editor)
    assert "topics" in error.value.extra["fields"]


def test_editors_edit_drafts_and_reviews_but_not_scheduled_or_published_ones(draft, editor, publisher):
    publication_update(publication=draft, actor=editor, summary="Edited")
    publication_publish(publication=draft, actor=publisher, publish_at=timezone.now() + timedelta(hours=1))
    with pytest.raises(ApplicationError) as error:
        publication_update(publication=draft, actor=editor, summary="Too late")
    assert error.value.status_code == 403
    publication_update(publication=draft, actor=publisher, summary="Publisher fix")
    draft.refresh_from_db()
    assert draft.summary == "Publisher fix"


def test_the_slug_of_a_published_publication_cannot_change(draft, publisher):
    publication_publish(publication=draft, actor=publisher)
    with pytest.raises(ApplicationError) as error:
        publication_update(publication=draft, actor=publisher, slug="moved")
    assert "slug" in error.value.extra["fields"]


def test_an_editor_withdraws_a_submission_but_only_a_publisher_unschedules(draft, editor, publisher):
    publication_submit(publication=draft, actor=editor)
    publication_return_to_draft(publication=draft, actor=editor)
    draft.refresh_from_db()
    assert draft.state == State.DRAFT
    publication_publish(publication=draft, actor=publisher, publish_at=timezone.now() + timedelta(hours=1))
    with pytest.raises(ApplicationError):
        publication_return_to_draft(publication=draft, actor=editor)
    publication_return_to_draft(publication=draft, actor=publisher, note="not yet")
    draft.refresh_from_db()
    assert (draft.state, draft.publish_at) == (State.DRAFT, None)


def test_only_a_published_publication_is_archived_and_only_by_a_publisher(draft, editor, publisher):
    with pytest.raises(ApplicationError) as error:
        publication_archive(publication=draft, actor=publisher)
    assert error.value.status_code == 409
    publication_publish(publication=draft, actor=publisher)
    with pytest.raises(ApplicationError):
        publication_archive(publication=draft, actor=editor)
    publication_archive(publication=draft, actor=publisher)
    draft.refresh_from_db()
    assert draft.state == State.ARCHIVED
    with pytest.raises(ApplicationError):
        publication_update(publication=draft, actor=publisher, title="x")


def test_submitting_twice_is_refused(draft, editor):
    publication_submit(publication=draft, actor=editor)
    with pytest.raises(ApplicationError) as error:
        publication_submit(publication=draft, actor=editor)
    assert error.value.status_code == 409


def test_deleting_a_published_publication_is_refused(draft, editor, publisher):
    publication_publish(publication=draft, actor=publisher)
    with pytest.raises(ApplicationError):
        publication_delete(publication=draft, actor=publisher)
    other = publication_create(actor=editor, title="Scratch")
    publication_delete(publication=other, actor=editor)
    assert not Publication.objects.filter(pk=other.pk).exists()
