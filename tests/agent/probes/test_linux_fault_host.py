"""Every Linux probe and the kernel-log replay on sim-linux-laptop-faults: the real Debian 12
VM capture with a failing SATA SSD, a degraded mirror, a read-only root, a dead LAN and a
DHCP-less Wi-Fi, tainting and driverless hardware, and a previous boot that panicked
(tests/fixtures/hosts/sim-linux-laptop-faults/FAULTS.md lists every injected line)."""

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from agent.follow import SourceReader, to_event
from agent.parsers import kernel_crash, kernel_tainted
from agent.probes import (
    PROBES,
    BootProbe,
    DiskProbe,
    DriversProbe,
    InventoryProbe,
    NetworkProbe,
    Probe,
    SmartProbe,
)
from agent.records import (
    CrashReport,
    DnsCheck,
    GatewayCheck,
    InventoryDisk,
    RaidArray,
    Severity,
    SmartDevice,
)
from agent.runner import collect
from agent.sources import DirectorySource
from agent.specs import (
    KMSG_DUMP,
    PREVIOUS_BOOT_KERNEL,
    SMARTCTL_OK_EXIT_MASK,
    Call,
    Command,
    File,
    Spec,
    dns_checks,
    ping,
    smartctl_x,
)

HOST = Path(__file__).resolve().parents[2] / "fixtures" / "hosts" / "sim-linux-laptop-faults"
SOURCE = DirectorySource(HOST)
BOOT_ID = "20b1fc2b-236e-4288-8418-d8fd4483deb8"
BOOT_TIME_MS = 1796152201 * 1000
PANIC_TITLE = "BUG: unable to handle kernel paging request in rtR0MemObjLinuxFreePages"
# The specs found while collecting (not listed by Probe.specs): the scan's two disks, the
# ping of the gateway whose ARP entry is incomplete, the DNS call.
DYNAMIC_SPECS: tuple[Spec, ...] = (
    smartctl_x("/dev/sda", "sat"),
    smartctl_x("/dev/sdb", "sat"),
    ping("192.0.2.1", "eth0"),
    dns_checks(("127.0.0.1",), (), 2.0),
)


def _manifest() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((HOST / "manifest.json").read_text("utf-8"))
    return doc


@pytest.mark.parametrize("probe", PROBES, ids=[p.name for p in PROBES])
def test_every_probe_reads_the_host_without_errors_or_warnings(probe: Probe) -> None:
    output = probe.collect(SOURCE)
    assert (output.errors, output.warnings) == ((), ())


def test_manifest_matches_the_spec_catalogue() -> None:
    """Each entry a probe reads is described as its spec is (argv, path, call), its bytes
    are the file's, and a command's recorded exit status is one the spec accepts."""
    doc = _manifest()
    manifest: dict[str, dict[str, object]] = doc["specs"]
    wanted = [s for p in PROBES for s in p.specs("linux")] + [KMSG_DUMP, *DYNAMIC_SPECS]
    for spec in wanted:
        entry = manifest[spec.name]
        match spec:
            case Command():
                assert (entry["type"], entry["argv"], entry["timeout"]) == (
                    "command",
                    list(spec.argv),
                    spec.timeout,
                ), spec.name
                if entry["status"] == "ok":
                    status = entry["exit_status"]
                    assert isinstance(status, int) and spec.exit_ok(status), spec.name
            case File():
                assert (entry["type"], entry["path"]) == ("file", spec.path), spec.name
            case Call():
                assert (entry["type"], entry["func"]) == ("call", spec.func_name), spec.name
    for name, entry in manifest.items():
        path = HOST / name
        if entry["status"] == "ok":
            assert entry["bytes"] == path.stat().st_size, name
            assert "reason" not in entry, name
        else:
            assert not path.exists(), name
    assert (doc["hostname"], doc["os"], doc["redacted"]) == ("ws-eng-laptop-12", "linux", False)
    assert doc["unavailable"] == ["chronyc_tracking", "resolvectl_status"]


