"""Every shipped rule fires on the fault it names and stays silent on a healthy record.

The inputs are records as the agent's parsers produce them; the full promtool-style
rule test files come with the rules issue.
"""

from __future__ import annotations

from agent.records import HostInventory, SmartDevice, Snapshot, Volume
from collector.engine.evaluate import evaluate
from collector.engine.load import default_rules_dir, load_rules

GIB = 1024**3
RULES = {r.id: r for r in load_rules(default_rules_dir()).rules}
WIN = HostInventory(hostname="pc-7", os_family="windows")
LINUX = HostInventory(hostname="ws-1", os_family="linux")


def fired(rule_id: str, host: HostInventory, snap: Snapshot) -> list[str]:
    return [f.component for f in evaluate([RULES[rule_id]], "a1", host, snap)]


def test_volume_nearly_full() -> None:
    def vol(mount: str, used: int, free: int, ro: bool = False) -> Volume:
        return Volume(mount, "dev", "ntfs", (used + free) * GIB, used * GIB, free * GIB,
                      read_only=ro)  # fmt: skip

    snap = Snapshot(1, WIN, (vol("C:\\", 96, 4), vol("D:\\", 94, 6), vol("E:\\", 99, 1, ro=True)))
    # 95 % fires, 94 % does not, a read-only medium (always full) never does.
    assert fired("disk.volume_nearly_full", WIN, snap) == ["C:\\"]


def test_smart_health_failed() -> None:
    failing = SmartDevice("/dev/sda", "ATA", health_known=True, health_passed=False,
                          reallocated_sectors=812)  # fmt: skip
    healthy = SmartDevice("/dev/nvme0", "NVMe", health_known=True, health_passed=True)
    unknown = SmartDevice("/dev/sdb", "ATA")  # smartctl could not ask: not a failure
    snap = Snapshot(1, LINUX, smart=(failing, healthy, unknown))
    assert fired("disk.smart_health_failed", LINUX, snap) == ["/dev/sda"]
    assert fired("disk.smart_health_failed", LINUX, Snapshot(1, LINUX, smart=(healthy,))) == []
