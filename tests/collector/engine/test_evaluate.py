"""evaluate() is pure: rules × snapshot → findings, filtered by OS, all conditions ANDed."""

from __future__ import annotations

from pathlib import Path

from agent.records import HostInventory, SmartDevice, Snapshot, Volume
from collector.engine.evaluate import evaluate
from collector.engine.facts import human_bytes, volume_facts
from collector.engine.load import parse_rule
from collector.engine.model import Rule
from tests.collector.engine.test_load import GOOD

GIB = 1024**3
LINUX = HostInventory(hostname="ws-1", os_family="linux")


def rule(text: str = GOOD) -> Rule:
    return parse_rule(text, Path("r.yaml"))


def vol(mount: str, used: int, free: int, read_only: bool = False) -> Volume:
    return Volume(mount, "/dev/sda1", "ext4", (used + free) * GIB, used * GIB, free * GIB,
                  read_only=read_only)  # fmt: skip


def test_fires_once_per_matching_record_with_rendered_component() -> None:
    snap = Snapshot(5, LINUX, (vol("/", 95, 5), vol("/home", 10, 90), vol("/data", 91, 9)))
    findings = evaluate([rule()], "a1", LINUX, snap)
    assert [f.component for f in findings] == ["/", "/data"]
    assert findings[0].facts["hostname"] == "ws-1" and findings[0].facts["agent_id"] == "a1"
    assert findings[0].facts["used_pct"] == 95.0
    assert all(f.observed_at_ms == 5 for f in findings)


def test_all_conditions_must_hold() -> None:
    first = '  - {field: used_pct, op: ">=", value: 90}\n'
    text = GOOD.replace(first, first + '  - {field: read_only, op: "==", value: false}\n')
    snap = Snapshot(1, LINUX, (vol("/", 95, 5, read_only=True), vol("/x", 95, 5)))
    assert [f.component for f in evaluate([rule(text)], "a1", LINUX, snap)] == ["/x"]


def test_rule_for_another_os_does_not_fire() -> None:
    mac = HostInventory(hostname="mac-1", os_family="darwin")
    snap = Snapshot(1, mac, (vol("/", 99, 1),))
    assert evaluate([rule()], "a1", mac, snap) == []


def test_unknown_host_still_gets_rules_and_a_name() -> None:
    snap = Snapshot(1, None, (vol("/", 99, 1),))
    (finding,) = evaluate([rule()], "agent-7", None, snap)
    assert finding.facts["hostname"] == "agent-7"


def test_type_mismatch_never_matches() -> None:
    text = GOOD.replace("value: 90", 'value: "ninety"')
    assert evaluate([rule(text)], "a1", LINUX, Snapshot(1, LINUX, (vol("/", 99, 1),))) == []


def test_smart_records() -> None:
    text = (
        GOOD.replace("record: volume", "record: smart")
        .replace('field: used_pct, op: ">=", value: 90', 'field: failed, op: "==", value: true')
        .replace("{mount}", "{device}")
        .replace("{used_pct:.1f}%", "{health}")
    )
    bad = SmartDevice("/dev/sda", "ATA", health_known=True, health_passed=False)
    good = SmartDevice("/dev/sdb", "ATA", health_known=True, health_passed=True)
    unknown = SmartDevice("/dev/sdc", "ATA", health_known=False, health_passed=False)
    snap = Snapshot(1, LINUX, smart=(bad, good, unknown))
    assert [f.component for f in evaluate([rule(text)], "a1", LINUX, snap)] == ["/dev/sda"]


def test_thresholds_compare_unrounded_values() -> None:
    # 94.96 % full is not 95 %: rounding is for display only.
    almost = Volume("/", "dev", "ext4", 10_000, 9_496, 504)
    assert evaluate([rule(GOOD.replace("value: 90", "value: 95"))], "a1", LINUX,
                    Snapshot(1, LINUX, (almost,))) == []  # fmt: skip


def test_derived_facts() -> None:
    facts = volume_facts(vol("/", 3, 1))
    assert facts["used_pct"] == 75.0 and facts["free_human"] == "1.0 GiB"
    assert human_bytes(512) == "512 B" and human_bytes(5 * 1024**5) == "5120.0 TiB"
