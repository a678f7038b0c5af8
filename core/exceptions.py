"""The one error services raise. The API renders it as {"message": ..., "extra": {...}}."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A business rule refused the request; `extra` carries details such as field errors."""

    status_code = 400

    def __init__(self, message: str, extra: dict[str, Any] | None = None, *, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}
        if status_code is not None:
            self.status_code = status_code

    @classmethod
    def for_fields(cls, fields: dict[str, list[str] | str], message: str = "Validation error") -> ApplicationError:
        normalized = {k: v if isinstance(v, list) else [v] for k, v in fields.items()}
        return cls(message, {"fields": normalized})
