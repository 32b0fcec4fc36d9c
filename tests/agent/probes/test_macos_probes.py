"""agent/probes/macos.py on both macOS fixture hosts (DirectorySource, on any OS), and on
scenarios where commands are missing or print nonsense."""

import json
from pathlib import Path

import pytest

from agent.probes import macos
from agent.records import Route, Severity, Volume
from agent.sources import DirectorySource, ScenarioSource, SourceTimeout, Unavailable

HOSTS = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"
MACBOOK = HOSTS / "sim-macos14-macbook"
IMAC = HOSTS / "sim-macos12-intel-imac"
DOMAINS = ("inventory", "disk", "smart", "network", "drivers", "boot")


@pytest.mark.parametrize("host", [MACBOOK, IMAC], ids=lambda h: h.name)
def test_every_domain_reads_only_captured_specs_and_succeeds(host: Path) -> None:
    source = DirectorySource(host)
    assert source.os == "darwin"
    captured = json.loads((host / "manifest.json").read_text("utf-8"))["specs"]
    for domain in DOMAINS:
        specs = macos.specs(domain)
        assert specs and all(s.name in captured for s in specs)
        output = getattr(macos, domain)(source)
        assert output.errors == () and output.warnings == (), domain
    assert macos.specs("nonsense") == ()


def test_macbook_inventory() -> None:
    inv = macos.inventory(DirectorySource(MACBOOK)).inventory
    assert inv is not None
    assert (inv.hostname, inv.os_family, inv.os_name) == (
        "ws-sales-07",
        "darwin",
        "macOS 14.4.1 (23E224)",
    )
    assert (inv.kernel, inv.arch, inv.cpu_model, inv.cpu_cores) == (
        "23.4.0",
        "arm64",
        "Apple M2",
        8,
    )
    assert inv.memory_bytes == 16 * 2**30
    assert inv.boot_time_unix == 1_714_630_390
    assert inv.vendor == "Apple Inc. MacBook Air (Mac14,2)"
    assert inv.machine_id == "6a1f3c9e-5b27-4d8a-9e41-2c7b0d5f8a13"
    assert [(d.name, d.model, d.transport, d.rotational) for d in inv.disks] == [
        ("disk0", "APPLE SSD AP0512Z", "nvme", False)
    ]
    assert inv.nics == ("en0 3c:22:fb:5a:91:0e",)  # the Thunderbolt ports are no NICs


def test_imac_inventory() -> None:
    inv = macos.inventory(DirectorySource(IMAC)).inventory
    assert inv is not None
    assert (inv.os_version, inv.arch, inv.cpu_cores) == ("12.7.4", "x86_64", 4)
    assert inv.cpu_model == "Intel(R) Core(TM) i5-7600K CPU @ 3.80GHz"  # sysctl's, not "Quad-Core"
    assert [(d.name, d.transport, d.rotational) for d in inv.disks] == [("disk0", "sata", True)]
    assert inv.nics == ("en0 38:c9:86:4e:2a:17", "en1 8c:85:90:3b:d4:61")


def test_disk_volumes_and_io_errors() -> None:
    assert macos.disk(DirectorySource(MACBOOK)).volumes == (
        Volume(
            "/System/Volumes/Data",
            "/dev/disk3s5",
            "apfs",
            494_384_795_648,
            301_512_716_288,
            169_995_780_096,
        ),
    )
    imac = macos.disk(DirectorySource(IMAC))
    (data,) = imac.volumes
    assert (data.mount, data.device, round(data.used_pct)) == (
        "/System/Volumes/Data",
        "/dev/disk1s1",
        72,
    )
    assert [(e.kind, e.source, e.fields["device"]) for e in imac.events] == [
        ("disk.io_error", "macos", "disk0s2")
    ] * 3


def test_smart() -> None:
    (ssd,) = macos.smart(DirectorySource(MACBOOK)).smart
    assert (ssd.device, ssd.protocol, ssd.health_known, ssd.health_passed) == (
        "/dev/disk0",
        "NVMe",
        True,
        True,
    )
    (hdd,) = macos.smart(DirectorySource(IMAC)).smart
    assert (hdd.device, hdd.protocol, hdd.model, hdd.serial) == (
        "/dev/disk0",
        "ATA",
        "APPLE HDD ST1000DM003",
        "SIMFAULT0009",
    )
    assert hdd.failed


