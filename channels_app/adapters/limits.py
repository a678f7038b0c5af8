"""Fitting messages into providers' size limits, cutting gracefully instead of failing."""

from __future__ import annotations

from typing import Any

ELLIPSIS = "…"

SLACK_MAX_BLOCKS = 50
SLACK_MAX_SECTION_TEXT = 3000
SLACK_MAX_HEADER_TEXT = 150

DISCORD_MAX_CONTENT = 2000
DISCORD_MAX_EMBEDS = 10
DISCORD_MAX_TOTAL = 6000
DISCORD_FIELD_LIMITS = {"title": 256, "description": 4096}


def truncate(text: str, limit: int) -> str:
    """Cut at a word boundary when one is near, and mark the cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.8:
        cut = cut[:space]
    return cut.rstrip() + ELLIPSIS


def fit_slack_blocks(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    fitted = [_fit_slack_block(block) for block in blocks]
    if len(fitted) > SLACK_MAX_BLOCKS:
        hidden = len(fitted) - (SLACK_MAX_BLOCKS - 1)
        more = {"type": "context", "elements": [{"type": "mrkdwn", "text": f"{ELLIPSIS} and {hidden} more"}]}
        fitted = fitted[: SLACK_MAX_BLOCKS - 1] + [more]
    return fitted


def _fit_slack_block(block: dict[str, Any]) -> dict[str, Any]:
    block = dict(block)
    limit = SLACK_MAX_HEADER_TEXT if block.get("type") == "header" else SLACK_MAX_SECTION_TEXT
    if isinstance(block.get("text"), dict) and isinstance(block["text"].get("text"), str):
        block["text"] = {**block["text"], "text": truncate(block["text"]["text"], limit)}
    return block


def fit_discord_payload(payload: dict[str, Any]) -> dict[str, Any]:
    payload = dict(payload)
    if payload.get("content"):
        payload["content"] = truncate(str(payload["content"]), DISCORD_MAX_CONTENT)
    embeds, budget = [], DISCORD_MAX_TOTAL
    for embed in (payload.get("embeds") or [])[:DISCORD_MAX_EMBEDS]:
        embed = dict(embed)
        for key, limit in DISCORD_FIELD_LIMITS.items():
            if isinstance(embed.get(key), str):
                embed[key] = truncate(embed[key], min(limit, max(budget, 1)))
                budget -= len(embed[key])
        if budget < 0:
            break
        embeds.append(embed)
    if embeds or "embeds" in payload:
        payload["embeds"] = embeds
    return payload
