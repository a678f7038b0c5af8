"""Block Kit limits Slack enforces on chat.postMessage, reported as Slack words them.

Limits from https://api.slack.com/reference/block-kit/blocks and
https://api.slack.com/methods/chat.postMessage ("truncating" is Slack's word for text past
40,000 characters; we answer msg_too_long, the error it documents for it).
"""

from __future__ import annotations

from typing import Any

MAX_TEXT_LENGTH = 40_000
MAX_BLOCKS = 50
BLOCK_TYPES = frozenset(
    {"section", "header", "divider", "context", "image", "actions", "rich_text", "input", "file", "video", "markdown"}
)
TEXT_LIMITS = {"section": 3000, "header": 150}
MAX_SECTION_FIELDS, MAX_FIELD_TEXT = 10, 2000
MAX_CONTEXT_ELEMENTS, MAX_ACTION_ELEMENTS = 10, 25


def block_errors(blocks: Any) -> list[str]:
    """Empty when Slack would take the blocks, else one message a problem, with its JSON pointer."""
    if not isinstance(blocks, list):
        return ["must provide an array [json-pointer:/blocks]"]
    errors = []
    if len(blocks) > MAX_BLOCKS:
        errors.append(f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    for index, block in enumerate(blocks):
        errors += _one_block_errors(block, f"/blocks/{index}")
    return errors


def _one_block_errors(block: Any, pointer: str) -> list[str]:
    if not isinstance(block, dict):
        return [f"must provide an object [json-pointer:{pointer}]"]
    kind = block.get("type")
    if kind not in BLOCK_TYPES:
        return [f"unsupported type: {kind} [json-pointer:{pointer}/type]"]
    errors = []
    if kind in TEXT_LIMITS:
        errors += _text_errors(block.get("text"), TEXT_LIMITS[kind], f"{pointer}/text", required=kind == "header")
    if kind == "section":
        fields = block.get("fields") or []
        if "text" not in block and not fields:
            errors.append(f"must provide text or fields [json-pointer:{pointer}]")
        if len(fields) > MAX_SECTION_FIELDS:
            errors.append(f"no more than {MAX_SECTION_FIELDS} items allowed [json-pointer:{pointer}/fields]")
        for index, field in enumerate(fields):
            errors += _text_errors(field, MAX_FIELD_TEXT, f"{pointer}/fields/{index}", required=True)
    limits = {"context": MAX_CONTEXT_ELEMENTS, "actions": MAX_ACTION_ELEMENTS}
    if kind in limits and not 1 <= len(block.get("elements") or []) <= limits[kind]:
        errors.append(f"must provide 1 to {limits[kind]} items [json-pointer:{pointer}/elements]")
    has_image = block.get("image_url") or block.get("slack_file")
    if kind == "image" and not (has_image and block.get("alt_text")):
        errors.append(f"missing required field: image_url or alt_text [json-pointer:{pointer}]")
    return errors


def _text_errors(text: Any, limit: int, pointer: str, *, required: bool) -> list[str]:
    if text is None:
        return [f"missing required field: text [json-pointer:{pointer}]"] if required else []
    if not isinstance(text, dict) or text.get("type") not in ("plain_text", "mrkdwn"):
        return [f"must be a text object [json-pointer:{pointer}]"]
    if len(text.get("text") or "") > limit:
        return [f"must be less than {limit + 1} characters [json-pointer:{pointer}/text]"]
    return []