def test_network_macbook_wifi() -> None:
    out = macos.network(DirectorySource(MACBOOK))
    by_name = {i.name: i for i in out.interfaces}
    en0 = by_name["en0"]
    assert (en0.kind, en0.oper_state, en0.carrier, en0.mac) == (
        "wifi",
        "up",
        True,
        "3c:22:fb:5a:91:0e",
    )
    assert "192.168.1.23/24" in en0.addresses
    assert (en0.wifi_ssid, en0.wifi_signal_dbm) == ("", -71)
    assert (en0.rx_bytes, en0.tx_errors) == (2_873_416_190, 37)
    assert {by_name[n].kind for n in ("bridge0", "en1", "en2", "awdl0", "utun0")} == {"virtual"}
    assert by_name["lo0"].kind == "loopback"
    assert out.routes[0] == Route("default", "192.168.1.1", "en0")
    assert out.dns is not None and out.dns.servers == ("192.168.1.1",)
    assert out.time_sync is not None
    assert (out.time_sync.known, out.time_sync.synchronized, out.time_sync.offset_ms) == (
        True,
        True,
        41.237,
    )


def test_network_imac_ethernet_and_corporate_ntp() -> None:
    out = macos.network(DirectorySource(IMAC))
    by_name = {i.name: i for i in out.interfaces}
    assert (by_name["en0"].kind, by_name["en0"].speed_mbps, by_name["en0"].duplex) == (
        "ethernet",
        1000,
        "full",
    )
    assert (by_name["en1"].kind, by_name["en1"].oper_state) == ("wifi", "down")
    assert out.dns is not None
    assert (out.dns.servers, out.dns.search) == (
        ("10.20.0.53", "10.20.0.54"),
        ("corp.example.com",),
    )
    assert out.time_sync is not None
    assert (out.time_sync.server, out.time_sync.offset_ms) == ("ntp.corp.example.com", -12.377)


def test_drivers() -> None:
    drivers = macos.drivers(DirectorySource(MACBOOK)).drivers
    third_party = [d for d in drivers if d.provider != "Apple"]
    assert [(d.name, d.version) for d in third_party] == [
        ("com.acme.driver.AcmeUSBSerial", "2.1.7")
    ]
    assert len(macos.drivers(DirectorySource(IMAC)).drivers) == 23


def test_boot_after_a_panic_on_apple_silicon() -> None:
    out = macos.boot(DirectorySource(MACBOOK))
    assert out.boot is not None
    assert out.boot.boot_id == "8c1d5f7e-2b3a-4c9d-a1e0-6f4b3c2d1e0a"
    assert out.boot.boot_time_unix == 1_714_630_390
    assert out.boot.previous_shutdown == "unclean"
    assert out.boot.previous_shutdown_detail.startswith("kernel panic: Kernel data abort.")
    (crash,) = out.crashes
    assert (crash.source, crash.kind, crash.module) == (
        "macos_panic",
        "panic",
        "com.acme.driver.AcmeUSBSerial",
    )
    assert crash.path == "/Library/Logs/DiagnosticReports/panic-full-2024-05-02-081243.0002.ips"
    (event,) = out.events
    assert (event.kind, event.severity, event.time_ms) == (
        "boot.panic",
        Severity.CRITICAL,
        crash.time_ms,
    )


def test_boot_clean_on_intel() -> None:
    out = macos.boot(DirectorySource(IMAC))
    assert out.boot is not None
    assert (out.boot.previous_shutdown, out.boot.boot_time_unix) == ("clean", 1_710_140_321)
    assert (
        out.boot.previous_shutdown_detail
        == "shutdown cause 5: normal shutdown or restart from macOS"
    )
    assert out.crashes == () and out.events == ()  # a clean cause is no event


# --- scenarios: partial failures --------------------------------------------------------


def _host(folder: Path, **changes: str | Unavailable) -> ScenarioSource:
    contents: dict[str, str | Unavailable] = {
        p.name: p.read_text("utf-8") for p in folder.iterdir() if p.name != "manifest.json"
    }
    contents.update(changes)
    return ScenarioSource("darwin", contents)


