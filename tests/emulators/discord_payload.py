"""Discord's limits on an Execute Webhook body, reported in its "Invalid Form Body" format.

Limits: https://discord.com/developers/docs/resources/webhook#execute-webhook and
https://discord.com/developers/docs/resources/message#embed-object-embed-limits. The error
shape, {"code": 50035, "errors": {"embeds": {"0": {"title": {"_errors": [...]}}}}}, is the
one described at https://discord.com/developers/docs/reference#error-messages.
"""

from __future__ import annotations

from typing import Any

MAX_CONTENT, MAX_USERNAME, MAX_EMBEDS, MAX_EMBED_TOTAL = 2000, 80, 10, 6000
EMBED_LIMITS = {"title": 256, "description": 4096}
MAX_FIELDS, MAX_FIELD_NAME, MAX_FIELD_VALUE = 25, 256, 1024
MAX_FOOTER, MAX_AUTHOR = 2048, 256
MESSAGE_PARTS = ("content", "embeds", "components", "attachments", "poll", "sticker_ids", "files")

Errors = dict[str, Any]


def add_error(errors: Errors, path: tuple[str, ...], code: str, message: str) -> None:
    node = errors
    for key in path:
        node = node.setdefault(key, {})
    node.setdefault("_errors", []).append({"code": code, "message": message})


def too_long(errors: Errors, path: tuple[str, ...], value: Any, limit: int) -> None:
    if isinstance(value, str | list) and len(value) > limit:
        add_error(errors, path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def payload_errors(payload: dict[str, Any]) -> Errors:
    """{} when Discord would take the payload, else the nested `errors` object of a 50035."""
    errors: Errors = {}
    too_long(errors, ("content",), payload.get("content"), MAX_CONTENT)
    too_long(errors, ("username",), payload.get("username"), MAX_USERNAME)
    embeds = payload.get("embeds") or []
    if not isinstance(embeds, list):
        add_error(errors, ("embeds",), "BASE_TYPE_ARRAY", "Must be an array.")
        return errors
    too_long(errors, ("embeds",), embeds, MAX_EMBEDS)
    for index, embed in enumerate(embeds):
        embed_errors(errors, ("embeds", str(index)), embed)
    if sum(embed_size(embed) for embed in embeds if isinstance(embed, dict)) > MAX_EMBED_TOTAL:
        add_error(
            errors, ("embeds",), "MAX_EMBED_SIZE_EXCEEDED", f"Embed size exceeds maximum size of {MAX_EMBED_TOTAL}"
        )
    return errors


def embed_errors(errors: Errors, path: tuple[str, ...], embed: Any) -> None:
    if not isinstance(embed, dict):
        add_error(errors, path, "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
        return
    for key, limit in EMBED_LIMITS.items():
        too_long(errors, (*path, key), embed.get(key), limit)
    too_long(errors, (*path, "footer", "text"), (embed.get("footer") or {}).get("text"), MAX_FOOTER)
    too_long(errors, (*path, "author", "name"), (embed.get("author") or {}).get("name"), MAX_AUTHOR)
    fields = embed.get("fields") or []
    too_long(errors, (*path, "fields"), fields, MAX_FIELDS)
    for index, field in enumerate(fields):
        for key, limit in (("name", MAX_FIELD_NAME), ("value", MAX_FIELD_VALUE)):
            value = field.get(key) if isinstance(field, dict) else None
            if not value:
                add_error(errors, (*path, "fields", str(index), key), "BASE_TYPE_REQUIRED", "This field is required")
            too_long(errors, (*path, "fields", str(index), key), value, limit)


def embed_size(embed: dict[str, Any]) -> int:
    """Characters counted toward the 6,000 limit: title, description, field names and values, footer, author."""
    fields = [field for field in embed.get("fields") or [] if isinstance(field, dict)]
    parts = [embed.get("title"), embed.get("description"), (embed.get("footer") or {}).get("text")]
    parts += [(embed.get("author") or {}).get("name")]
    parts += [field.get(key) for field in fields for key in ("name", "value")]
    return sum(len(part) for part in parts if isinstance(part, str))


def is_empty(payload: dict[str, Any]) -> bool:
    return not any(payload.get(part) for part in MESSAGE_PARTS)