def test_inventory_lists_both_sata_ssds() -> None:
    inventory = InventoryProbe().collect(SOURCE).inventory
    assert inventory is not None
    assert (inventory.hostname, inventory.machine_id, inventory.vendor) == (
        "ws-eng-laptop-12",
        "7c2e9a41d3f84b6f9e05b1c8a2d47f63",
        "LENOVO 21AHCTO1WW",
    )
    # zram0 and the md0 array are in lsblk but are not physical disks.
    assert inventory.disks == (
        InventoryDisk("vda", "", "", 274877906944, True, ""),
        InventoryDisk(
            "sda", "Samsung SSD 860 EVO 500GB", "S3Z1NB0K123456X", 500107862016, False, "sata"
        ),
        InventoryDisk(
            "sdb", "Samsung SSD 870 EVO 250GB", "S6PENU0W123789Z", 250059350016, False, "sata"
        ),
    )


def test_disk_read_only_root_full_home_and_degraded_mirror() -> None:
    out = DiskProbe().collect(SOURCE)
    volumes = {v.mount: v for v in out.volumes}
    assert [(v.mount, v.device, v.read_only) for v in out.volumes] == [
        ("/", "/dev/sda2", True),
        ("/boot/efi", "/dev/sda1", False),
        ("/home", "/dev/sda3", False),
        ("/srv/vms", "/dev/md0", False),
    ]
    home = volumes["/home"]
    assert (home.total_bytes, home.used_bytes, home.free_bytes) == (
        48_000_000 * 4096,
        43_776_000 * 4096,
        1_824_000 * 4096,
    )
    assert round(home.used_pct, 1) == 96.0
    assert out.raid == (
        RaidArray(
            name="md0",
            level="raid1",
            state="active",
            devices_total=2,
            devices_active=1,
            failed_devices=("sdb1",),
            degraded=True,
        ),
    )
    io = {d.device: d for d in out.disk_io}
    assert list(io) == ["sda", "sdb", "vda", "md0"]  # partitions, loop and zram left out
    assert (io["sda"].reads, io["sda"].read_ms, io["sda"].writes, io["sda"].io_ms) == (
        84213,
        91544,
        40127,
        61380,
    )


def test_smart_failing_ssd_and_a_healthy_one_behind_a_bad_link() -> None:
    out = SmartProbe().collect(SOURCE)
    assert [(d.device, d.failed) for d in out.smart] == [("/dev/sda", True), ("/dev/sdb", False)]
    disk, mirror = out.smart
    expected = SmartDevice(
        device="/dev/sda",
        protocol="ATA",
        model="Samsung SSD 860 EVO 500GB",
        serial="S3Z1NB0K123456X",
        firmware="RVT04B6Q",
        health_known=True,
        health_passed=False,
        temperature_c=38,
        power_on_hours=14212,
        reallocated_sectors=1024,
        pending_sectors=12,
        offline_uncorrectable=12,
        smartctl_exit_status=72,
        reported_uncorrect=31,
        udma_crc_errors=0,
        ata_error_count=31,
        attributes=disk.attributes,
    )
    assert disk == expected
    raw = {a.id: a.raw for a in disk.attributes}
    assert {i: raw[i] for i in (5, 187, 197, 198, 199)} == {
        5: 1024,
        187: 31,
        197: 12,
        198: 12,
        199: 0,
    }
    assert not any(a.when_failed for a in disk.attributes)  # the drive's verdict, no attribute
    # 72 = 8 (DISK FAILING) | 64 (error log has entries): findings, not a failed command.
    assert disk.smartctl_exit_status & ~SMARTCTL_OK_EXIT_MASK == 0
    # The mirror's second SSD: PASSED, but its link corrupts frames (UDMA CRC errors, and
    # the ICRC aborts in its error log set exit bit 6).
    assert (mirror.health_known, mirror.udma_crc_errors, mirror.ata_error_count) == (True, 1184, 23)
    assert (mirror.reallocated_sectors, mirror.pending_sectors, mirror.smartctl_exit_status) == (
        0,
        0,
        64,
    )