def test_unexpected_shutdown_on_intel_is_an_event() -> None:
    line = (IMAC / "log_shutdown_cause").read_text().replace("cause: 5", "cause: -128")
    out = macos.boot(_host(IMAC, log_shutdown_cause=line))
    assert out.boot is not None and out.boot.previous_shutdown == "unclean"
    assert out.boot.previous_shutdown_detail.endswith("hardware-related shutdown of unknown cause")
    (event,) = out.events
    assert (event.kind, event.fields["cause"]) == ("boot.unexpected_shutdown", "-128")


def test_no_cause_and_no_panic_is_unknown() -> None:
    out = macos.boot(_host(MACBOOK, panic_reports=""))
    assert out.boot is not None and out.boot.previous_shutdown == "unknown"
    assert out.crashes == () and out.errors == ()


def test_an_old_panic_is_kept_but_did_not_end_the_last_boot() -> None:
    sysctl = (MACBOOK / "sysctl").read_text().replace("sec = 1714630390", "sec = 1714730390")
    out = macos.boot(_host(MACBOOK, sysctl=sysctl))
    assert out.boot is not None and out.boot.previous_shutdown == "unknown"
    assert len(out.crashes) == 1 and out.events == ()


def test_unreadable_panic_report_and_garbled_log_go_on() -> None:
    name = next(p.name for p in MACBOOK.iterdir() if p.name.startswith("panic_report."))
    broken: dict[str, str | Unavailable] = {
        name: Unavailable("permission denied"),
        "log_shutdown_cause": "x\n",
    }
    out = macos.boot(_host(MACBOOK, **broken))
    assert out.boot is not None and out.boot.boot_time_unix == 1_714_630_390
    assert [(e.kind, e.message) for e in out.errors] == [
        ("unavailable", f"{name}: permission denied")
    ]
    assert [w.spec for w in out.warnings] == ["log_shutdown_cause"]


def test_missing_commands_are_recorded_and_the_rest_reports() -> None:
    out = macos.network(
        _host(
            IMAC,
            netstat_ib=Unavailable("netstat not found"),
            system_profiler_airport=SourceTimeout("timeout: system_profiler did not finish"),
            sntp=Unavailable("sntp exited with status 1: sntp: Exchange failed: Timeout"),
        )
    )
    assert [(e.kind, e.message.split(":")[0]) for e in out.errors] == [
        ("unavailable", "netstat_ib"),
        ("timeout", "system_profiler_airport"),
        ("unavailable", "sntp"),
    ]
    en0 = next(i for i in out.interfaces if i.name == "en0")
    assert (en0.kind, en0.speed_mbps, en0.rx_bytes) == ("ethernet", 1000, 0)
    assert out.time_sync is not None and out.time_sync.known is False
    assert "Exchange failed" in out.time_sync.detail


def test_no_ntp_conf_queries_apple() -> None:
    out = macos.network(_host(MACBOOK, ntp_conf=Unavailable("not found: /etc/ntp.conf")))
    assert out.errors == ()
    assert out.time_sync is not None and out.time_sync.server == "time.apple.com"


def test_kextstat_is_the_fallback_for_kmutil() -> None:
    out = macos.drivers(_host(IMAC, kmutil_showloaded=Unavailable("kmutil not found")))
    assert out.errors == () and len(out.drivers) == 23
    none = macos.drivers(
        _host(IMAC, kmutil_showloaded=Unavailable("kmutil not found"), kextstat=Unavailable("gone"))
    )
    assert none.drivers == ()
    assert [e.message for e in none.errors] == [
        "kmutil_showloaded: kmutil not found",
        "kextstat: gone",
    ]


def test_disk_with_a_truncated_apfs_list_falls_back() -> None:
    apfs = (IMAC / "diskutil_apfs_list").read_text()[:300]
    out = macos.disk(_host(IMAC, diskutil_apfs_list=apfs))
    assert [e.kind for e in out.errors] == ["parse"]
    (data,) = out.volumes
    assert data.mount == "/System/Volumes/Data" and data.free_bytes > 0


def test_inventory_without_sysctl_names_no_host() -> None:
    out = macos.inventory(_host(MACBOOK, sysctl=Unavailable("sysctl not found")))
    assert out.inventory is None
    assert [e.message for e in out.errors] == ["sysctl: sysctl not found"]
