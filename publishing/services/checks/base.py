"""What a pre-send check answers: a status, a message for the editor, and details."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Status(enum.StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"  # blocks publishing unless a publisher overrides it
    UNAVAILABLE = "unavailable"  # the check could not run (spamd not running); blocks nothing


@dataclass(frozen=True)
class CheckResult:
    name: str
    label: str
    status: Status
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def blocking(self) -> bool:
        return self.status == Status.FAIL

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "status": str(self.status),
            "message": self.message,
            "details": self.details,
        }


@dataclass(frozen=True)
class CheckReport:
    results: list[CheckResult]
    elapsed_ms: int = 0

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if r.blocking]

    @property
    def status(self) -> Status:
        statuses = {r.status for r in self.results}
        for status in (Status.FAIL, Status.WARN):
            if status in statuses:
                return status
        return Status.PASS

    def get(self, name: str) -> CheckResult:
        return next(r for r in self.results if r.name == name)

    def as_json(self) -> dict[str, Any]:
        return {
            "status": str(self.status),
            "blocking": [r.name for r in self.failed],
            "elapsed_ms": self.elapsed_ms,
            "checks": [r.as_json() for r in self.results],
        }
