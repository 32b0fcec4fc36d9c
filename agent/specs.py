"""What the agent reads, as data: one entry per fact, served by any Source.

A spec's `name` is also its file name in a capture folder (see agent/capture.py), so a
`DirectorySource` over a capture answers exactly what the live host answered. Names are
therefore plain file names: `[A-Za-z0-9._-]`, no separators.

| spec    | live source does                              | example                  |
|---------|-----------------------------------------------|--------------------------|
| File    | reads `path` (size-capped)                    | /etc/os-release          |
| Command | runs `argv` with `timeout`, kills it on expiry | smartctl --scan-open     |
| Call    | runs a registered psutil/os function → JSON   | disk_usage, host_facts   |
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name) or name in {"host.toml", "manifest.json"}:
        raise ValueError(f"spec name {name!r} is not a plain file name (or is reserved)")


@dataclass(frozen=True, slots=True)
class File:
    name: str
    path: str

    def __post_init__(self) -> None:
        _check_name(self.name)


@dataclass(frozen=True, slots=True)
class Command:
    """A command run without a shell, in the C locale.

    `ok_exit_mask`: exit-status bits that do not mean failure. None means only 0 is
    success. A status `s` is accepted when `s & ~ok_exit_mask == 0`.
    """

    name: str
    argv: tuple[str, ...]
    timeout: float = 10.0
    ok_exit_mask: int | None = None

    def __post_init__(self) -> None:
        _check_name(self.name)
        if not self.argv:
            raise ValueError(f"{self.name}: empty argv")

    def exit_ok(self, status: int) -> bool:
        if status == 0:
            return True
        return self.ok_exit_mask is not None and status > 0 and status & ~self.ok_exit_mask == 0


@dataclass(frozen=True, slots=True)
class Call:
    """A fact gathered in-process (psutil, os, platform), serialised to JSON text."""

    name: str
    func_name: str

    def __post_init__(self) -> None:
        _check_name(self.name)


Spec = File | Command | Call


# --- the catalogue ---------------------------------------------------------------------

OS_RELEASE = File("os_release", "/etc/os-release")
# os-release(5): /etc/os-release takes precedence; /usr/lib/os-release is the fallback.
OS_RELEASE_USR_LIB = File("os_release_usr_lib", "/usr/lib/os-release")
MACHINE_ID = File("machine_id", "/etc/machine-id")

HOST_FACTS = Call("host_facts", "host_facts")
DISK_USAGE = Call("disk_usage", "disk_usage")

# smartctl(8) EXIT STATUS is a bit mask. Bit 0: command line did not parse; bit 1: device
# open failed (or in low-power mode with -n). Bits 2-7 are findings about the disk (a SMART
# command failed, DISK FAILING, prefail attributes at threshold, error log entries,
# self-test errors) and the JSON document is complete - those are data, not failures.
# https://www.smartmontools.org/browser/trunk/smartmontools/smartctl.8.in
SMARTCTL_OK_EXIT_MASK = 0xFC

SMARTCTL_SCAN = Command(
    "smartctl_scan", ("smartctl", "--scan-open", "--json"), 30.0, SMARTCTL_OK_EXIT_MASK
)


def smartctl_x(device: str, dev_type: str = "") -> Command:
    """`smartctl --json -x` for one device from the scan, named e.g. `smartctl_x.sda`.

    `--nocheck=standby` keeps a spun-down disk asleep (smartctl then exits with status 2,
    reported as unavailable) - polling must not wake disks. `-d <type>` repeats what the
    scan found, which matters behind RAID controllers (`/dev/bus/0 -d megaraid,3`).
    """
    argv = ["smartctl", "--json", "-x", "--nocheck=standby"]
    if dev_type:
        argv += ["-d", dev_type]
    argv.append(device)
    return Command(smartctl_x_name(device, dev_type), tuple(argv), 30.0, SMARTCTL_OK_EXIT_MASK)


def smartctl_x_name(device: str, dev_type: str = "") -> str:
    """`/dev/sda` → `smartctl_x.sda`; `/dev/bus/0` + `megaraid,3` → `smartctl_x.bus_0.megaraid_3`.

    The type is only kept when it selects one disk among several behind one name (it has a
    comma); plain `sat`/`nvme`/`scsi` would just make capture names harder to guess.
    """
    base = device.removeprefix("/dev/")
    if "," in dev_type:
        base += "." + dev_type
    return "smartctl_x." + re.sub(r"[^A-Za-z0-9._-]", "_", base).strip("._")
