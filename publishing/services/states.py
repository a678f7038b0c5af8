"""The editorial workflow: compose, edit, submit, return, archive, delete, with roles enforced here
(admin, API and tasks all come through these functions).

    draft ──submit (editor)──► in_review ──schedule (publisher)──► scheduled ──(beat)──► published ──► archived
      ▲                           │  └──────────publish now (publisher)──────────────────────▲
      └──return to draft (editor; publisher for scheduled)
Publishing and scheduling live in publishing.services.publish.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import transaction
from django.utils.text import slugify

from core.exceptions import ApplicationError
from core.roles import Role, role_require
from publishing.markup import body_problems
from publishing.models import Publication, PublicationTransition
from publishing.services.quiet_hours import TIMING_FIELDS, timing_errors
from subscribers.models import Topic

State = Publication.State
EDITABLE_FIELDS = (
    "title",
    "slug",
    "email_subject",
    "summary",
    "body",
    "canonical_url",
    "priority",
    "quality_score",
    "segment",
    "exclude_segment",
    *TIMING_FIELDS,
)
# What an editor may still change; publishers may also edit scheduled and published ones.
EDITOR_STATES = {State.DRAFT, State.IN_REVIEW}
RESERVED_SLUGS = {"topics"}  # /archive/topics/ is the topic index


def publication_validate(*, fields: dict[str, Any], topics: Sequence[Topic] | None = None) -> None:
    """Field errors for publication content; raises ApplicationError naming each field."""
    errors: dict[str, list[str]] = {}
    if "title" in fields and not str(fields["title"] or "").strip():
        errors["title"] = ["A title is required."]
    if "body" in fields:
        problems = body_problems(str(fields["body"] or ""))
        if problems:
            errors["body"] = [f"Invalid Markdown/HTML: {p}." for p in problems]
    quality = fields.get("quality_score")
    if quality is not None and not (0 <= float(quality) <= 1):
        errors["quality_score"] = ["Must be between 0 and 1."]
    url = str(fields.get("canonical_url") or "")
    if url and not url.startswith(("https://", "http://")):
        errors["canonical_url"] = ["Must be an http(s) URL."]
    if fields.get("priority") not in (None, *Publication.Priority.values):
        errors["priority"] = [f"Must be one of {', '.join(Publication.Priority.values)}."]
    if fields.get("slug") in RESERVED_SLUGS:
        errors["slug"] = ["This slug is reserved."]
    if fields.get("segment") is not None and fields.get("segment") == fields.get("exclude_segment"):
        errors["exclude_segment"] = ["The exclusion cannot be the segment itself."]
    errors.update(timing_errors(fields))
    if errors:
        raise ApplicationError.for_fields(errors, message="Invalid publication")


def _unique_slug(base: str, *, exclude_pk: int | None = None) -> str:
    base = (slugify(base) or "publication")[:200]
    if base in RESERVED_SLUGS:
        base += "-1"
    slug, n = base, 1
    while Publication.objects.filter(slug=slug).exclude(pk=exclude_pk).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def publication_create(*, actor, title: str, topics: Iterable[Topic] = (), **fields: Any) -> Publication:
    role_require(actor, Role.EDITOR, "Creating a publication")
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ApplicationError.for_fields(dict.fromkeys(sorted(unknown), "cannot be set"))
    fields = {"title": title, **fields}
    publication_validate(fields=fields)
    if fields.get("slug") and Publication.objects.filter(slug=fields["slug"]).exists():
        raise ApplicationError.for_fields({"slug": "A publication with this slug exists."})
    fields["slug"] = fields.get("slug") or _unique_slug(title)
    if fields.get("quality_score") is not None:
        fields["quality_score"] = float(fields["quality_score"])
    publication = Publication.objects.create(author=actor, **fields)
    publication.topics.set(list(topics))
    return publication


@transaction.atomic
def publication_update(
    *, publication: Publication, actor, topics: Iterable[Topic] | None = None, **fields: Any
) -> Publication:
    publication = Publication.objects.select_for_update().get(pk=publication.pk)
    if publication.state == State.ARCHIVED:
        raise ApplicationError("An archived publication cannot be edited.")
    if publication.state not in EDITOR_STATES:
        role_require(actor, Role.PUBLISHER, f"Editing a {publication.get_state_display().lower()} publication")
    role_require(actor, Role.EDITOR, "Editing a publication")
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ApplicationError.for_fields(dict.fromkeys(sorted(unknown), "cannot be changed"))
    publication_validate(
        fields={
            "segment": publication.segment,
            "exclude_segment": publication.exclude_segment,
            **{name: getattr(publication, name) for name in (*TIMING_FIELDS, "priority")},
            **fields,
        }
    )
    if "slug" in fields and fields["slug"] != publication.slug:
        if publication.state in (State.PUBLISHED, State.ARCHIVED):
            raise ApplicationError.for_fields({"slug": "The slug of a published publication is its address."})
        if Publication.objects.filter(slug=fields["slug"]).exclude(pk=publication.pk).exists():
            raise ApplicationError.for_fields({"slug": "A publication with this slug exists."})
    for name, value in fields.items():
        setattr(publication, name, value)
    if not publication.slug:
        publication.slug = _unique_slug(publication.title, exclude_pk=publication.pk)
    publication.save(update_fields=[*fields, "slug", "updated_at"])
    if topics is not None:
        publication.topics.set(list(topics))
    return publication


@transaction.atomic
def publication_delete(*, publication: Publication, actor) -> None:
    publication = Publication.objects.select_for_update().get(pk=publication.pk)
    if publication.state in (State.PUBLISHED, State.ARCHIVED):
        raise ApplicationError("A published publication cannot be deleted; archive it instead.")
    role_require(actor, Role.PUBLISHER if publication.state == State.SCHEDULED else Role.EDITOR, "Deleting it")
    publication.delete()


def publication_transition(
    *, publication: Publication, to_state: str, actor, note: str = "", **changes: Any
) -> Publication:
    """Move a locked publication to `to_state` (callers checked the rule) and record who did it."""
    from_state = publication.state
    publication.state = to_state
    for name, value in changes.items():
        setattr(publication, name, value)
    publication.save(update_fields=["state", *changes, "updated_at"])
    PublicationTransition.objects.create(
        publication=publication, from_state=from_state, to_state=to_state, actor=actor, note=note[:500]
    )
    return publication


def publication_ready_check(publication: Publication) -> None:
    """What must hold before review or publishing: a title, topics or a segment, a valid body."""
    publication_validate(fields={"title": publication.title, "body": publication.body})
    if not publication.topics.exists() and publication.segment_id is None:
        raise ApplicationError.for_fields({"topics": "Choose at least one topic or a segment."}, message="Not ready")


def _locked(publication: Publication, allowed: set[str], action: str) -> Publication:
    locked = Publication.objects.select_for_update().get(pk=publication.pk)
    if locked.state not in allowed:
        raise ApplicationError(f"Cannot {action} a {locked.get_state_display().lower()} publication.", status_code=409)
    return locked


@transaction.atomic
def publication_submit(*, publication: Publication, actor) -> Publication:
    role_require(actor, Role.EDITOR, "Submitting for review")
    publication = _locked(publication, {State.DRAFT}, "submit")
    publication_ready_check(publication)
    return publication_transition(publication=publication, to_state=State.IN_REVIEW, actor=actor)


@transaction.atomic
def publication_return_to_draft(*, publication: Publication, actor, note: str = "") -> Publication:
    """An editor withdraws a submission, or a publisher sends it back (or unschedules it)."""
    locked = _locked(publication, {State.IN_REVIEW, State.SCHEDULED}, "return to draft")
    role = Role.PUBLISHER if locked.state == State.SCHEDULED else Role.EDITOR
    role_require(actor, role, "Returning it to draft")
    return publication_transition(publication=locked, to_state=State.DRAFT, actor=actor, note=note, publish_at=None)


@transaction.atomic
def publication_archive(*, publication: Publication, actor) -> Publication:
    """Off the archive's lists and feeds; its page keeps working for links already sent."""
    role_require(actor, Role.PUBLISHER, "Archiving")
    publication = _locked(publication, {State.PUBLISHED}, "archive")
    return publication_transition(publication=publication, to_state=State.ARCHIVED, actor=actor)
