"""The evidence text a repeat stores: Lifecycle._evidence_json against lifecycle._evidence.

A repeat's evidence is written once per repeat, and its timeline and log lines are the
same objects for minutes at a time, so the lifecycle redacts and encodes those once per
transaction. The text must stay exactly the one _evidence writes (every helpdesk and the
report read it), secrets redacted the same way, including after a shared part is reused.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import MappingProxyType
from typing import Any

import pytest
from sqlalchemy import create_engine

from collector.store.lifecycle import Lifecycle, _evidence
from collector.store.model import TicketDraft
from collector.tickets.policy import TicketPolicy


@pytest.fixture
def life() -> Iterator[Lifecycle]:
    engine = create_engine("sqlite://")
    with engine.connect() as conn:
        yield Lifecycle(conn, TicketPolicy(), 1_700_000_000_000, [])
    engine.dispose()


def draft(evidence: dict[str, Any]) -> TicketDraft:
    return TicketDraft(
        dedup_key="k", agent_id="a", hostname="h", rule_id="r", rule_version=1, component="",
        severity="high", priority="P2", tier="L1", category="Disk", summary="s",
        description="", evidence=evidence, observed_at_ms=1,
    )  # fmt: skip


SERIES = {"used_pct": [[1, 91.5], [2, 92.25]], "free": [[1, 3], [2, 2]]}
EVENTS = [
    {"time_ms": 5, "kind": "disk.io_error", "message": "sda: token=abc123 password=hunter2",
     "fields": {"device": "sda", "api_key": "s3cr3t"}},
]  # fmt: skip


@pytest.mark.parametrize(
    "evidence",
    [
        {},
        {"subject": "volume", "observed_at_ms": 7, "values": {"used_pct": 95.5, "mount": "/"}},
        {"values": {"n": 1}, "series": SERIES, "events": EVENTS, "condition": "used_pct >= 95"},
        {"password": "hunter2", "token": "", "values": MappingProxyType({"a": (1, 2)})},
        {"zeta": None, "alpha": True, "mid": 1.5, "ünïcode": "Ünïcode — text"},
        {"events": [], "series": {}, "api_key": {"nested": "x"}},
    ],
)
def test_the_repeat_text_is_the_evidence_text(life: Lifecycle, evidence: dict[str, Any]) -> None:
    d = draft(evidence)
    assert life._evidence_json(d) == _evidence(d)
    assert life._evidence_json(d) == _evidence(d)  # the second time from the shared parts


def test_shared_parts_are_reused_only_while_they_are_the_same_object(life: Lifecycle) -> None:
    series = {"used_pct": [[1, 90.0]]}
    for i in range(3):
        # One repeat after another: the same timeline object, new values each time.
        d = draft({"values": {"used_pct": 90.0 + i}, "series": series})
        assert life._evidence_json(d) == _evidence(d)
    rebuilt = {"used_pct": [[1, 90.0], [2, 99.0]]}  # the evidence rebuilt: a new object
    d = draft({"values": {"used_pct": 99.0}, "series": rebuilt})
    assert life._evidence_json(d) == _evidence(d)
    assert "99.0]]" in life._evidence_json(d)
