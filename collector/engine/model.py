"""Rules and findings as frozen records."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class Severity(enum.StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


# Until the impact × urgency matrix (tickets issue), severity alone sets priority.
PRIORITY = {Severity.CRITICAL: "P1", Severity.HIGH: "P2", Severity.MEDIUM: "P3", Severity.LOW: "P4"}


class Op(enum.StrEnum):
    EQ = "=="
    NE = "!="
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="


@dataclass(frozen=True, slots=True)
class Condition:
    field: str
    op: Op
    value: float | int | str | bool


@dataclass(frozen=True, slots=True)
class TicketTemplate:
    summary: str
    symptom: str
    cause: str
    remediation: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    version: int
    title: str
    domain: str
    os: tuple[str, ...]
    severity: Severity
    tier: str
    category: str
    record: str  # which records the conditions run over: volume | smart
    when: tuple[Condition, ...]  # all must hold
    component: str  # template naming the affected part, e.g. "{mount}"
    ticket: TicketTemplate
    source: str  # file:line, for error messages

    @property
    def priority(self) -> str:
        return PRIORITY[self.severity]


@dataclass(frozen=True, slots=True)
class Finding:
    rule: Rule
    component: str
    facts: Mapping[str, Any]  # the record's fields plus derived values, for templates
    observed_at_ms: int
