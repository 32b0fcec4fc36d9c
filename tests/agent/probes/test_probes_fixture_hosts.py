"""Every probe on every captured host, plus scenarios for what this build VM cannot show
(a failing disk, unreadable devices, partial inventories)."""

import asyncio
import dataclasses
import json
import typing
from pathlib import Path

import pytest

from agent.common.shape import Kind, shape
from agent.config import KNOWN_PROBES
from agent.probes import (
    PROBES,
    BootProbe,
    DiskProbe,
    DriversProbe,
    InventoryProbe,
    NetworkProbe,
    Probe,
    ProbeOutput,
    SmartProbe,
)
from agent.records import Event, ProbeError, SmartDevice, Snapshot
from agent.runner import collect
from agent.sources import DirectorySource, ScenarioSource, SourceTimeout, Unavailable
from agent.uplink.convert import event_pb, snapshot_pb
from collector.ingest.convert import from_pb
from rdiag_proto.v1 import telemetry_pb2 as pb

HOSTS_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"
HOSTS = sorted(p for p in HOSTS_DIR.iterdir() if (p / "host.toml").is_file())


def test_probes_are_listed_once_in_order() -> None:
    assert [p.name for p in PROBES] == list(KNOWN_PROBES)


def _declared(value: object, cls: type) -> None:
    """Every value of a record field is of the type the field declares (recursively)."""
    assert isinstance(value, cls), (value, cls)
    for f in shape(cls):
        item = getattr(value, f.name)
        match f.kind:
            case Kind.MESSAGE:
                if not (f.optional and item is None):
                    _declared(item, f.type)
            case Kind.REPEATED_MESSAGE:
                assert isinstance(item, tuple), f.name
                for x in item:
                    _declared(x, f.type)
            case Kind.REPEATED_SCALAR:
                assert isinstance(item, tuple) and all(type(x) is f.type for x in item), f.name
            case Kind.SCALAR:
                assert type(item) is f.type, (cls.__name__, f.name, item)
            case _:
                pass


@pytest.mark.parametrize("host", HOSTS, ids=[h.name for h in HOSTS])
@pytest.mark.parametrize("probe", PROBES, ids=[p.name for p in PROBES])
def test_every_probe_on_every_captured_host(probe: Probe, host: Path) -> None:
    """The contract: each probe, on each fixture host of each OS, returns only declared
    record types, never crashes (no "error" kind: that would be a probe bug), and reads
    nothing up front that the capture does not hold."""
    source = DirectorySource(host)
    output = probe.collect(source)
    assert isinstance(output, ProbeOutput)
    assert output != ProbeOutput(), "a probe must say something: records or why not"
    assert all(e.probe == probe.name for e in output.errors)
    assert [e for e in output.errors if e.kind == "error"] == []
    for f in dataclasses.fields(ProbeOutput):
        value = getattr(output, f.name)
        if isinstance(value, tuple):
            hint = typing.get_type_hints(ProbeOutput)[f.name]
            (item_type, _) = typing.get_args(hint)
            for item in value:
                _declared(item, item_type)
        elif value is not None and dataclasses.is_dataclass(value):
            _declared(value, type(value))
    captured = json.loads((host / "manifest.json").read_text("utf-8"))["specs"]
    for spec in probe.specs(source.os):  # everything a probe asks for up front was captured
        assert spec.name in captured


@pytest.mark.parametrize("host", HOSTS, ids=[h.name for h in HOSTS])
def test_every_hosts_snapshot_and_events_round_trip_through_protobuf(host: Path) -> None:
    got = asyncio.run(
        collect(DirectorySource(host), PROBES, timeout_s=30, clock_ms=lambda: 1, agent_version="t")
    )
    snap = got.snapshot
    assert (
        from_pb(pb.Snapshot.FromString(snapshot_pb(snap).SerializeToString()), Snapshot, "s")
        == snap
    )
    for events in got.events.values():
        for event in events:
            wire = pb.Event.FromString(event_pb(event).SerializeToString())
            assert from_pb(wire, Event, "e") == event


