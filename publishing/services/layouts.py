"""Message layouts edited in admin: validated in a sandbox, versioned, one-click revert.

An edited layout is Django template text like the files in templates/channels/<kind>/, with
the same context and the same merge-field rules (publishing/merge.py: `{{ subscriber.… }}` is
never evaluated by Django). What a file may do and an admin edit may not: load tag libraries
other than publishing_tags, include other templates, extend anything but its own kind's
templates, or dump the context ({% debug %}). Nothing a template prints can reach beyond the
rendering context, which holds plain values only (no model instances, no settings)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import transaction
from django.db.models import F, Q
from django.template import TemplateDoesNotExist, TemplateSyntaxError, engines
from django.template.defaulttags import DebugNode
from django.template.loader import select_template
from django.template.loader_tags import ExtendsNode, IncludeNode

from channels_app.adapters import ADAPTERS
from core.exceptions import ApplicationError
from core.roles import Role, role_require
from publishing.layout_models import ChannelLayout, ChannelLayoutVersion
from subscribers.models import Topic

_LOAD = re.compile(r"{%\s*load\s+([^%]*?)\s*%}")
ALLOWED_LIBRARIES = {"publishing_tags"}
# A layout being previewed or validated: (kind, name) -> source, in this context only.
_overrides: ContextVar[dict[tuple[str, str], str] | None] = ContextVar("layout_overrides", default=None)


def layout_names(kind: str) -> list[str]:
    """The templates of a kind that admin can edit: what a publication is rendered with."""
    if kind not in ADAPTERS:
        return []
    return ["publication.html", "publication.txt"] if ADAPTERS[kind].renders_email else ["publication.json"]


def layout_default_source(*, kind: str, name: str, topic: Topic | None = None) -> str:
    """The file an edit starts from (and that is used when no layout is saved)."""
    names = ([f"channels/{kind}/topics/{topic.slug}/{name}"] if topic else []) + [f"channels/{kind}/{name}"]
    return select_template(names).template.source


def layout_compile(*, kind: str, name: str, source: str):
    """The template for `source`, or ApplicationError (field `source`) saying what is wrong."""
    if name not in layout_names(kind):
        raise ApplicationError.for_fields({"name": f"{kind} has no template {name} to edit."})
    for libraries in _LOAD.findall(source):
        refused = set(libraries.split()) - ALLOWED_LIBRARIES
        if refused:
            raise _source_error(f"{{% load {' '.join(sorted(refused))} %}} is not allowed; only publishing_tags.")
    try:
        template = engines["django"].from_string(source)
    except TemplateSyntaxError as exc:
        raise _source_error(f"Template syntax error: {exc}") from exc
    nodelist = template.template.nodelist
    if nodelist.get_nodes_by_type(IncludeNode):
        raise _source_error("{% include %} is not allowed in an edited layout.")
    if nodelist.get_nodes_by_type(DebugNode):
        raise _source_error("{% debug %} is not allowed: it would print the whole context.")
    for node in nodelist.get_nodes_by_type(ExtendsNode):
        parent = node.parent_name.var
        if not isinstance(parent, str) or not parent.startswith(f"channels/{kind}/") or ".." in parent:
            raise _source_error(
                f'{{% extends %}} may only name a channels/{kind}/ template, e.g. "channels/{kind}/layout.html".'
            )
    return template


def _source_error(message: str) -> ApplicationError:
    return ApplicationError.for_fields({"source": message}, message)


def layout_source_for(
    *, kind: str, name: str, topics: Sequence[Topic]
) -> tuple[str | None, ChannelLayoutVersion | None]:
    """The edited text to render with (a preview's, a topic's, or the all-topics layout), and its
    version; (None, None) when the files decide. A topic's file beats the all-topics layout."""
    overrides = _overrides.get()
    if overrides and (kind, name) in overrides:
        return overrides[(kind, name)], None
    if name not in layout_names(kind):
        return None, None
    slugs = sorted(t.slug for t in topics)
    versions = {
        (v.layout.topic.slug if v.layout.topic_id else None): v
        for v in ChannelLayoutVersion.objects.select_related("layout__topic").filter(
            Q(layout__topic__slug__in=slugs) | Q(layout__topic__isnull=True),
            layout__kind=kind,
            layout__name=name,
            version=F("layout__current_version"),
        )
    }
    for slug in slugs:
        if slug in versions:
            return versions[slug].source, versions[slug]
    if None in versions and not _topic_file_exists(kind, name, slugs):
        return versions[None].source, versions[None]
    return None, None


