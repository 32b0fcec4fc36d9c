"""The Windows domain functions on both simulated Windows hosts (DirectorySource), the specs
as data, and failure isolation (ScenarioSource)."""

import json
from pathlib import Path

import pytest

from agent import specs_windows as win
from agent.probes import windows
from agent.records import ProbeError, Severity
from agent.sources import DirectorySource, ScenarioSource, SourceTimeout, Unavailable
from agent.specs import Command

HOSTS = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"
LAPTOP = DirectorySource(HOSTS / "sim-windows11-laptop")
DESKTOP = DirectorySource(HOSTS / "sim-windows10-de-desktop")
DOMAINS = ("inventory", "disk", "smart", "network", "drivers", "boot")
COLLECT = {
    "inventory": windows.inventory,
    "disk": windows.disk,
    "smart": windows.smart,
    "network": windows.network,
    "drivers": windows.drivers,
    "boot": windows.boot,
}


@pytest.mark.parametrize("source", [LAPTOP, DESKTOP], ids=["laptop", "desktop"])
@pytest.mark.parametrize("domain", DOMAINS)
def test_every_domain_reads_cleanly_and_only_captured_specs(
    source: DirectorySource, domain: str
) -> None:
    assert source.os == "windows"
    output = COLLECT[domain](source)
    assert (output.errors, output.warnings) == ((), ())
    captured = json.loads((source.root / "manifest.json").read_text("utf-8"))["specs"]
    for spec in windows.specs(domain):
        assert isinstance(spec, Command)
        assert captured[spec.name]["argv"] == list(spec.argv)  # the fixture is this spec's output


def test_laptop_inventory() -> None:
    inv = windows.inventory(LAPTOP).inventory
    assert inv is not None
    assert (inv.hostname, inv.os_family, inv.os_version, inv.kernel) == (
        "NB-SALES-114",
        "windows",
        "23H2",
        "10.0.22631.4460",
    )
    assert [(d.name, d.transport) for d in inv.disks] == [("PhysicalDisk0", "nvme")]


def test_laptop_disk_153_events() -> None:
    out = windows.disk(LAPTOP)
    assert [v.mount for v in out.volumes] == ["C:\\", "D:\\"]
    assert [(e.kind, e.severity, e.fields["device"], e.fields["event_id"]) for e in out.events] == [
        ("disk.io_retried", Severity.WARNING, "\\Device\\Harddisk0\\DR0", "153")
    ] * 3


def test_laptop_smart_nvme_healthy() -> None:
    (nvme,) = windows.smart(LAPTOP).smart
    assert (nvme.protocol, nvme.health_known, nvme.failed, nvme.nvme_percentage_used) == (
        "NVMe",
        True,
        False,
        3,
    )


def test_laptop_network() -> None:
    out = windows.network(LAPTOP)
    by_name = {i.name: i for i in out.interfaces}
    assert list(by_name) == [
        "Wi-Fi",
        "Ethernet",
        "Bluetooth Network Connection",
        "Loopback Pseudo-Interface 1",
    ]
    wifi = by_name["Wi-Fi"]
    assert (
        wifi.kind,
        wifi.oper_state,
        wifi.dhcp,
        wifi.apipa,
        "10.20.31.147/22" in wifi.addresses,
    ) == (
        "wifi",
        "up",
        True,
        False,
        True,
    )
    # APIPA, but on adapters that are down: a rule must look at both.
    assert [(n, i.apipa, i.oper_state) for n, i in by_name.items() if i.apipa] == [
        ("Ethernet", True, "down"),
        ("Bluetooth Network Connection", True, "down"),
    ]
    assert by_name["Loopback Pseudo-Interface 1"].kind == "loopback"
    assert [(r.destination, r.gateway, r.interface) for r in out.routes] == [
        ("default", "10.20.28.1", "Wi-Fi")
    ]
    assert out.dns is not None and out.dns.servers == ("10.20.0.53", "10.20.0.54")
    assert out.time_sync is not None and (out.time_sync.synchronized, out.time_sync.server) == (
        True,
        "DC02.corp.example.com",
    )
    assert out.events == ()


def test_laptop_drivers_code_43_with_its_driver_version() -> None:
    out = windows.drivers(LAPTOP)
    (bt,) = out.devices
    assert (bt.problem_code, bt.driver, bt.driver_version) == (43, "BTHUSB", "23.60.5.1")
    assert bt.problem.startswith("CM_PROB_FAILED_POST_START")
    assert len(out.drivers) == 12 and out.events == ()


def test_laptop_boot_unclean_with_bugcheck_9f() -> None:
    out = windows.boot(LAPTOP)
    assert out.boot is not None
    assert (out.boot.previous_shutdown, out.boot.boot_duration_s) == ("unclean", 71.234)
    assert "Kernel-Power 41" in out.boot.previous_shutdown_detail
    assert "EventLog 6008" in out.boot.previous_shutdown_detail
    (crash,) = out.crashes
    assert (crash.source, crash.stop_code, crash.path) == (
        "bugcheck",
        "0x0000009f",
        "C:\\WINDOWS\\Minidump\\112026-11734-01.dmp",
    )
    critical = [
        (e.kind, e.fields["stop_code"]) for e in out.events if e.severity is Severity.CRITICAL
    ]
    assert critical == [("boot.unexpected_shutdown", "0x0000009f"), ("boot.bugcheck", "0x0000009f")]


def test_laptop_boot_pinned_by_last_boot_up_time() -> None:
    inv = windows.inventory(LAPTOP).inventory
    assert inv is not None
    out = windows.boot(LAPTOP, boot_time_ms=inv.boot_time_unix * 1000)
    assert out.boot is not None
    assert (out.boot.boot_time_unix, out.boot.previous_shutdown) == (inv.boot_time_unix, "unclean")