def test_debian12_vm() -> None:
    """The real capture of this build VM (rdiag-agent capture, 2026-12-01)."""
    source = DirectorySource(HOSTS_DIR / "linux-debian12-vm")
    inventory = InventoryProbe().collect(source)
    assert inventory.errors == ()
    assert inventory.inventory is not None
    assert inventory.inventory.os_name == "Debian GNU/Linux 12 (bookworm)"
    assert inventory.inventory.os_version == "12"
    assert inventory.inventory.machine_id == "3d1219c7c4c5404aaa1f6d2a48adfda4"
    assert inventory.inventory.cpu_cores == 2
    assert [d.name for d in inventory.inventory.disks] == ["vda"]
    disk = DiskProbe().collect(source)
    assert [(v.mount, v.fstype) for v in disk.volumes] == [("/", "ext4")]
    assert [d.device for d in disk.disk_io] == ["vda"]
    assert disk.raid == ()
    smart = SmartProbe().collect(source)
    assert smart == ProbeOutput(errors=(ProbeError("smart", "unavailable", "smartctl not found"),))
    net = NetworkProbe().collect(source)
    eth0 = next(i for i in net.interfaces if i.name == "eth0")
    assert eth0.oper_state == "up" and eth0.carrier and "192.0.2.2/24" in eth0.addresses
    assert [(r.gateway, r.interface) for r in net.routes if r.destination == "default"][0] == (
        "192.0.2.1",
        "eth0",
    )
    assert net.gateway_checks[0].reachable
    assert net.dns is not None and net.dns.servers == ("10.255.255.53",)
    assert {(c.name, c.status) for c in net.dns_checks} == {
        ("deb.debian.org", "ok"),
        ("pypi.org", "ok"),
    }
    assert net.time_sync is not None and not net.time_sync.known  # no time service here
    boot = BootProbe().collect(source)
    assert boot.boot is not None
    assert boot.boot.boot_id == "20b1fc2b-236e-4288-8418-d8fd4483deb8"
    assert boot.boot.previous_shutdown == "unknown"  # no journal on this VM
    drivers = DriversProbe().collect(source)
    assert drivers.devices and all(d.bus == "pci" for d in drivers.devices)


# --- SMART scenarios ------------------------------------------------------------------


def _scan(*devices: dict[str, str]) -> str:
    return json.dumps({"smartctl": {"version": [7, 3], "exit_status": 0}, "devices": list(devices)})


def _smartctl(name: str, passed: bool, exit_status: int = 0, **extra: object) -> str:
    doc: dict[str, object] = {
        "json_format_version": [1, 0],
        "smartctl": {"version": [7, 3], "exit_status": exit_status},
        "device": {"name": name, "info_name": f"{name} [SAT]", "type": "sat", "protocol": "ATA"},
        "model_name": "ST2000DM001-1CH164",
        "smart_status": {"passed": passed},
    }
    return json.dumps(doc | extra)


SDA = {"name": "/dev/sda", "info_name": "/dev/sda [SAT]", "type": "sat", "protocol": "ATA"}
SDB = {"name": "/dev/sdb", "info_name": "/dev/sdb [SAT]", "type": "sat", "protocol": "ATA"}


def test_failing_disk():
    # smartctl sets bit 3 (8: "DISK FAILING") and still writes a complete document.
    table = {"table": [{"id": 5, "name": "Reallocated_Sector_Ct", "raw": {"value": 3872}}]}
    source = ScenarioSource(
        "linux",
        {
            "smartctl_scan": _scan(SDA),
            "smartctl_x.sda": _smartctl("/dev/sda", False, 8, ata_smart_attributes=table),
        },
    )
    output = SmartProbe().collect(source)
    assert output.errors == ()
    (device,) = output.smart
    assert device.failed
    assert (device.reallocated_sectors, device.smartctl_exit_status) == (3872, 8)


def test_per_device_failures_do_not_hide_the_other_devices():
    open_failed = json.dumps(
        {
            "smartctl": {
                "exit_status": 2,
                "messages": [
                    {
                        "string": "Smartctl open device: /dev/sdb failed: Permission denied",
                        "severity": "error",
                    }
                ],
            }
        }
    )
    nvme = {"name": "/dev/nvme0", "type": "nvme", "protocol": "NVMe"}
    sdc = {"name": "/dev/sdc", "type": "sat", "protocol": "ATA", "open_error": "No such device"}
    sdd = {"name": "/dev/sdd", "type": "sat", "protocol": "ATA"}
    source = ScenarioSource(
        "linux",
        {
            "smartctl_scan": _scan(SDA, SDB, nvme, sdc, sdd),
            "smartctl_x.sda": _smartctl("/dev/sda", True),
            "smartctl_x.sdb": Unavailable("smartctl exited with status 2", output=open_failed),
            "smartctl_x.nvme0": SourceTimeout("timeout: smartctl did not finish within 30 s"),
            "smartctl_x.sdd": "smartctl: garbage",
        },
    )
    output = SmartProbe().collect(source)
    assert [d.device for d in output.smart] == ["/dev/sda"]
    assert [(e.kind, e.message) for e in output.errors] == [
        (
            "unavailable",
            "/dev/sdb: smartctl exited with status 2 "
            "(Smartctl open device: /dev/sdb failed: Permission denied)",
        ),
        ("timeout", "/dev/nvme0: timeout: smartctl did not finish within 30 s"),
        ("unavailable", "/dev/sdc: No such device"),
        ("parse", "/dev/sdd: smartctl: not JSON: Expecting value at line 1"),
    ]


