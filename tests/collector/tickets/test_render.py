"""Finding → TicketDraft: text from the rule file, evidence from the history, a stable key."""

from __future__ import annotations

from pathlib import Path

from agent.records import HostInventory, Snapshot, Volume
from collector.engine.evaluate import Engine, RuleSet
from collector.engine.history import HostHistory
from collector.engine.load import parse_rule
from collector.store import TicketDraft
from collector.tickets.render import dedup_key, draft
from tests.collector.engine.test_load import GOOD

GIB = 1024**3
H = 3_600_000
HOST = HostInventory(hostname="ws-1", os_family="linux", os_name="Debian GNU/Linux 12",
                     kernel="6.1.0", machine_id="abc123",
                     memory_bytes=16 * GIB)  # fmt: skip
RULE = parse_rule(GOOD, Path("/rules/disk/test_full.yaml"))


def _drafts(*used: int, start: int = 0) -> list[TicketDraft]:
    engine, hist = Engine(RuleSet([RULE])), HostHistory("a1")
    out = []
    for i, u in enumerate(used):
        vol = Volume("/home", "/dev/sda2", "ext4", 100 * GIB, u * GIB, (100 - u) * GIB)
        for f in engine.on_snapshot(hist, HOST, Snapshot(start + i * H, HOST, (vol,))):
            out.append(draft(f))
    return out


def test_draft_is_pre_filled_from_the_rule_and_the_history() -> None:
    (d,) = _drafts(80, 96, 96)  # persist: two cycles
    assert d.summary == "/home full on ws-1"
    assert d.rule_id == "disk.test_full" and d.rule_version == 2
    assert (d.severity, d.priority, d.tier, d.category) == ("high", "P2", "L1", "Storage")
    assert d.component == "/home" and d.hostname == "ws-1" and d.agent_id == "a1"
    assert "**Symptoms.** /home is 96.0% full" in d.description
    assert "*L1:*\n1. clean /home\n*L2:*\n1. grow /dev/sda2" in d.description
    assert "Knowledge base: https://example.org/kb/1" in d.description
    assert "- os name: Debian GNU/Linux 12" in d.description
    assert "- memory: 16.0 GiB" in d.description
    assert "Impact medium, urgency high: writes fail soon" in d.description
    assert d.evidence["values"]["used_pct"] == 96.0
    assert d.evidence["values"]["device"] == "/dev/sda2"
    assert d.evidence["condition"] == "used_pct >= 90"
    # The series the rule names, over the evidence window: a small timeline for the ticket.
    assert d.evidence["series"]["used_bytes"] == [[0, 80 * GIB], [H, 96 * GIB], [2 * H, 96 * GIB]]
    assert d.observed_at_ms == 2 * H


def test_dedup_key_ignores_volatile_values() -> None:
    first = _drafts(96, 96)[0]
    later = _drafts(99, 99, start=50 * H)[0]
    assert first.dedup_key == later.dedup_key == dedup_key("a1", "disk.test_full", "/home")
    assert dedup_key("a1", "disk.test_full", "/") != first.dedup_key
    assert dedup_key("a2", "disk.test_full", "/home") != first.dedup_key
