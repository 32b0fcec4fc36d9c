"""Driver and device faults: display driver crash loops, devices with a problem code,
USB ports that fail to enumerate, firmware files missing.

Windows faults edit what the drivers probe reads (agent/probes/windows.py drivers()): the
win_events_drivers JSON of Get-WinEvent and the win_pnp_problem_devices JSON of
Win32_PnPEntity. Linux faults write the kernel lines the kernel-log follower classifies
(agent/parsers/kernel_log.py) and, for a missing firmware, the sysfs PCI device list.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterable
from typing import Any

from collector.sim.faults import FaultKind, Files, HostView, Param, register
from collector.sim.faults_net import Lingering, steady_times
from collector.sim.scenario import Fault

WEEK_S = 7 * 86400.0  # Get-WinEvent's default lookback for the drivers domain
MAX_EVENTS = 100  # per filter (agent/specs_windows.py MAX_EVENTS_PER_FILTER)
_EVENT_FILES = ("win_events_boot", "win_events_disk", "win_events_drivers", "win_events_network")


def system_record_base(files: Files) -> int:
    """One above the newest System-log RecordId of the capture's event outputs: the
    simulated events continue the log, so the agent's cursors see them as new."""
    top = 0
    for name in _EVENT_FILES:
        text = files.get(name)
        if not text:
            continue
        try:
            items = json.loads(text)
        except ValueError:
            continue
        for item in items if isinstance(items, list) else [items]:
            if isinstance(item, dict) and item.get("LogName", "System") == "System":
                rid = item.get("RecordId")
                if isinstance(rid, int):
                    top = max(top, rid)
    return top + 1


def add_windows_events(files: Files, name: str, events: list[dict[str, Any]]) -> None:
    """Prepend events (newest first, as Get-WinEvent prints a filter's) to win_events_<x>,
    keeping at most MAX_EVENTS of the same provider and id, as -MaxEvents does."""
    text = files.get(name) or "[]"
    old = json.loads(text)
    old = old if isinstance(old, list) else [old]
    merged: list[dict[str, Any]] = []
    per_filter: dict[tuple[Any, Any], int] = {}
    for item in sorted(events, key=lambda e: -int(e["RecordId"])) + old:
        key = (item.get("ProviderName"), item.get("Id"))
        per_filter[key] = per_filter.get(key, 0) + 1
        if per_filter[key] <= MAX_EVENTS:
            merged.append(item)
    files[name] = json.dumps(merged, separators=(",", ":"))


# Linux GPU hang lines by driver: one hang logs both (drivers/gpu/drm/i915, amdgpu_job.c).
_GPU_HANG_LINES = {
    "i915": (
        "i915 0000:00:02.0: [drm] GPU HANG: ecode 12:1:85dffffb, in gnome-shell [1720]",
        "i915 0000:00:02.0: [drm] Resetting rcs0 for stopped heartbeat on rcs0",
    ),
    "amdgpu": (
        "[drm:amdgpu_job_timedout [amdgpu]] *ERROR* ring gfx_0.0.0 timeout, signaled "
        "seq=48211, emitted seq=48213",
        "amdgpu 0000:03:00.0: amdgpu: GPU reset begin!",
    ),
}


@register
class DisplayDriverCrashLoop(Lingering):
    name = "display_driver_crash_loop"
    doc = (
        "the display driver hangs and is reset `per_hour` times an hour (a bad driver "
        "release). Windows: Display 4101 'Display driver <driver> stopped responding and has "
        "successfully recovered' in the System log (new RecordIds, TimeCreated = simulated "
        "time; they stay in the log after `end`); 3 in 24 h trigger drivers.display_tdr, or "
        "cross.fleet_driver_regression, one incident when 5+ hosts share the driver within "
        "48 h. Linux: i915 'GPU HANG' + 'Resetting rcs0' (or amdgpu ring timeout + GPU reset) "
        "kernel lines; 2 hangs in 24 h trigger drivers.gpu_hang"
    )
    oses = ("windows", "linux")
    params = {
        "per_hour": Param("float", "hangs an hour", required=False, default=1.0),
        "driver": Param(
            "str",
            "Windows: the display driver's service (nvlddmkm, amdkmdag, "
            "igfx); Linux: i915 or amdgpu. Default nvlddmkm / i915",
            required=False,
            default="",
        ),
    }

    def __init__(self, fault: Fault) -> None:
        super().__init__(fault)
        self._bases: dict[str, int] = {}  # agent id -> first RecordId (one instance, many hosts)

    def state(self, t: float, host: HostView) -> Hashable:
        if host.os != "windows":
            return None  # kernel lines only: the outputs do not change
        # A new event enters the log at each occurrence; one leaves the 7-day window too.
        shown = self.occurrences(t, self.p["per_hour"]) - self.occurrences(
            t - WEEK_S, self.p["per_hour"]
        )
        return self.occurrences(t, self.p["per_hour"]), shown

    def apply(self, files: Files, host: HostView, t: float) -> None:
        if host.os != "windows":
            return
        base = self._bases.get(host.spec.agent_id)
        if base is None:
            base = self._bases[host.spec.agent_id] = system_record_base(files)
        driver = self.p["driver"] or "nvlddmkm"
        events = [
            {
                "TimeCreated": f"/Date({host.start_ms + int(when * 1000)})/",
                "Id": 4101,
                "ProviderName": "Display",
                "Level": 3,
                # Grows with time, as a log's RecordIds do, leaving room for other events.
                "RecordId": base + int(when),
                "LogName": "System",
                "Data": {"param1": driver, "param2": ""},
            }
            for when in self.times(t - WEEK_S, t, self.p["per_hour"])
        ]
        if events:
            add_windows_events(files, "win_events_drivers", events)

    def kernel(self, host: HostView, t0: float, t1: float) -> Iterable[tuple[float, str]]:
        if host.os != "linux":
            return
        lines = _GPU_HANG_LINES.get(self.p["driver"] or "i915", _GPU_HANG_LINES["i915"])
        for when in self.times(t0, t1, self.p["per_hour"]):
            yield when, lines[0]
            yield when, lines[1]


