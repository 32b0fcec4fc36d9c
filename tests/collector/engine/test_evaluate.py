"""The engine over a host's history: persistence, hysteresis, windows, trends, correlation.

Time is the observation time in the records, so each test is a timeline of records.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from agent.records import Event, HostInventory, Severity, SmartDevice, Snapshot, Volume
from collector.engine.evaluate import Engine, RuleSet
from collector.engine.history import HostHistory
from collector.engine.load import parse_rule
from collector.engine.model import Change, Finding, Rule

GIB = 1024**3
H = 3_600_000
LINUX = HostInventory(hostname="ws-1", os_family="linux")
HEAD = """\
version: 1
title: t
os: [linux, windows]
severity: high
impact: medium
urgency: medium
reason: r
tier: L2
category: c
"""
TICKET = """\
ticket:
  summary: "s on {hostname}"
  symptoms: x
  cause: x
  remediation: {L2: [x]}
"""


def rule(name: str, body: str, domain: str = "disk") -> Rule:
    text = f"id: {domain}.{name}\ndomain: {domain}\n{HEAD}{body}\n{TICKET}"
    return parse_rule(text, Path(f"/rules/{domain}/{name}.yaml"))


def vol(t: int, used_gib: float, mount: str = "/home", total_gib: int = 100) -> Snapshot:
    used = int(used_gib * GIB)
    return Snapshot(t, LINUX, (Volume(mount, "/dev/sda2", "ext4", total_gib * GIB, used,
                                      total_gib * GIB - used),))  # fmt: skip


def changes(found: list[Finding]) -> list[tuple[str, str]]:
    return [(f.rule.id, f.change.value) for f in found]


class Host:
    def __init__(self, *rules: Rule, agent: str = "a1", engine: Engine | None = None) -> None:
        self.engine = engine or Engine(RuleSet(rules))
        self.hist = HostHistory(agent)

    def snap(self, snap: Snapshot) -> list[tuple[str, str]]:
        return changes(self.engine.on_snapshot(self.hist, snap.inventory, snap))

    def event(self, t: int, kind: str, **fields: str) -> list[Finding]:
        return self.engine.on_event(
            self.hist, Event(t, "kernel", kind, Severity.ERROR, kind, fields)
        )


FULL = rule("full", "for_each: volume\nwhen: used_pct >= 95\npersist: {cycles: 3}\n"
                    "clear: used_pct < 90\nclear_persist: {cycles: 2}")  # fmt: skip


def test_persistence_hysteresis_and_recurrence() -> None:
    h = Host(FULL)
    got = [h.snap(vol(t * H, used)) for t, used in enumerate(
        [96, 96, 94, 96, 96, 96, 97, 93, 89, 91, 89, 89, 96, 96, 96])]  # fmt: skip
    opened, repeated, cleared = [("disk.full", c) for c in ("opened", "repeated", "cleared")]
    assert got == [
        [],
        [],
        [],  # two cycles, then a dip: the streak starts again
        [],
        [],
        [opened],  # three in a row
        [repeated],
        [],  # 93 %: below the firing threshold, above the clear one: still active
        [],
        [],  # 89 % once, then 91 %: the clear streak is broken
        [],
        [cleared],  # 89 % twice
        [],
        [],
        [opened],  # it comes back: persistence again
    ]
    assert h.hist.state("disk.full", "/home").phase == "active"


def test_duration_persistence_uses_observation_time() -> None:
    r = rule("slow", "for_each: volume\nwhen: used_pct >= 95\npersist: {duration: 30m}")
    h = Host(r)
    assert h.snap(vol(0, 96)) == []
    assert h.snap(vol(20 * 60_000, 96)) == []
    assert h.snap(vol(30 * 60_000, 96)) == [("disk.slow", "opened")]


def test_a_clock_stepped_back_does_not_mute_a_host() -> None:
    h = Host(rule("once", "for_each: volume\nwhen: used_pct >= 95"))
    assert h.snap(vol(5 * H, 96)) == [("disk.once", "opened")]
    assert h.snap(vol(4 * H, 96)) == [("disk.once", "repeated")]
    assert h.hist.last_snapshot_ms == 5 * H


def test_os_filter() -> None:
    r = rule(
        "win",
        "os: [windows]\nfor_each: volume\nwhen: used_pct >= 95".replace("os: [windows]\n", ""),
    )
    only_windows = replace(r, os=("windows",))
    h = Host(only_windows)
    assert h.snap(vol(H, 99)) == []


def test_forecast_fills_within_a_day_and_ignores_a_flat_volume() -> None:
    r = rule(
        "fills",
        "for_each: volume\n"
        "when: used_pct < 95 and forecast(used_bytes, '24h', '6h') >= total_bytes",
    )
    growing, flat = Host(r), Host(r)
    # 40 GiB at 2.5 GiB/h reaches 100 GiB within a day from 1 h on; 80 GiB flat never does.
    opened_at = [i for i in range(7) if growing.snap(vol(i * H, 40 + 2.5 * i))]
    assert opened_at == list(range(2, 7))  # three points before a line is fitted
    assert growing.hist.state("disk.fills", "/home").opened_ms == 2 * H
    assert [flat.snap(vol(i * H, 80)) for i in range(7)] == [[]] * 7


def test_delta_rate_trend_over_the_series() -> None:
    r = rule(
        "grow",
        "for_each: smart\n"
        "when: delta(reallocated_sectors, '24h') >= 16 and rate(reallocated_sectors, '24h') > 1"
        " and trend(reallocated_sectors, '24h') > 1 and samples(reallocated_sectors, '24h') >= 3",
    )
    h = Host(r)

    def smart(t: int, n: int) -> Snapshot:
        return Snapshot(t, LINUX, smart=(SmartDevice("/dev/sda", "ATA", reallocated_sectors=n),))

    assert h.snap(smart(0, 8)) == []
    assert h.snap(smart(6 * H, 16)) == []  # delta 8
    assert h.snap(smart(12 * H, 24)) == [("disk.grow", "opened")]  # delta 16, 3 samples
    # A day later the oldest points left the window: no growth in it, the finding clears.
    assert h.snap(smart(40 * H, 24)) == [("disk.grow", "cleared")]


def test_event_rule_counts_a_window_with_filters_and_clears_when_quiet() -> None:
    r = rule(
        "io",
        "for_each: event\nmatch: disk.io_error\nevent_fields: [device]\n"
        "component: '{device}'\nquiet: 6h\n"
        "when: count('disk.io_error', '10m', device=field('device')) >= 3",
    )
    h = Host(r)
    m = 60_000
    assert h.event(0, "disk.io_error", device="sda") == []
    assert h.event(1 * m, "disk.io_error", device="sdb") == []  # another disk
    assert h.event(2 * m, "disk.io_error", device="sda") == []
    assert h.event(20 * m, "disk.io_error", device="sda") == []  # the first ones left the window
    assert h.event(21 * m, "disk.io_error", device="sda") == []
    # a replay of an event already seen is not counted again
    assert h.event(21 * m, "disk.io_error", device="sda") == []
    assert changes(h.event(22 * m, "disk.io_error", device="sda")) == [("disk.io", "opened")]
    (f,) = h.event(23 * m, "disk.io_error", device="sda")
    assert (f.change, f.component) == (Change.REPEATED, "sda")
    assert [e["time_ms"] // m for e in f.evidence["events"]] == [0, 1, 2, 20, 21, 22, 23]
    assert h.snap(vol(3 * H, 10)) == []
    assert h.snap(vol(7 * H, 10)) == [("disk.io", "cleared")]


STORAGE = rule("io_errors", "for_each: event\nmatch: disk.io_error\n"
                            "when: count('disk.io_error', '1h') >= 2")  # fmt: skip
PANIC = rule("kernel_panic", "for_each: event\nmatch: boot.panic\nwhen: true", "boot")
ROOT = rule(
    "storage_crash",
    "for_each: event\nmatch: boot.panic\n"
    "when: count('disk.io_error', '30m') >= 1\n"
    "absorbs: [disk.io_errors, boot.kernel_panic]\nabsorb_within: 30m",
    "cross",
)


def test_a_crash_after_storage_errors_is_one_finding() -> None:
    h = Host(STORAGE, PANIC, ROOT)
    m = 60_000
    h.event(0, "disk.io_error")
    (io,) = h.event(5 * m, "disk.io_error")
    assert (io.rule.id, io.change, io.held) == ("disk.io_errors", Change.OPENED, "")
    found = h.event(10 * m, "boot.panic")
    by_rule = {f.rule.id: f for f in found}
    # The root cause opens; the panic it explains is held back; the storage finding that
    # was already open is folded into it (its ticket merges in the store).
    assert by_rule["cross.storage_crash"].held == ""
    assert by_rule["cross.storage_crash"].absorbed_since_ms == 10 * m - 30 * m
    assert by_rule["boot.kernel_panic"].held == "absorbed:cross.storage_crash"
    assert h.hist.state("disk.io_errors", "").held == "absorbed:cross.storage_crash"
    # New storage findings within the window stay held: still one problem.
    h2 = Host(STORAGE, PANIC, ROOT)
    h2.event(0, "disk.io_error")
    h2.event(1 * m, "boot.panic")
    later = h2.event(2 * m, "disk.io_error")
    assert [(f.rule.id, f.held) for f in later] == [
        ("disk.io_errors", "absorbed:cross.storage_crash")
    ]


def test_a_crash_without_storage_errors_stays_a_crash() -> None:
    h = Host(STORAGE, PANIC, ROOT)
    h.event(0, "disk.io_error")  # one error, two hours before: not the cause
    found = h.event(2 * H, "boot.panic")
    assert [(f.rule.id, f.held) for f in found] == [("boot.kernel_panic", "")]


DNS = rule("dns_down", "for_each: dns_check\nwhen: status == 'timeout'\n"
                       "fleet: {group_by: '{server}', min_hosts: 3, within: 1h,"
                       " summary: 'DNS {group} down for {hosts} hosts'}", "network")  # fmt: skip


def dns(t: int, server: str, status: str = "timeout") -> Snapshot:
    from agent.records import DnsCheck

    return Snapshot(t, LINUX, dns_checks=(DnsCheck("example.org", server, status),))


def test_fleet_incident_holds_back_per_host_findings() -> None:
    engine = Engine(RuleSet([DNS]))
    hosts = [Host(engine=engine, agent=f"a{i}") for i in range(5)]
    first = [engine.on_snapshot(h.hist, LINUX, dns(0, "10.0.0.53")) for h in hosts[:2]]
    assert [f.held for (f,) in first] == ["", ""]  # two hosts: per-host findings
    assert engine.fleet.flush() == []
    (third,) = engine.on_snapshot(hosts[2].hist, LINUX, dns(60_000, "10.0.0.53"))
    assert third.held == "incident:10.0.0.53"
    (update,) = engine.fleet.flush()
    assert (update.new, update.summary, [a for a, _, _ in update.hosts]) == (
        True, "DNS 10.0.0.53 down for 3 hosts", ["a0", "a1", "a2"])  # fmt: skip
    # Another server is another group; a host that joins later joins the incident.
    (other,) = engine.on_snapshot(hosts[3].hist, LINUX, dns(60_000, "10.9.9.9"))
    assert other.held == ""
    (late,) = engine.on_snapshot(hosts[4].hist, LINUX, dns(2 * H, "10.0.0.53"))
    assert late.held == "incident:10.0.0.53"
    (update,) = [u for u in engine.fleet.flush() if u.group == "10.0.0.53"]
    assert update.new is False and len(update.hosts) == 4


def test_one_flush_carries_one_update_per_incident() -> None:
    engine = Engine(RuleSet([DNS]))
    hosts = [HostHistory(f"a{i}") for i in range(5)]
    for i, h in enumerate(hosts):  # the third opens the incident, the last two grow it
        engine.on_snapshot(h, LINUX, dns(i * 60_000, "10.0.0.53"))
    engine.on_snapshot(HostHistory("b0"), LINUX, dns(0, "10.9.9.9"))
    (update,) = engine.fleet.flush()
    # The last state of the incident, still marked as opened by this flush.
    assert (update.new, update.summary, len(update.hosts)) == (
        True, "DNS 10.0.0.53 down for 5 hosts", 5)  # fmt: skip
    engine.on_snapshot(hosts[0], LINUX, dns(5 * 60_000, "10.0.0.53"))
    (again,) = engine.fleet.flush()
    assert again.new is False and again.last_seen_ms == 5 * 60_000


def test_fleet_members_must_fire_within_the_window() -> None:
    engine = Engine(RuleSet([DNS]))
    for i, t in enumerate((0, 2 * H, 4 * H)):
        engine.on_snapshot(HostHistory(f"a{i}"), LINUX, dns(t, "10.0.0.53"))
    assert engine.fleet.flush() == []


def test_a_failing_condition_is_counted_and_isolated() -> None:
    bad = rule("bad", "for_each: volume\nwhen: used_pct >= 95")
    good = rule("good", "for_each: volume\nwhen: used_pct >= 95")

    def boom(facts: object, ctx: object) -> bool:
        raise OverflowError("math range error")

    broken = replace(bad, when=replace(bad.when, fn=boom))
    h = Host(broken, good)
    assert h.snap(vol(H, 99)) == [("disk.good", "opened")]
    assert h.engine.errors.counts == {"disk.bad": 1}


def test_a_part_that_is_no_longer_reported_clears_unless_its_probe_failed() -> None:
    from agent.records import Device, ProbeError

    r = rule("dev", "for_each: device\nwhen: problem_code in [10, 43]", "drivers")
    h, failed = Host(r), Host(r)
    broken = Snapshot(0, LINUX, devices=(Device("USB\\VID_1", "Webcam", problem_code=43),))
    assert h.snap(broken) == failed.snap(broken) == [("drivers.dev", "opened")]
    # Fixed: Windows lists only devices with a problem, so the device is simply gone.
    assert h.snap(Snapshot(H, LINUX)) == [("drivers.dev", "cleared")]
    # The drivers probe timed out: a missing device means "not read", nothing clears.
    timeout = ProbeError("drivers", "timeout", "took longer than 30 s")
    assert failed.snap(Snapshot(H, LINUX, errors=(timeout,))) == []
    assert failed.hist.state("drivers.dev", "USB\\VID_1").phase == "active"


def _checks(t: int, *statuses: tuple[str, str]) -> Snapshot:
    from agent.records import DnsCheck

    return Snapshot(t, LINUX, dns_checks=tuple(DnsCheck(n, "10.0.0.53", s) for n, s in statuses))


def test_a_part_with_several_records_holds_only_when_every_one_holds() -> None:
    # One server asked two names: it is down only if neither answers, whatever the order
    # (a verdict kept only where it matters must still see the False of either record).
    down = rule("dns_down", "for_each: dns_check\nwhen: status == 'timeout'", "network")
    for statuses in ((("a.example", "timeout"), ("b.example", "ok")),
                     (("a.example", "ok"), ("b.example", "timeout"))):  # fmt: skip
        h = Host(down)
        assert [h.snap(_checks(i * 60_000, *statuses)) for i in range(3)] == [[], [], []]
    h = Host(down)
    both = (("a.example", "timeout"), ("b.example", "timeout"))
    assert h.snap(_checks(0, *both)) == [("network.dns_down", "opened")]
    # Active: one name answering again clears it (neither order keeps it firing).
    assert h.snap(_checks(60_000, ("a.example", "timeout"), ("b.example", "ok"))) == [
        ("network.dns_down", "cleared")
    ]


def test_a_component_named_by_a_fact_holds_only_when_every_record_holds() -> None:
    # Two volumes on one device: a rule whose component is the device fires only when
    # both are full, in either order.
    r = rule("dev_full", "for_each: volume\nwhen: used_pct >= 95\ncomponent: '{device}'")

    def two(t: int, first: float, second: float) -> Snapshot:
        vols = tuple(Volume(m, "/dev/sda", "ext4", 100 * GIB, int(u * GIB), int((100 - u) * GIB))
                     for m, u in (("/a", first), ("/b", second)))  # fmt: skip
        return Snapshot(t, LINUX, vols)

    assert Host(r).snap(two(0, 99, 10)) == Host(r).snap(two(0, 10, 99)) == []
    h = Host(r)
    assert h.snap(two(0, 99, 99)) == [("disk.dev_full", "opened")]
    assert h.snap(two(60_000, 99, 10)) == [("disk.dev_full", "cleared")]


def test_a_series_is_kept_only_for_the_os_whose_rules_read_it() -> None:
    # A Windows-only rule reads the used bytes' trend: a Linux host keeps no such series
    # (a point per field per part is most of a quiet host's history).
    text = f"id: disk.win_growth\ndomain: disk\n{HEAD}{TICKET}".replace(
        "[linux, windows]", "[windows]"
    )
    r = parse_rule(text + "for_each: volume\nwhen: delta(used_bytes, '1h') > 0\n",
                   Path("/rules/disk/win_growth.yaml"))  # fmt: skip
    win = HostInventory(hostname="ws-2", os_family="windows")
    linux, windows = Host(r), Host(r)
    for i in range(3):
        snap = vol(i * 600_000, 10 + i)
        linux.snap(snap)
        windows.snap(replace(snap, inventory=win))
    assert linux.hist.point_count() == 0
    assert windows.hist.point_count() == 3