def test_network_dead_lan_apipa_wifi_and_failing_dns() -> None:
    out = NetworkProbe().collect(SOURCE)
    nics = {i.name: i for i in out.interfaces}
    eth0, wlan0 = nics["eth0"], nics["wlan0"]
    assert (eth0.oper_state, eth0.carrier, eth0.admin_up, eth0.carrier_changes) == (
        "down",
        False,
        True,
        14,
    )
    assert not eth0.apipa
    assert (wlan0.kind, wlan0.oper_state, wlan0.carrier, wlan0.wifi_signal_dbm) == (
        "wifi",
        "up",
        True,
        -78,
    )
    assert wlan0.addresses == ("169.254.23.7/16", "fe80::5a2e:91c4:7b0d:e613/64")
    assert wlan0.apipa and not wlan0.dhcp
    defaults = [
        (r.gateway, r.interface, r.family) for r in out.routes if r.destination == "default"
    ]
    assert defaults == [("192.0.2.1", "eth0", 4), ("fd00::1", "eth0", 6)]
    # The ARP entry is incomplete (flags 0x0), so the probe pinged: 100 % loss.
    assert out.gateway_checks == (
        GatewayCheck("192.0.2.1", "eth0", False, "ping", 0.0, "no reply"),
    )
    assert out.dns is not None and out.dns.servers == ("127.0.0.1",)
    assert out.dns_checks == (
        DnsCheck("deb.debian.org", "127.0.0.1", "timeout", 0.0, 0, "no answer in 2 s"),
        DnsCheck("pypi.org", "127.0.0.1", "servfail", 0.38, 0, ""),
    )
    assert out.time_sync is not None
    assert (out.time_sync.known, out.time_sync.synchronized, out.time_sync.source) == (
        True,
        False,
        "timedatectl",
    )


def test_drivers_unsigned_module_taint_driverless_nic_aer_and_edac() -> None:
    out = DriversProbe().collect(SOURCE)
    assert [(d.name, d.provider) for d in out.drivers if not d.signed] == [
        ("vboxdrv", "out-of-tree")
    ]
    assert len(out.drivers) == 13
    assert out.kernel_taint == 12288
    assert kernel_tainted.flags(out.kernel_taint) == ("O", "E")
    devices = {d.id: d for d in out.devices}
    assert [(d.id, d.name, d.problem) for d in out.devices if d.problem] == [
        ("0000:00:1f.6", "8086:1a1c (network)", "no driver bound"),
        ("edac/mc0", "Intel_client_SoC MC#0", "memory errors on mc#0channel#0slot#0: 3 CE, 0 UE"),
    ]
    assert devices["0000:00:1f.6"].driver == ""
    counted = {d.id: (d.corrected_errors, d.uncorrected_errors) for d in out.devices}
    assert {k: v for k, v in counted.items() if v != (0, 0)} == {
        "0000:05:00.0": (57, 0),  # RxErr 51 + BadTLP 6 on the Wi-Fi card
        "edac/mc0": (3, 0),
    }
    assert devices["0000:05:00.0"].driver == "iwlwifi"


def test_boot_degraded_unclean_and_crashed() -> None:
    boot = BootProbe().collect(SOURCE).boot
    assert boot is not None
    assert (boot.boot_id, boot.boot_time_unix) == (BOOT_ID, 1796152201)
    assert (boot.system_state, boot.emergency_mode) == ("degraded", False)
    assert boot.failed_units == ("NetworkManager-wait-online.service", "apt-daily.service")
    assert boot.boot_duration_s == 48.213
    assert boot.previous_shutdown == "unclean"
    assert boot.previous_shutdown_detail == (
        "journal ends without a shutdown: 2026-12-01T18:30:55Z kernel: "
        "Kernel panic - not syncing: Fatal exception"
    )
    # The panic follows an oops: one report of the oops's kind, marked as panicked.
    assert boot.crashes == (
        CrashReport("journal", "oops", 0, PANIC_TITLE, module="vboxdrv", panicked=True),
        CrashReport(
            "pstore",
            "oops",
            1796149855000,
            PANIC_TITLE,
            module="vboxdrv",
            path="/sys/fs/pstore/dmesg-efi-179614985501000",
            panicked=True,
        ),
    )


def test_both_crash_records_hold_the_same_panic() -> None:
    journal = SOURCE.read(PREVIOUS_BOOT_KERNEL)
    crash_dirs = json.loads((HOST / "crash_dirs").read_text("utf-8"))
    (pstore,) = [d for d in crash_dirs["dirs"] if d["root"] == "/sys/fs/pstore"]
    # efi-pstore splits the dump: Part1 holds the newest lines, so it is read last.
    parts = sorted(pstore["files"], key=lambda f: f["name"], reverse=True)
    assert [p["text"].splitlines()[0] for p in parts] == ["Panic#1 Part2", "Panic#1 Part1"]
    for text in (journal, "\n".join(p["text"] for p in parts)):
        (crash,) = kernel_crash.find(text).value
        assert (crash.kind, crash.title, crash.function, crash.module, crash.panicked) == (
            "oops",
            PANIC_TITLE,
            "rtR0MemObjLinuxFreePages",
            "vboxdrv",
            True,
        )
        assert crash.offset_ms == 38911402


