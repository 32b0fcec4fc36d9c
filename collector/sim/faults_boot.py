"""Boot faults: unclean shutdowns, kernel panics, blue screens (edits of what the boot
probe reads: boot_id, host_facts and the previous boot's journal on Linux; the boot events
of win_events_boot and LastBootUpTime on Windows).

Each crash is followed by a reboot DOWN_S later; the host reports the new boot from
VISIBLE_S after the crash (the agent runs again once the machine is back up), and its
state key is the number of crashes it reports, so it changes only at a reboot.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Hashable
from datetime import UTC, datetime
from typing import Any

from collector.engine.lang import duration_ms
from collector.sim.faults import FaultKind, Files, HostView, Param, register
from collector.sim.faults_disk import dump_events, event_ms, max_record_id, newest_first, win_event
from collector.sim.scenario import Fault

DOWN_S = 60.0  # from the crash to the next boot (LastBootUpTime, the kernel's boot time)
VISIBLE_S = 180.0  # from the crash to the first collection that sees the new boot
SYSTEM = "System"
PERF_LOG = "Microsoft-Windows-Diagnostics-Performance/Operational"
_WHEN = {
    "per_day": Param("float", "crashes per day, the first at the fault's start", False),
    "at": Param("list", "run times of the crashes (1h, 30h); default: once, at the start", False),
}


class _Crashes(FaultKind):
    """The crash schedule shared by the boot kinds: `at` times, else `per_day`, else one."""

    def __init__(self, fault: Fault) -> None:
        super().__init__(fault)
        start, end = fault.start_s, fault.end_s
        self.period = 86400.0
        if self.p["at"]:
            try:
                times = sorted(duration_ms(str(a)) / 1000 for a in self.p["at"])
            except ValueError as exc:
                raise ValueError(f"{self.name}: at: {exc}") from None
            times = [t for t in times if t >= start and (end is None or t < end)]
        elif self.p["per_day"]:
            self.period = 86400 / self.p["per_day"]
            times = []  # computed on demand: the schedule has no end without `end`
        else:
            times = [start]
        self.times = times

    def crash_time(self, k: int) -> float:
        """Run time of the k-th crash (0-based)."""
        if self.times or not self.p["per_day"]:
            return self.times[k]
        return float(self.fault.start_s + k * self.period)

    def crashes(self, t: float) -> int:
        """How many crashes the host reports at t (rebooted and running again)."""
        seen = t - VISIBLE_S
        if self.times or not self.p["per_day"]:
            return sum(1 for c in self.times if c <= seen)
        start, end = self.fault.start_s, self.fault.end_s
        if seen < start:
            return 0
        last = seen if end is None else min(seen, math.nextafter(end, 0))
        return int(math.floor((last - start) / self.period)) + 1

    def state(self, t: float, host: HostView) -> Hashable:
        return self.crashes(t)

    def active(self, t: float) -> bool:
        # A crash's traces outlive the fault's end: the reboot happened.
        return self.crashes(t) > 0

    def apply(self, files: Files, host: HostView, t: float) -> None:
        n = self.crashes(t)
        if n == 0:
            return
        if host.os == "linux":
            self._linux(files, host, n)
        elif host.os == "windows":
            self._windows(files, host, n)

    # --- Linux ------------------------------------------------------------------------

    def _linux(self, files: Files, host: HostView, n: int) -> None:
        crash = self.crash_time(n - 1)
        boot_ms = host.start_ms + int((crash + DOWN_S) * 1000)
        if n == 1:
            prev_id = files.get("boot_id", "").strip().replace("-", "") or _boot_id(host, 0)
            prev_ms = host.boot_time_ms
        else:
            prev_id = _boot_id(host, n - 1)
            prev_ms = host.start_ms + int((self.crash_time(n - 2) + DOWN_S) * 1000)
        crash_ms = host.start_ms + int(crash * 1000)
        files["boot_id"] = str(uuid.UUID(_boot_id(host, n))) + "\n"
        if "host_facts" in files:
            facts = json.loads(files["host_facts"])
            facts["boot_time"] = boot_ms / 1000
            files["host_facts"] = json.dumps(facts, indent=1) + "\n"
        files["journal_boots"] = json.dumps(
            [
                {"index": -1, "boot_id": prev_id, "first_entry": prev_ms * 1000,
                 "last_entry": crash_ms * 1000},
                {"index": 0, "boot_id": _boot_id(host, n), "first_entry": boot_ms * 1000,
                 "last_entry": boot_ms * 1000 + 30_000_000},
            ],
            separators=(",", ":"),
        )  # fmt: skip
        hostname = host.spec.hostname
        tail = [
            (
                crash_ms - 1_800_000,
                "CRON",
                "6",
                "(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)",
            ),
            (
                crash_ms - 600_000,
                "NetworkManager",
                "6",
                "<info>  [0.0000] manager: NetworkManager state is now CONNECTED_GLOBAL",
            ),
            (crash_ms - 120_000, "systemd", "6", "Started anacron.service - Run anacron jobs."),
            (
                crash_ms - 5_000,
                "gnome-shell",
                "4",
                "Window manager warning: last_user_time is later than now",
            ),
            *self.last_words(crash_ms),
        ]
        files["journal_previous_tail"] = (
            "\n".join(
                _journal_entry(hostname, prev_id, prev_ms, i, *entry)
                for i, entry in enumerate(tail)
            )
            + "\n"
        )
        files["journal_previous_kernel"] = self.previous_kernel(hostname, crash_ms - prev_ms)

    def last_words(self, crash_ms: int) -> list[tuple[int, str, str, str]]:
        """The previous boot's final journal entries: (ms, identifier, priority, message)."""
        return []

    def previous_kernel(self, hostname: str, offset_ms: int) -> str:
        """journalctl -b -1 -k -p 0..4 -o short-monotonic of the previous boot."""
        return "-- No entries --\n"

    # --- Windows ----------------------------------------------------------------------

    def _windows(self, files: Files, host: HostView, n: int) -> None:
        text = files.get("win_events_boot")
        if text is None:
            return
        events: list[dict[str, Any]] = json.loads(text.lstrip("\ufeff") or "[]")
        system = max_record_id(events, SYSTEM, host.start_ms)
        perf = max_record_id(events, PERF_LOG, host.start_ms)
        template = _perf_template(events, host.start_ms)
        added: list[dict[str, Any]] = []
        for k in range(n):
            crash = self.crash_time(k)
            boot = crash + DOWN_S
            rid = system + 1 + int(crash) * 10  # ten per second of run time: never reused
            added += [
                win_event(host, boot + 25, 41, "Microsoft-Windows-Kernel-Power", 1, rid, SYSTEM,
                          self.kernel_power(k)),
                win_event(host, boot + 34, 6005, "EventLog", 4, rid + 1, SYSTEM, {}),
                win_event(host, boot + 35, 6008, "EventLog", 2, rid + 2, SYSTEM,
                          _dirty_data(host.start_ms + int(crash * 1000))),
                *self.reports(host, k, boot, rid + 3),
            ]  # fmt: skip
            if template is not None:
                data = dict(template["Data"])
                data.update(BootStartTime=_iso(host.start_ms + int(boot * 1000)),
                            BootEndTime=_iso(host.start_ms + int((boot + 40) * 1000)))  # fmt: skip
                added.append(
                    win_event(
                        host,
                        boot + 90,
                        100,
                        template["ProviderName"],
                        int(template.get("Level", 3)),
                        perf + 1 + k,
                        PERF_LOG,
                        data,
                    )
                )
        files["win_events_boot"] = dump_events(newest_first(added, events))
        inventory = files.get("win_inventory")
        if inventory is not None:
            boot_ms = host.start_ms + int((self.crash_time(n - 1) + DOWN_S) * 1000)
            doc = json.loads(inventory.lstrip("\ufeff"))
            os_info = doc.get("OperatingSystem")
            if isinstance(os_info, dict) and "LastBootUpTime" in os_info:
                os_info["LastBootUpTime"] = f"/Date({boot_ms})/"
                files["win_inventory"] = dump_events(doc)

    def kernel_power(self, k: int) -> dict[str, str]:
        """Kernel-Power 41's data: no bug check, power button not pressed (power loss)."""
        return _kernel_power("0", ("0x0", "0x0", "0x0", "0x0"))

    def reports(self, host: HostView, k: int, boot: float, rid: int) -> list[dict[str, Any]]:
        """Events written after the reboot besides 41/6005/6008 (the bug check report)."""
        return []