def test_no_devices():
    output = SmartProbe().collect(ScenarioSource("linux", {"smartctl_scan": _scan()}))
    assert output == ProbeOutput()


def test_healthy_disk_record():
    source = ScenarioSource(
        "linux", {"smartctl_scan": _scan(SDA), "smartctl_x.sda": _smartctl("/dev/sda", True)}
    )
    assert SmartProbe().collect(source).smart == (
        SmartDevice(
            device="/dev/sda",
            protocol="ATA",
            model="ST2000DM001-1CH164",
            health_known=True,
            health_passed=True,
        ),
    )


# --- inventory and disk scenarios -----------------------------------------------------

FACTS = json.dumps({"hostname": "ws-17", "kernel": "6.1.0-21-amd64", "arch": "x86_64"})


def test_inventory_is_partial_when_optional_files_fail():
    source = ScenarioSource(
        "linux",
        {
            "host_facts": FACTS,
            "os_release_usr_lib": 'NAME="Fedora Linux"\nVERSION_ID=40\n',
            "machine_id": "not-an-id\n",
        },
    )
    output = InventoryProbe().collect(source)
    assert output.inventory is not None
    assert (output.inventory.hostname, output.inventory.os_name) == ("ws-17", "Fedora Linux")
    assert output.inventory.os_version == "40"
    assert output.inventory.machine_id == ""
    assert [(e.probe, e.kind) for e in output.errors] == [
        ("inventory", "parse"),
        ("inventory", "unavailable"),  # lsblk: not captured
    ]


def test_inventory_without_os_release_or_machine_id():
    output = InventoryProbe().collect(ScenarioSource("linux", {"host_facts": FACTS}))
    assert output.inventory is not None and output.inventory.os_name == ""
    assert [e.kind for e in output.errors] == ["unavailable", "unavailable", "unavailable"]


def test_inventory_needs_host_facts():
    with pytest.raises(Unavailable):
        InventoryProbe().collect(ScenarioSource("linux", {}))


def test_disk_mount_failures_are_partial_errors():
    usage = {
        "mounts": [
            {
                "mount": "/",
                "device": "/dev/vda",
                "fstype": "ext4",
                "opts": "rw",
                "statvfs": {"f_frsize": 4096, "f_blocks": 10, "f_bfree": 5, "f_bavail": 4},
            },
            {
                "mount": "/srv/nfs",
                "device": "nas:/srv",
                "fstype": "nfs4",
                "opts": "rw",
                "error": {"kind": "timeout", "message": "statvfs did not answer within 2 s"},
            },
        ]
    }
    output = DiskProbe().collect(ScenarioSource("linux", {"disk_usage": json.dumps(usage)}))
    assert [v.mount for v in output.volumes] == ["/"]
    assert output.errors == (
        ProbeError("disk", "timeout", "/srv/nfs: statvfs did not answer within 2 s"),
        ProbeError("disk", "unavailable", "diskstats: not captured"),
    )


# --- time sync ------------------------------------------------------------------------

LINUX_FIXTURES = HOSTS_DIR.parent / "linux"


def test_time_sync_combines_timedatectl_with_timesyncd_status() -> None:
    """timedatectl show (synchronised?) + timesync-status (server, offset): one record, from
    real outputs of systemd 252's tools (tests/fixtures/linux/FIXTURES.md)."""
    source = ScenarioSource(
        "linux",
        {
            "timedatectl": (LINUX_FIXTURES / "timedatectl-show.ntp-active").read_text(),
            "timedatectl_timesync": (
                LINUX_FIXTURES / "timedatectl-timesync-status.synced"
            ).read_text(),
        },
    )
    sync = NetworkProbe().collect(source).time_sync
    # The kernel's flag decides (NTPSynchronized=no on the VM these came from), even though
    # timesyncd has a server and has measured an offset.
    assert sync is not None and sync.known and not sync.synchronized
    assert sync.server.startswith("192.0.2.123")
    # timesyncd prints the correction to apply (-1.542 ms): the clock is 1.542 ms ahead.
    assert sync.offset_ms == 1.542


