"""Previews of an automation's message steps: each step's message on its channel, rendered by the
functions the pipeline, publication previews and test sends use (publishing.services.rendering)."""

from __future__ import annotations

from typing import Any

from channels_app.models import Channel
from publishing.automation_models import Automation, AutomationStepKind
from publishing.services.automations.content import step_content
from publishing.services.rendering import content_render, preview_variables
from publishing.transactional_models import MessageTemplateVersion
from subscribers.models import Subscriber


def step_preview(*, step: dict, subscriber: Subscriber | None = None, actor=None, data: dict | None = None) -> dict:
    """One message step as `subscriber` (or the editor, with each data field showing its name) gets it."""
    version = MessageTemplateVersion.objects.get(pk=step["template_version_id"])
    channel = Channel.objects.get(pk=step["channel_id"])
    content = step_content(version=version)
    variables = preview_variables(content=content, actor=actor, channel_kind=channel.kind, subscriber=subscriber)
    for index, field in enumerate(content.get("data_fields", [])):
        value = str((data or {}).get(field["key"]) or field["default"] or f"[{field['key']}]")
        variables[f"d_{index}"] = value
        variables[f"d_{index}_html"] = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    rendered = content_render(content=content, kind=channel.kind, variables=variables)
    return {"channel": channel.name, "kind": channel.kind, **rendered}


def automation_preview(
    *, automation: Automation, actor=None, subscriber: Subscriber | None = None
) -> list[dict[str, Any]]:
    """Every message step of the current version, in order, with its position."""
    version = automation.current_version
    if version is None:
        return []
    return [
        {"position": position, **step_preview(step=step, subscriber=subscriber, actor=actor)}
        for position, step in enumerate(version.steps)
        if step["kind"] == AutomationStepKind.SEND
    ]