@register
class UncleanShutdown(_Crashes):
    """The host loses power (or hangs and is switched off) and boots again, without a crash
    report. Linux: a new boot (boot_id, host_facts boot_time) whose previous boot's journal
    (journal_previous_tail) just stops, with no shutdown sequence, and no kernel crash in
    journal_previous_kernel; journal_boots lists both boots. Rule boot.unclean_shutdown
    (one finding per host while the last boot ended so). Windows: Kernel-Power 41
    (BugcheckCode 0, PowerButtonTimestamp 0), EventLog 6005 and 6008 and a Diagnostics-
    Performance 100 in win_events_boot, LastBootUpTime moved; rule boot.unexpected_shutdown
    at the second within 7 days.
    """

    name = "unclean_shutdown"
    doc = "the host loses power or hangs hard and boots again, without a crash report"
    oses = ("linux", "windows")
    params = dict(_WHEN)


_PANIC_FUNCTION = "iwl_mvm_rx_mpdu+0x1f2/0x890 [iwlmvm]"


@register
class KernelPanic(_Crashes):
    """The Linux kernel oopses and panics, and the host boots again: the previous boot's
    journal ends with the panic and journal_previous_kernel has the oops report (a NULL
    pointer dereference in iwlmvm), as journalctl -b -1 shows it. Rule boot.kernel_panic
    (one per crash title), which absorbs boot.unclean_shutdown.
    """

    name = "kernel_panic"
    doc = "the Linux kernel panics (an oops in a driver) and the host boots again"
    oses = ("linux",)
    params = dict(_WHEN)

    def last_words(self, crash_ms: int) -> list[tuple[int, str, str, str]]:
        return [
            (
                crash_ms - 40,
                "kernel",
                "1",
                "BUG: kernel NULL pointer dereference, address: 0000000000000008",
            ),
            (crash_ms - 38, "kernel", "1", "Oops: 0000 [#1] PREEMPT SMP NOPTI"),
            (crash_ms - 30, "kernel", "4", f"RIP: 0010:{_PANIC_FUNCTION}"),
            (crash_ms, "kernel", "0", "Kernel panic - not syncing: Fatal exception in interrupt"),
        ]

    def previous_kernel(self, hostname: str, offset_ms: int) -> str:
        s = offset_ms / 1000
        lines = [
            (s - 0.040, "BUG: kernel NULL pointer dereference, address: 0000000000000008"),
            (s - 0.040, "#PF: supervisor read access in kernel mode"),
            (s - 0.040, "#PF: error_code(0x0000) - not-present page"),
            (s - 0.038, "Oops: 0000 [#1] PREEMPT SMP NOPTI"),
            (
                s - 0.038,
                "CPU: 3 PID: 0 Comm: swapper/3 Not tainted 6.1.0-21-amd64 #1  Debian 6.1.90-1",
            ),
            (s - 0.030, f"RIP: 0010:{_PANIC_FUNCTION}"),
            (s - 0.030, "Call Trace:"),
            (s - 0.030, " <IRQ>"),
            (s - 0.030, " iwl_pcie_rx_handle+0x3a7/0x8d0 [iwlwifi]"),
            (s - 0.030, " iwl_pcie_napi_poll_msix+0x32/0xf0 [iwlwifi]"),
            (s - 0.030, " __napi_poll+0x2b/0x160"),
            (s - 0.030, " </IRQ>"),
            (s - 0.020, "---[ end trace 0000000000000000 ]---"),
            (s, "Kernel panic - not syncing: Fatal exception in interrupt"),
        ]
        return "".join(f"[{when:12.6f}] {hostname} kernel: {text}\n" for when, text in lines)