@register
class DeviceProblem(FaultKind):
    name = "device_problem"
    doc = (
        "a Windows device reports a problem code (Code 43: 'Windows has stopped this device "
        "because it has reported problems'; Code 10: 'This device cannot start') while the "
        "fault lasts: Win32_PnPEntity lists it with ConfigManagerErrorCode. Code 10 or 43 "
        "for 10 minutes triggers drivers.device_failed"
    )
    oses = ("windows",)
    params = {
        "code": Param("int", "ConfigManagerErrorCode", required=False, default=43),
        "device": Param(
            "str", "the device's name", required=False, default="Intel(R) Wi-Fi 6E AX211 160MHz"
        ),
        "device_id": Param(
            "str",
            "its PNPDeviceID",
            required=False,
            default="PCI\\VEN_8086&DEV_51F1&SUBSYS_00948086&REV_01\\3&11583659&0&A3",
        ),
        "pnp_class": Param("str", "its PNPClass", required=False, default="Net"),
        "service": Param("str", "its driver service", required=False, default="Netwtw14"),
        "manufacturer": Param(
            "str", "its Manufacturer", required=False, default="Intel Corporation"
        ),
    }

    def apply(self, files: Files, host: HostView, t: float) -> None:
        old = json.loads(files.get("win_pnp_problem_devices") or "[]")
        devices = [d for d in (old if isinstance(old, list) else [old])
                   if d.get("PNPDeviceID") != self.p["device_id"]]  # fmt: skip
        devices.insert(
            0,
            {
                "Name": self.p["device"],
                "PNPDeviceID": self.p["device_id"],
                "PNPClass": self.p["pnp_class"],
                "Manufacturer": self.p["manufacturer"],
                "Service": self.p["service"],
                "Status": "Error",
                "ConfigManagerErrorCode": self.p["code"],
                "Present": True,
            },
        )
        files["win_pnp_problem_devices"] = json.dumps(devices, separators=(",", ":"))


@register
class UsbEnumerationErrors(FaultKind):
    name = "usb_enumeration_errors"
    doc = (
        "a USB port keeps failing to enumerate what is plugged in (a bad cable, a dying "
        "device, a dock): 'usb 1-2: device descriptor read/64, error -71' `per_hour` times "
        "an hour. 5 in an hour on the same port trigger drivers.usb_errors (Linux)"
    )
    oses = ("linux",)
    params = {
        "per_hour": Param("float", "failed enumerations an hour", required=False, default=12.0),
        "port": Param("str", "the port path (bus-port)", required=False, default="1-2"),
    }

    def kernel(self, host: HostView, t0: float, t1: float) -> Iterable[tuple[float, str]]:
        for when in steady_times(self.fault, t0, t1, self.p["per_hour"]):
            yield when, f"usb {self.p['port']}: device descriptor read/64, error -71"


@register
class FirmwareMissing(FaultKind):
    name = "firmware_missing"
    doc = (
        "a PCI device's driver cannot load its firmware file at `start` (an image without "
        "the linux-firmware package): 'Direct firmware load for <file> failed with error -2' "
        "in the kernel log, and the device is listed without a bound driver while the fault "
        "lasts. Triggers drivers.firmware_missing (Linux)"
    )
    oses = ("linux",)
    params = {
        "driver": Param("str", "the driver asking", required=False, default="iwlwifi"),
        "firmware": Param(
            "str", "the missing file", required=False, default="iwlwifi-so-a0-gf-a0-86.ucode"
        ),
        "slot": Param("str", "the device's PCI address", required=False, default="0000:00:14.3"),
        "pci_id": Param("str", "vendor:device", required=False, default="8086:51f0"),
    }

    def apply(self, files: Files, host: HostView, t: float) -> None:
        text = files.get("pci_devices")
        if text is None:
            return
        data = json.loads(text)
        devices = data.setdefault("devices", [])
        vendor, _, device = self.p["pci_id"].partition(":")
        mine = next((d for d in devices if d.get("slot") == self.p["slot"]), None)
        if mine is None:
            mine = {"slot": self.p["slot"], "vendor": f"0x{vendor}", "device": f"0x{device}",
                    "class": "0x028000", "subsystem_vendor": f"0x{vendor}",
                    "subsystem_device": "0x0094"}  # fmt: skip
            devices.append(mine)
        mine["driver"] = None  # the probe failed: nothing bound
        files["pci_devices"] = json.dumps(data)

    def kernel(self, host: HostView, t0: float, t1: float) -> Iterable[tuple[float, str]]:
        when = self.fault.start_s
        if t0 < when <= t1:
            p = self.p
            yield (
                when,
                (
                    f"{p['driver']} {p['slot']}: Direct firmware load for {p['firmware']} failed "
                    "with error -2"
                ),
            )
            yield when, f"{p['driver']} {p['slot']}: no suitable firmware found!"