def test_boot_emits_only_events_since_but_derives_from_all() -> None:
    since = 1795193371267  # the Kernel-Power 41
    out = windows.boot(LAPTOP, since_ms=since)
    assert out.boot is not None and out.boot.previous_shutdown == "unclean"
    assert [e.kind for e in out.events] == [
        "boot.unexpected_shutdown",
        "boot.started",
        "boot.dirty_shutdown",
        "boot.bugcheck",
        "boot.performance",
    ]


def test_desktop_german() -> None:
    disk = windows.disk(DESKTOP)
    (bad,) = disk.events
    assert (bad.kind, bad.severity, bad.fields["device"]) == (
        "disk.bad_block",
        Severity.ERROR,
        "\\Device\\Harddisk1\\DR1",
    )
    assert [v.mount for v in disk.volumes] == ["C:\\", "D:\\"]
    smart = windows.smart(DESKTOP).smart
    assert [(d.serial, d.failed) for d in smart] == [
        ("S3Z1NB0K******", False),
        ("WD-WCC6Y4KJ1F2N", False),
    ]
    net = windows.network(DESKTOP)
    assert [(i.name, i.kind, i.oper_state) for i in net.interfaces[:2]] == [
        ("Ethernet", "ethernet", "up"),
        ("WLAN", "wifi", "down"),
    ]
    assert net.dns is not None and net.dns.search == ("fritz.box",)
    assert net.time_sync is not None and net.time_sync.synchronized
    drivers = windows.drivers(DESKTOP)
    assert drivers.devices == () and drivers.events == ()
    boot = windows.boot(DESKTOP)
    assert boot.boot is not None and (boot.boot.previous_shutdown, boot.boot.boot_duration_s) == (
        "clean",
        24.512,
    )
    assert boot.crashes == ()
    assert all(e.severity is Severity.INFO for e in boot.events)


# --- failure isolation ----------------------------------------------------------------


def test_one_failing_spec_does_not_hide_the_others() -> None:
    laptop = {
        spec.name: (HOSTS / "sim-windows11-laptop" / spec.name).read_text("utf-8")
        for spec in windows.specs("network")
    }
    laptop["win_w32tm"] = SourceTimeout("timeout: w32tm.exe did not finish within 15 s (killed)")  # type: ignore[assignment]
    laptop["win_routes"] = "Get-NetRoute : Zugriff verweigert\r\n"
    del laptop["win_net_adapters"]
    out = windows.network(ScenarioSource("windows", laptop))
    assert out.errors == (
        ProbeError("network", "unavailable", "win_net_adapters: not captured"),
        ProbeError(
            "network", "parse", "win_routes: win_routes: not JSON: Expecting value at line 1"
        ),
        ProbeError(
            "network",
            "timeout",
            "win_w32tm: timeout: w32tm.exe did not finish within 15 s (killed)",
        ),
    )
    # Without the adapter list, every interface's DNS servers count, and addresses still show.
    assert out.dns is not None and out.dns.servers == ("10.20.0.53", "10.20.0.54")
    assert "Wi-Fi" in {i.name for i in out.interfaces}


def test_unavailable_boot_events() -> None:
    reason = "powershell.exe exited with status 1: Get-WinEvent : Access is denied"
    out = windows.boot(ScenarioSource("windows", {"win_events_boot": Unavailable(reason)}))
    assert out.boot is None
    assert out.errors == (ProbeError("boot", "unavailable", f"win_events_boot: {reason}"),)


def test_parse_warnings_are_reported_with_the_spec_name() -> None:
    out = windows.smart(
        ScenarioSource("windows", {"win_physical_disks": '[{"DeviceId":"0"},{"Size":1}]'})
    )
    assert [d.device for d in out.smart] == ["PhysicalDisk0"]
    assert [(w.spec, w.count) for w in out.warnings] == [("win_physical_disks", 1)]


# --- the specs as data ------------------------------------------------------------------


ALL_SPECS = [spec for domain in DOMAINS for spec in windows.specs(domain)]


@pytest.mark.parametrize("spec", ALL_SPECS, ids=[s.name for s in ALL_SPECS])
def test_scripts_survive_windows_command_line_quoting(spec: Command) -> None:
    if spec.argv[0] != "powershell.exe":
        assert spec.argv == ("w32tm.exe", "/query", "/status", "/verbose")
        return
    assert spec.argv[:-1] == win.POWERSHELL
    script = spec.argv[-1]
    assert '"' not in script and "\n" not in script
    assert "[Text.UTF8Encoding]::new($false)" in script
    assert "ConvertTo-Json -Depth 4 -Compress -InputObject" in script
    assert "| ConvertTo-Json" not in script  # a pipeline would unroll a one-item array


def test_event_window_from_since_ms() -> None:
    spec = win.events("disk", 1795193371267)
    assert spec.name == "win_events_disk"
    assert "[DateTimeOffset]::FromUnixTimeMilliseconds(1795193371267).UtcDateTime" in spec.argv[-1]
    assert f"(Get-Date).AddHours(-{win.DEFAULT_LOOKBACK_H})" in win.events("disk").argv[-1]
    # Boot always reads its month: the last clean stop may be older than any poll window.
    assert (
        f"(Get-Date).AddHours(-{win.BOOT_LOOKBACK_H})" in win.events("boot", 1795193371267).argv[-1]
    )
    assert "-MaxEvents 100" in spec.argv[-1]
    assert "ProviderName='stornvme'; Id=129" in spec.argv[-1]


def test_names_are_unique_per_os() -> None:
    names = [s.name for s in ALL_SPECS]
    assert len(names) == len(set(names)) == 14