@register
class Bugcheck(_Crashes):
    """Windows stops with a blue screen and reboots: Kernel-Power 41 with the BugcheckCode,
    EventLog 6005/6008, and (with `dump`) the WER-SystemErrorReporting 1001 report with the
    stop code, its parameters and the minidump. Rule boot.bugcheck (component: the stop
    code); without the dump, boot.crash_dump_missing two hours later too.
    """

    name = "bugcheck"
    doc = "Windows crashes with a blue screen (bug check) and reboots"
    oses = ("windows",)
    params = {
        **_WHEN,
        "stop_code": Param(
            "str", "the bug check code, such as 0x9f or 0x0000009f", False, "0x0000009f"
        ),  # fmt: skip
        "dump": Param("bool", "Windows wrote a dump and its BugCheck 1001 report", False, True),
    }

    def __init__(self, fault: Fault) -> None:
        super().__init__(fault)
        self._code()  # a stop code that is not hex fails when the scenario loads

    def _code(self) -> int:
        try:
            return int(self.p["stop_code"], 16)
        except ValueError:
            raise ValueError(f"bugcheck: stop_code {self.p['stop_code']!r} is not hex") from None

    def _params(self, k: int) -> tuple[str, str, str, str]:
        seed = hashlib.sha256(f"{self.fault.line}:{k}".encode()).hexdigest()
        return (
            "0x3",
            f"0xffffb90f{seed[:8]}",
            f"0xfffff805{seed[8:16]}",
            f"0xffffb90f{seed[16:24]}",
        )

    def kernel_power(self, k: int) -> dict[str, str]:
        return _kernel_power(str(self._code()), self._params(k))

    def reports(self, host: HostView, k: int, boot: float, rid: int) -> list[dict[str, Any]]:
        if not self.p["dump"]:
            return []
        params = ", ".join(f"0x{int(p, 16):016x}" for p in self._params(k))
        day = datetime.fromtimestamp(host.start_ms / 1000 + boot, UTC).strftime("%m%d%y")
        data = {
            "param1": f"0x{self._code():08x} ({params})",
            "param2": f"C:\\WINDOWS\\Minidump\\{day}-{11734 + k}-01.dmp",
            "param3": str(uuid.UUID(hashlib.md5(f"{host.spec.agent_id}:{k}".encode()).hexdigest())),
        }
        return [win_event(host, boot + 75, 1001, "Microsoft-Windows-WER-SystemErrorReporting", 2,
                          rid, SYSTEM, data)]  # fmt: skip


