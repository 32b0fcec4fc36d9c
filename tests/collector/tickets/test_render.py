"""Finding → TicketDraft: text from the rule file, evidence from the record, a stable dedup key."""

from __future__ import annotations

from pathlib import Path

from agent.records import HostInventory, Snapshot, Volume
from collector.engine.evaluate import evaluate
from collector.engine.load import parse_rule
from collector.store import TicketDraft
from collector.tickets.render import dedup_key, draft
from tests.collector.engine.test_load import GOOD

GIB = 1024**3
HOST = HostInventory(hostname="ws-1", os_family="linux", os_name="Debian GNU/Linux 12",
                     kernel="6.1.0", machine_id="abc123",
                     memory_bytes=16 * GIB)  # fmt: skip


def _draft(used: int, taken_at: int = 1000) -> TicketDraft:
    vol = Volume("/home", "/dev/sda2", "ext4", 100 * GIB, used * GIB, (100 - used) * GIB)
    (finding,) = evaluate(
        [parse_rule(GOOD, Path("r.yaml"))], "a1", HOST, Snapshot(taken_at, HOST, (vol,))
    )
    return draft(finding, "a1")


def test_draft_is_pre_filled_from_the_rule_and_the_record() -> None:
    d = _draft(96)
    assert d.summary == "/home full on ws-1"
    assert d.rule_id == "disk.test_full" and d.rule_version == 2
    assert (d.severity, d.priority, d.tier, d.category) == ("high", "P2", "L1", "Storage")
    assert d.component == "/home" and d.hostname == "ws-1" and d.agent_id == "a1"
    assert "**Symptom.** /home is 96.0% full" in d.description
    assert "1. clean /home" in d.description
    assert "- os name: Debian GNU/Linux 12" in d.description
    assert "- memory: 16.0 GiB" in d.description
    assert d.evidence["values"]["used_pct"] == 96.0
    assert d.evidence["values"]["device"] == "/dev/sda2"
    assert d.evidence["conditions"] == ["used_pct >= 90"]
    assert d.observed_at_ms == 1000


def test_dedup_key_ignores_volatile_values() -> None:
    first, later = _draft(96, 1000), _draft(99, 9000)
    assert first.dedup_key == later.dedup_key == dedup_key("a1", "disk.test_full", "/home")
    assert dedup_key("a1", "disk.test_full", "/") != first.dedup_key
    assert dedup_key("a2", "disk.test_full", "/home") != first.dedup_key