KERNEL_EVENTS = [
    "driver.probe_failed",  # e1000e: probe of 0000:00:1f.6 failed with error -5
    "driver.firmware_missing",  # iwlwifi-cc-a0-77.ucode, -2 (the driver falls back to -72)
    "driver.taint",  # vboxdrv: loading out-of-tree module taints kernel.
    "driver.taint",  # vboxdrv: module verification failed: signature and/or required key missing
    "driver.edac",  # EDAC MC0: 1 CE (three in all)
    "driver.pcie_aer",  # Correctable, Physical Layer, on the Wi-Fi card
    "driver.edac",
    "disk.ata_error",  # ata2.00: exception Emask 0x10 ... frozen (the mirror's second SSD)
    "disk.ata_error",  # ata2: SError: { UnrecovData Handshk }
    "disk.ata_error",  # ata2.00: failed command: WRITE FPDMA QUEUED
    "disk.ata_error",  # ata2: limiting SATA link speed to 1.5 Gbps
    "disk.ata_error",  # ata2: hard resetting link
    "disk.io_error",  # sdb, sector 2056 (the md superblock), WRITE
    "disk.md_degraded",  # md/raid1:md0: Disk failure on sdb1
    "driver.gpu_reset",  # [drm] Resetting rcs0 for preemption time out
    "driver.gpu_reset",  # [drm] GPU HANG: ecode 12:1:85dffffb
    "driver.edac",
    "disk.ata_error",  # ata1.00: exception Emask
    "disk.ata_error",  # ata1.00: failed command: READ FPDMA QUEUED
    "disk.ata_error",  # ata1.00: error: { UNC }
    "disk.medium_error",  # sd 0:0:0:0: [sda] Sense Key : Medium Error
    "disk.io_error",  # blk_update_request: I/O error, dev sda, sector 123456
    "disk.fs_error",  # EXT4-fs error (device sda2)
    "disk.fs_error",  # Aborting journal on device sda2-8.
    "disk.remount_ro",  # EXT4-fs (sda2): Remounting filesystem read-only
]


def test_kernel_log_replay_gives_the_injected_events_in_order() -> None:
    reader = SourceReader(SOURCE, BOOT_ID, BOOT_TIME_MS, after_seq=-1)
    entries = reader.poll(0.0)
    events = [e for e in map(to_event, entries) if e is not None]
    assert [e.kind for e in events] == KERNEL_EVENTS
    by_kind = {e.kind: e for e in events}  # the last of each kind
    io = by_kind["disk.io_error"]
    assert {k: io.fields[k] for k in ("device", "sector", "op")} == {
        "device": "sda",
        "sector": "123456",
        "op": "READ",
    }
    assert io.time_ms == BOOT_TIME_MS + 1802313  # usec 1802313085 after boot
    remount = by_kind["disk.remount_ro"]
    assert (remount.severity, remount.fields["device"], remount.fields["fs"]) == (
        Severity.CRITICAL,
        "sda2",
        "ext4",
    )
    assert by_kind["disk.fs_error"].fields["device"] == "sda2"
    assert (
        by_kind["disk.md_degraded"].fields["array"],
        by_kind["disk.md_degraded"].fields["device"],
    ) == (
        "md0",
        "sdb1",
    )
    assert by_kind["driver.firmware_missing"].fields["firmware"] == "iwlwifi-cc-a0-77.ucode"
    assert by_kind["driver.taint"].fields["module"] == "vboxdrv"
    aer = by_kind["driver.pcie_aer"]
    assert (aer.fields["severity"], aer.fields["device"]) == ("corrected", "0000:05:00.0")
    assert by_kind["driver.gpu_reset"].fields["driver"] == "i915"
    # The replay hands out every record once, then nothing.
    assert entries[-1].cursor == f"{BOOT_ID}:{len(entries) - 1}"
    assert reader.poll(0.0) == []


def test_collect_replays_the_host_without_errors_or_warnings() -> None:
    got = asyncio.run(collect(SOURCE, PROBES, timeout_s=30, clock_ms=lambda: 1, agent_version="t"))
    assert (got.snapshot.errors, got.snapshot.warnings) == ((), ())
    assert got.snapshot.boot is not None and len(got.snapshot.boot.crashes) == 2