def _topic_file_exists(kind: str, name: str, slugs: Sequence[str]) -> bool:
    if not slugs:
        return False
    try:
        select_template([f"channels/{kind}/topics/{slug}/{name}" for slug in slugs])
    except TemplateDoesNotExist:
        return False
    return True


def layouts_in_use(*, topics: Sequence[Topic]) -> dict[str, dict[str, int]]:
    """For Send.content: which edited layout version each template of a send was rendered with."""
    used = {}
    for kind in ADAPTERS:
        for name in layout_names(kind):
            _, version = layout_source_for(kind=kind, name=name, topics=topics)
            if version is not None:
                used[f"{kind}/{name}"] = {"layout": version.layout_id, "version": version.version, "id": version.pk}
    return used


@contextmanager
def layout_override(*, kind: str, name: str, source: str) -> Iterator[None]:
    token = _overrides.set({**(_overrides.get() or {}), (kind, name): source})
    try:
        yield
    finally:
        _overrides.reset(token)


def layout_preview(*, kind: str, name: str, source: str, topic: Topic | None, actor) -> dict:
    """The sample publication rendered with `source` exactly as a send would render it; any
    problem raises ApplicationError (field `source`), so a broken layout is never saved."""
    from publishing.services.rendering import layout_sample_preview

    layout_compile(kind=kind, name=name, source=source)
    try:
        with layout_override(kind=kind, name=name, source=source):
            raw, part = layout_sample_preview(kind=kind, topic=topic, actor=actor)
    except json.JSONDecodeError as exc:
        raise _source_error(f"The payload is not valid JSON: {exc}") from exc
    except ApplicationError:
        raise
    except Exception as exc:  # noqa: BLE001  (an editor's template: any failure is their form error)
        raise _source_error(f"The layout fails when rendered: {type(exc).__name__}: {exc}") from exc
    _require_unsubscribe(kind, name, raw)
    return part


def _require_unsubscribe(kind: str, name: str, part: dict) -> None:
    """Email must keep its unsubscribe link (CAN-SPAM; the preferences page): a layout without
    one is refused. `part` is the message before recipients are filled in."""
    if not ADAPTERS[kind].renders_email:
        return
    body = part["html"] if name.endswith(".html") else part["text"]
    if "{{{unsubscribe_url}}}" not in body and "{{{unsubscribe_all_url}}}" not in body:
        raise _source_error("The email must keep its unsubscribe link ({{ ph.unsubscribe_url }}).")


@transaction.atomic
def layout_save(
    *, actor, kind: str, name: str, topic: Topic | None, source: str, note: str = ""
) -> ChannelLayoutVersion:
    """A new version of the layout (created on first save), in use from now on."""
    role_require(actor, Role.PUBLISHER, "Editing message layouts")
    layout_preview(kind=kind, name=name, source=source, topic=topic, actor=actor)
    layout, _ = ChannelLayout.objects.select_for_update().get_or_create(kind=kind, name=name, topic=topic)
    return _add_version(layout=layout, source=source, note=note, actor=actor)


@transaction.atomic
def layout_revert(*, actor, layout: ChannelLayout, version: int) -> ChannelLayoutVersion:
    """Put an earlier version back in use, as a new version (the history keeps every step)."""
    role_require(actor, Role.PUBLISHER, "Reverting message layouts")
    layout = ChannelLayout.objects.select_for_update().get(pk=layout.pk)
    earlier = layout.versions.filter(version=version).first()
    if earlier is None:
        raise ApplicationError(f"{layout} has no version {version}.", status_code=404)
    return _add_version(layout=layout, source=earlier.source, note=f"Reverted to version {version}", actor=actor)


def _add_version(*, layout: ChannelLayout, source: str, note: str, actor) -> ChannelLayoutVersion:
    number = (layout.versions.order_by("-version").values_list("version", flat=True).first() or 0) + 1
    created = ChannelLayoutVersion.objects.create(
        layout=layout, version=number, source=source, note=note[:200], created_by=actor
    )
    layout.current_version = number
    layout.save(update_fields=["current_version", "updated_at"])
    return created