def test_time_sync_says_so_when_no_service_answers() -> None:
    sync = NetworkProbe().collect(ScenarioSource("linux", {})).time_sync
    assert sync is not None and not sync.known
    assert "neither timedatectl nor chronyc" in sync.detail


# --- boot: which crash files speak for the previous shutdown ---------------------------


def _crash_dirs(*files: dict[str, object]) -> str:
    dirs = [{"source": "var_crash", "root": "/var/crash", "present": True, "error": "",
             "files": list(files)}]  # fmt: skip
    return json.dumps({"time_ms": 1796154449803, "text_limit": 65536, "dirs": dirs})


PANIC_TEXT = (
    "[  100.000000] BUG: kernel NULL pointer dereference, address: 0000000000000008\n"
    "[  100.000100] RIP: 0010:iwl_mvm_rx_tx_cmd+0x1d/0x4f0 [iwlmvm]\n"
    "[  100.000200] Kernel panic - not syncing: Fatal exception\n"
)


@pytest.mark.parametrize(
    ("file", "expected"),
    [
        # An apport report of a program crash: not the kernel's, not the shutdown's.
        ({"path": "/var/crash/_usr_bin_gedit.1000.crash", "name": "_usr_bin_gedit.1000.crash",
          "size": 10, "mtime_ms": 1796150000000, "text": "ProblemType: Crash\n",
          "truncated": False}, "clean"),
        # A kernel dump from 2020 nobody deleted.
        ({"path": "/var/crash/202001010000/dmesg.202001010000", "name": "dmesg.202001010000",
          "size": 300, "mtime_ms": 1577836800000, "text": PANIC_TEXT, "truncated": False},
         "clean"),
        # A kernel dump written during the previous boot (after its first journal entry).
        ({"path": "/var/crash/202612011830/dmesg.202612011830", "name": "dmesg.202612011830",
          "size": 300, "mtime_ms": 1796149855000, "text": PANIC_TEXT, "truncated": False},
         "unclean"),
    ],
)  # fmt: skip
def test_only_a_kernel_crash_of_the_previous_boot_makes_it_unclean(
    file: dict[str, object], expected: str
) -> None:
    facts = json.dumps({"hostname": "ws", "boot_time": 1796152201, "kernel": "6.1", "arch": "x"})
    source = ScenarioSource(
        "linux",
        {
            "host_facts": facts,
            "journal_previous_tail": (LINUX_FIXTURES / "journal-tail.clean.json").read_text(),
            "crash_dirs": _crash_dirs(file),
        },
    )
    boot = BootProbe().collect(source).boot
    assert boot is not None
    assert boot.previous_shutdown == expected, boot.previous_shutdown_detail


def test_old_smartctl_without_json_falls_back_to_text() -> None:
    """smartctl before 7.0 rejects --json (exit 1, "UNRECOGNIZED OPTION: json"): the probe
    scans and reads in text, with the text parser, on a real smartctl 5.40 report."""
    rejected = (
        "smartctl 5.40 2010-10-16 r3189 [x86_64-unknown-linux-gnu] (local build)\n"
        "=======> UNRECOGNIZED OPTION: json\n"
    )
    report = (HOSTS_DIR.parent / "smart" / "ata_hd204ui_failing_now_a_smartctl540.txt").read_text()
    source = ScenarioSource(
        "linux",
        {
            "smartctl_scan": Unavailable("smartctl exited with status 1", rejected, 1),
            "smartctl_scan_text": "/dev/sda -d ata # /dev/sda, ATA device\n",
            "smartctl_x.sda.txt": report,
        },
    )
    output = SmartProbe().collect(source)
    assert output.errors == ()
    (device,) = output.smart
    assert (device.device, device.protocol, device.model) == ("/dev/sda", "ATA", "SAMSUNG HD204UI")
    assert device.failed
    assert any(a.when_failed == "FAILING_NOW" for a in device.attributes)


def test_a_smartctl_that_fails_otherwise_does_not_fall_back() -> None:
    source = ScenarioSource(
        "linux", {"smartctl_scan": Unavailable("smartctl exited with status 2", "", 2)}
    )
    output = SmartProbe().collect(source)
    assert [(e.kind, e.message) for e in output.errors] == [
        ("unavailable", "smartctl exited with status 2")
    ]
