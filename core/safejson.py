"""JSON from outside, parsed within bounds: nesting depth and no NUL characters.

Python's json module recurses once per nesting level, so 3,000 nested arrays raise
RecursionError, which no caller expects (a 500). PostgreSQL text and jsonb cannot hold U+0000:
a NUL that reaches a query or an INSERT is a DataError (a 500 again, after work was done).
Both are refused here, before any view or service runs. The API parser (core.api.parsers) and
the SNS webhook use this one function.
"""

from __future__ import annotations

import json
import math
from typing import Any

NUL = "\x00"


class UnsafeJSONError(ValueError):
    """JSON refused by a bound; `path` names where ("attributes.plan"), "" for the document."""

    def __init__(self, message: str, path: str = ""):
        super().__init__(message)
        self.message = message
        self.path = path


class JSONTooDeepError(UnsafeJSONError):
    pass


class JSONNulError(UnsafeJSONError):
    pass


def json_loads_bounded(raw: bytes | str, *, max_depth: int) -> Any:
    """json.loads that refuses nesting deeper than `max_depth`, NUL characters in any string or
    key, and NaN/Infinity (not JSON; PostgreSQL's jsonb refuses them), also as a number too big
    for a float (1e400 reads as infinity). Malformed JSON raises ValueError, like json.loads."""
    try:
        data = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise JSONTooDeepError(f"JSON nested more than {max_depth} levels deep.")
    if _may_be_deeper(raw, max_depth) or _may_hold_nul(raw):
        _check(data, max_depth)
    return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UnsafeJSONError(f"The number {text[:40]} is too large.")
    return value


def _may_be_deeper(raw: bytes | str, max_depth: int) -> bool:
    # Each level needs an opening bracket: with few of them, no walk is needed for depth.
    opening = ("[", "{") if isinstance(raw, str) else (b"[", b"{")
    return raw.count(opening[0]) + raw.count(opening[1]) > max_depth


def _may_hold_nul(raw: bytes | str) -> bool:
    # Valid JSON carries U+0000 only as the escape \u0000 (a raw control character is an error).
    return ("\\u0000" if isinstance(raw, str) else b"\\u0000") in raw


def _check(data: Any, max_depth: int) -> None:
    """Walk the document without recursion; raise at the first level too deep or NUL found."""
    stack: list[tuple[Any, int, tuple]] = [(data, 0, ())]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, str):
            if NUL in value:
                raise JSONNulError("NUL characters (\\u0000) are not allowed.", _dotted(path))
            continue
        if not isinstance(value, dict | list):
            continue
        if depth >= max_depth:
            raise JSONTooDeepError(f"JSON nested more than {max_depth} levels deep.", _dotted(path))
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str) and NUL in key:
                raise JSONNulError("NUL characters (\\u0000) are not allowed in keys.", _dotted(path))
            stack.append((item, depth + 1, (*path, key)))


def _dotted(path: tuple) -> str:
    return ".".join(str(part).replace(NUL, "\\u0000") for part in path)


def has_nul(*texts: str) -> bool:
    return any(NUL in text for text in texts)