def _boot_id(host: HostView, n: int) -> str:
    """The n-th simulated boot's id (32 hex digits, as journalctl prints it)."""
    return hashlib.sha256(f"{host.spec.agent_id}:boot:{n}".encode()).hexdigest()[:32]


def _journal_entry(
    hostname: str, boot_id: str, boot_ms: int, i: int, when_ms: int, ident: str, priority: str,
    message: str,
) -> str:  # fmt: skip
    entry = {
        "__REALTIME_TIMESTAMP": str(when_ms * 1000),
        "__MONOTONIC_TIMESTAMP": str(max(0, when_ms - boot_ms) * 1000),
        "_BOOT_ID": boot_id,
        "PRIORITY": priority,
        "_TRANSPORT": "kernel" if ident == "kernel" else "syslog",
        "SYSLOG_IDENTIFIER": ident,
        "_HOSTNAME": hostname,
        "MESSAGE": message,
        "__CURSOR": f"s=0;i={1000 + i};b={boot_id}",
    }
    return json.dumps(entry, separators=(",", ":"))


def _kernel_power(code: str, params: tuple[str, str, str, str]) -> dict[str, str]:
    return {
        "BugcheckCode": code,
        **{f"BugcheckParameter{i}": p for i, p in enumerate(params, 1)},
        "SleepInProgress": "0",
        "PowerButtonTimestamp": "0",
        "BootAppStatus": "0",
        "Checkpoint": "0",
        "ConnectedStandbyInProgress": "false",
        "SystemSleepTransitionsToOn": "0",
        "CsEntryScenarioInstanceId": "0",
        "BugcheckInfoFromEFI": "true" if code != "0" else "false",
        "CheckpointStatus": "0",
        "LongPowerButtonPressDetected": "false",
    }


def _dirty_data(crash_ms: int) -> dict[str, str]:
    # EventLog 6008 "The previous system shutdown at 5:47:12 PM on 11/20/2026 was
    # unexpected.": the last sign of life in local time (UTC here), en-US format.
    when = datetime.fromtimestamp(crash_ms / 1000, UTC)
    hour = when.hour % 12 or 12
    return {
        "param1": f"{hour}:{when:%M:%S} {'AM' if when.hour < 12 else 'PM'}",
        "param2": f"{when.month}/{when.day}/{when.year}",
        **{f"param{i}": "" for i in (3, 4, 6, 7)},
        "param5": "36",
    }


def _perf_template(events: list[dict[str, Any]], start_ms: int) -> dict[str, Any] | None:
    """The capture's newest Diagnostics-Performance 100 of a boot that was not degraded."""
    normal = [
        e for e in events
        if e.get("Id") == 100 and e.get("LogName") == PERF_LOG and event_ms(e) < start_ms
        and isinstance(e.get("Data"), dict) and e["Data"].get("BootIsDegradation") != "true"
    ]  # fmt: skip
    return max(normal, key=event_ms, default=None)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
