"""Network and driver fault kinds: their edited raw outputs, read by the agent's real probes
and parsers, show the fault while it lasts and not before (or after, when it is repaired)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from agent.parsers import win_events_json
from agent.probes.base import ProbeContext, ProbeOutput
from agent.probes.drivers import DriversProbe
from agent.probes.network import NetworkProbe
from agent.records import Event
from collector.sim import faults_drivers, faults_net
from collector.sim.faults import KINDS
from tests.collector.sim.one_fault import HOSTS, START_MS, OneFault

LINUX = HOSTS / "sim-linux-healthy"
WINDOWS = HOSTS / "sim-windows10-de-desktop"  # no driver events, no problem device
MACOS = HOSTS / "sim-macos14-macbook"
H = 3600.0
# Registered by importing their modules, whichever is imported first.
assert KINDS["gateway_unreachable"] is faults_net.GatewayUnreachable
assert KINDS["device_problem"] is faults_drivers.DeviceProblem


class Sim(OneFault):
    """One host of a one-fault scenario: its outputs at t through the real probes."""

    def network(self, t: float) -> ProbeOutput:
        out = NetworkProbe().collect(self.source(t), ProbeContext())
        assert not [e for e in out.errors if "sysfs" in e.message or "arp" in e.message]
        return out

    def drivers(self, t: float) -> ProbeOutput:
        return DriversProbe().collect(self.source(t))


def at(t: float) -> int:
    return START_MS + int(t * 1000)


def kinds(events: Iterable[Event]) -> list[str]:
    return [e.kind for e in events]


# --- network ------------------------------------------------------------------------------


def test_gateway_unreachable_fails_the_arp_entry_and_the_ping_while_it_lasts(
    tmp_path: Path,
) -> None:
    sim = Sim(tmp_path, LINUX, "{kind: gateway_unreachable, hosts: p, start: 1h, end: 2h}")
    (before,) = sim.network(0.5 * H).gateway_checks
    assert (before.gateway, before.reachable, before.method) == ("192.0.2.1", True, "arp")
    (during,) = sim.network(1.5 * H).gateway_checks
    assert (during.gateway, during.interface, during.reachable, during.method) == (
        "192.0.2.1", "eth0", False, "ping",
    )  # fmt: skip
    assert during.detail == "no reply"
    (after,) = sim.network(2 * H).gateway_checks
    assert after.reachable


def test_link_flapping_logs_link_down_and_up_and_counts_carrier_changes(
    tmp_path: Path,
) -> None:
    sim = Sim(tmp_path, LINUX, "{kind: link_flapping, hosts: p, start: 1h, end: 2h, per_hour: 4}")

    def carrier_changes(t: float) -> int:
        return next(i.carrier_changes for i in sim.network(t).interfaces if i.name == "eth0")

    base = carrier_changes(0)
    assert carrier_changes(1 * H - 1) == base
    assert carrier_changes(1 * H) == base + 2  # the first flap at the start
    assert carrier_changes(1.3 * H) == base + 4
    assert carrier_changes(1.99 * H) == base + 8
    assert carrier_changes(5 * H) == base + 8  # the counter keeps its value afterwards
    assert sim.kind.state(1.3 * H, sim.view) == sim.kind.state(1.4 * H, sim.view)
    assert sim.kind.state(1.3 * H, sim.view) != sim.kind.state(1.6 * H, sim.view)

    assert sim.kernel(-1, 1 * H - 1) == ()
    events = sim.kernel(-1, 3 * H)
    assert kinds(events) == ["net.link_down", "net.link_up"] * 4
    assert [e.fields["device"] for e in events] == ["eth0"] * 8
    assert [e.time_ms for e in events[::2]] == [at(1 * H + k * 900) for k in range(4)]
    # Cycle by cycle, each line comes exactly once (windows (t0, t1] that split a flap).
    split = [e for c in range(0, 180) for e in sim.kernel(c * 60 - 60 + 1.5, c * 60 + 1.5)]
    assert [(e.kind, e.time_ms) for e in split] == [(e.kind, e.time_ms) for e in events]


def test_interface_errors_grow_at_the_rate_and_stop_growing_after_the_end(
    tmp_path: Path,
) -> None:
    fault = "{kind: interface_errors, hosts: p, start: 1h, end: 2h, per_minute: 10}"
    sim = Sim(tmp_path, LINUX, fault)

    def rx_errors(t: float) -> int:
        return next(i.rx_errors for i in sim.network(t).interfaces if i.name == "eth0")

    assert rx_errors(0.9 * H) == 0
    assert rx_errors(1 * H + 600) == 100
    assert rx_errors(2 * H) == 600
    assert rx_errors(3 * H) == 600


def test_interface_errors_on_windows_count_in_the_up_adapters_statistics(
    tmp_path: Path,
) -> None:
    fault = "{kind: interface_errors, hosts: p, start: 1h, per_minute: 10}"
    sim = Sim(tmp_path, WINDOWS, fault)

    def errors(t: float) -> dict[str, int]:
        return {i.name: i.rx_errors for i in sim.network(t).interfaces if i.kind != "loopback"}

    assert set(errors(0).values()) == {0}
    during = errors(1 * H + 600)
    assert during.pop("Ethernet") == 100
    assert set(during.values()) == {0}


@pytest.mark.parametrize(
    ("capture", "source"), [(LINUX, "chronyc"), (WINDOWS, "w32tm"), (MACOS, "sntp")]
)
def test_time_skew_shows_the_offset_in_each_oses_time_tool(
    tmp_path: Path, capture: Path, source: str
) -> None:
    sim = Sim(tmp_path, capture, "{kind: time_skew, hosts: p, start: 1h, end: 2h, offset: 7m}")
    before = sim.network(0).time_sync
    assert before is not None
    assert abs(before.offset_ms) < 60_000
    during = sim.network(1 * H).time_sync
    assert during is not None
    # sntp has no sync state: macOS counts a clock more than 1 s off as not steered.
    assert (during.known, during.synchronized, during.source) == (True, source != "sntp", source)
    assert during.offset_ms == pytest.approx(420_000, abs=1)
    after = sim.network(2 * H).time_sync
    assert after is not None and abs(after.offset_ms) < 60_000


@pytest.mark.parametrize("capture", [LINUX, WINDOWS, MACOS])
def test_time_skew_unsynchronised_says_not_synchronised(tmp_path: Path, capture: Path) -> None:
    fault = "{kind: time_skew, hosts: p, start: 1h, synchronized: false, behind: true}"
    sim = Sim(tmp_path, capture, fault)
    before = sim.network(0).time_sync
    assert before is not None and before.synchronized is (capture != LINUX)
    during = sim.network(1 * H).time_sync
    assert during is not None
    assert (during.known, during.synchronized) == (True, False)


def test_time_skew_on_windows_keeps_the_german_labels(tmp_path: Path) -> None:
    sim = Sim(tmp_path, WINDOWS, "{kind: time_skew, hosts: p, start: 0, offset: 10m}")
    files = dict(sim.capture.files)
    sim.kind.apply(files, sim.view, 0)
    old_labels = [line.partition(":")[0] for line in sim.capture.files["win_w32tm"].splitlines()]
    new_labels = [line.partition(":")[0] for line in files["win_w32tm"].splitlines()]
    assert new_labels == old_labels


# --- drivers ------------------------------------------------------------------------------


def tdrs(out: ProbeOutput) -> list[Event]:
    return [e for e in out.events if e.kind == "driver.display_tdr"]


def test_display_crash_loop_adds_new_tdr_events_with_growing_record_ids(tmp_path: Path) -> None:
    fault = "{kind: display_driver_crash_loop, hosts: p, start: 1h, end: 4h, per_hour: 2}"
    sim = Sim(tmp_path, WINDOWS, fault)
    assert tdrs(sim.drivers(0.9 * H)) == []
    first = tdrs(sim.drivers(1 * H))
    assert [(e.time_ms, e.fields["driver"], e.fields["log"]) for e in first] == [
        (at(1 * H), "nvlddmkm", "System")
    ]
    later = tdrs(sim.drivers(2.6 * H))
    assert [e.time_ms for e in later] == [at(1 * H + k * 1800) for k in range(4)]
    ids = [int(e.fields["record_id"]) for e in later]
    assert ids == sorted(ids) and len(set(ids)) == 4
    assert ids[0] == int(first[0].fields["record_id"])  # the same event keeps its id
    # After the end no new one, but the logged ones stay (7 days), then age out.
    assert len(tdrs(sim.drivers(4 * H))) == 6
    assert len(tdrs(sim.drivers(30 * H))) == 6
    assert tdrs(sim.drivers(4 * H + 7 * 24 * H)) == []
    # The outputs change only when an event comes or goes: so does the state.
    state = sim.kind.state
    assert state(1.1 * H, sim.view) == state(1.4 * H, sim.view)
    assert state(1.4 * H, sim.view) != state(1.5 * H, sim.view)
    assert state(5 * H, sim.view) == state(30 * H, sim.view)


def test_display_crash_loop_ids_continue_the_captured_system_log(tmp_path: Path) -> None:
    sim = Sim(tmp_path, WINDOWS, "{kind: display_driver_crash_loop, hosts: p, start: 0}")
    captured = [
        int(e.fields["record_id"])
        for name in ("win_events_boot", "win_events_disk")
        for e in win_events_json.parse(sim.capture.files[name]).value
        if e.fields["log"] == "System"
    ]
    assert captured  # the boot and disk events of the capture
    (tdr,) = tdrs(sim.drivers(0))
    assert int(tdr.fields["record_id"]) > max(captured)


def test_display_crash_loop_on_linux_logs_gpu_hangs(tmp_path: Path) -> None:
    fault = "{kind: display_driver_crash_loop, hosts: p, start: 1h, end: 3h, per_hour: 1}"
    sim = Sim(tmp_path, LINUX, fault)
    assert sim.kernel(-1, 1 * H - 1) == ()
    events = sim.kernel(-1, 10 * H)
    assert kinds(events) == ["driver.gpu_reset"] * 4
    assert {e.fields["driver"] for e in events} == {"i915"}
    assert [e.time_ms for e in events] == [at(1 * H)] * 2 + [at(2 * H)] * 2
    assert sim.kind.state(1 * H, sim.view) == sim.kind.state(2 * H, sim.view)


def test_device_problem_lists_the_device_with_its_code_while_it_lasts(tmp_path: Path) -> None:
    fault = "{kind: device_problem, hosts: p, start: 1h, end: 2h, code: 10}"
    sim = Sim(tmp_path, WINDOWS, fault)
    assert sim.drivers(0).devices == ()
    (device,) = sim.drivers(1 * H).devices
    assert (device.problem_code, device.name) == (10, "Intel(R) Wi-Fi 6E AX211 160MHz")
    assert device.id.startswith("PCI\\VEN_8086&DEV_51F1")
    assert sim.drivers(2 * H).devices == ()


def test_usb_enumeration_errors_log_descriptor_read_errors_on_the_port(tmp_path: Path) -> None:
    fault = "{kind: usb_enumeration_errors, hosts: p, start: 1h, end: 2h, per_hour: 6, port: 3-1}"
    sim = Sim(tmp_path, LINUX, fault)
    events = sim.kernel(-1, 5 * H)
    assert kinds(events) == ["driver.usb_error"] * 6
    assert {(e.fields["device"], e.fields["error"]) for e in events} == {("3-1", "-71")}
    assert events[0].time_ms == at(1 * H) and events[-1].time_ms == at(1 * H + 5 * 600)


def test_firmware_missing_logs_the_load_failure_and_unbinds_the_device(tmp_path: Path) -> None:
    sim = Sim(tmp_path, LINUX, "{kind: firmware_missing, hosts: p, start: 1h}")

    def device(t: float) -> tuple[str, ...]:
        return tuple(d.driver for d in sim.drivers(t).devices if d.id == "0000:00:14.3")

    assert device(0) == ()
    assert device(1 * H) == ("",)
    (event,) = sim.kernel(-1, 5 * H)
    assert event.kind == "driver.firmware_missing"
    assert (event.fields["bus_id"], event.fields["error"], event.time_ms) == (
        "0000:00:14.3", "-2", at(1 * H),
    )  # fmt: skip
    assert sim.kernel(1 * H, 5 * H) == ()
