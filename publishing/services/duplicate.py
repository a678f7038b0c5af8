"""Duplicate a publication as a new draft: its content and audience settings, never its state,
schedule, sends, statistics or history."""

from __future__ import annotations

from django.db import transaction

from core.roles import Role, role_require
from publishing.models import ABTest, ABTestVariant, Publication
from publishing.services.states import EDITABLE_FIELDS, _unique_slug

COPY_SUFFIX = " (copy)"
TITLE_MAX = Publication._meta.get_field("title").max_length


def copy_title(title: str) -> str:
    return title[: TITLE_MAX - len(COPY_SUFFIX)] + COPY_SUFFIX


@transaction.atomic
def publication_duplicate(*, publication: Publication, actor) -> Publication:
    """A draft copy authored by `actor`: title "… (copy)", a new unique slug, the same body,
    topics, segment and exclusion, priority, quality score and A/B subject variants (not started)."""
    role_require(actor, Role.EDITOR, "Duplicating a publication")
    source = Publication.objects.get(pk=publication.pk)
    fields = {name: getattr(source, name) for name in EDITABLE_FIELDS if name != "slug"}
    fields["title"] = copy_title(source.title)
    copy = Publication.objects.create(
        **fields, slug=_unique_slug(fields["title"]), author=actor, state=Publication.State.DRAFT
    )
    copy.topics.set(source.topics.all())
    _copy_abtest(source, copy)
    return copy


def _copy_abtest(source: Publication, copy: Publication) -> None:
    test = ABTest.objects.filter(publication=source).first()
    if test is None:
        return
    new = ABTest.objects.create(
        publication=copy, metric=test.metric, test_fraction=test.test_fraction, wait_minutes=test.wait_minutes
    )
    ABTestVariant.objects.bulk_create(
        ABTestVariant(test=new, index=v.index, subject=v.subject) for v in test.variants.order_by("index")
    )
