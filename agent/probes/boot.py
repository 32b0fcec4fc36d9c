"""Boot and shutdown: this boot's id, time and duration, whether the previous shutdown
was clean, crashes the host kept (pstore, /var/crash, the previous boot's journal),
failed units and emergency mode.

Linux reads systemd (is-system-running, failed units, systemd-analyze), the journal
(the list of boots, the previous boot's last lines and its kernel errors) and the crash
folders. Hosts without systemd or a persistent journal say so as "unavailable" errors
and still report the boot id and time. Windows: Kernel-Power 41, EventLog 6008, BugCheck
1001 and boot performance events; macOS: panic reports and the previous shutdown cause.
"""

from __future__ import annotations

import dataclasses

from agent.parsers import (
    crash_dirs_json,
    host_facts_json,
    journal_shutdown,
    journalctl_boots,
    kernel_crash,
    systemctl_units_json,
    systemd_analyze,
)
from agent.parsers.journalctl_boots import BootEntry
from agent.probes.base import DEFAULT_CONTEXT, Gather, ProbeContext, ProbeOutput
from agent.records import BootInfo, CrashReport
from agent.sources import Source
from agent.specs import (
    BOOT_ID,
    CRASH_DIRS,
    FAILED_UNITS,
    HOST_FACTS,
    LIST_BOOTS,
    PREVIOUS_BOOT_KERNEL,
    PREVIOUS_BOOT_TAIL,
    SYSTEM_STATE,
    SYSTEMD_ANALYZE,
    Spec,
)

# Without the journal's list of boots, a crash file up to this long before this boot is
# taken as the previous boot's end.
PREVIOUS_BOOT_WINDOW_MS = 24 * 3600 * 1000


def _ended_previous_boot(crash: CrashReport, previous: BootEntry | None, boot_time: int) -> bool:
    """Whether a crash report says the previous boot ended in a crash: the previous boot's
    own kernel log, or a kernel crash dump written between that boot's start and this one.
    Old dumps nobody deleted, and program crashes, say nothing about the last shutdown."""
    if crash.source == "journal":
        return True  # journalctl -b -1: the previous boot by construction
    if crash.kind == "unknown" or not crash.time_ms:
        return False
    now_boot_ms = boot_time * 1000
    since = previous.first_ms if previous else now_boot_ms - PREVIOUS_BOOT_WINDOW_MS
    return since <= crash.time_ms <= now_boot_ms if now_boot_ms else crash.time_ms >= since


# systemctl is-system-running: "maintenance" is the rescue or emergency target.
EMERGENCY_STATES = frozenset({"maintenance", "emergency"})


class BootProbe:
    name = "boot"

    def specs(self, os: str) -> tuple[Spec, ...]:
        match os:
            case "linux":
                return (
                    *(BOOT_ID, HOST_FACTS, SYSTEM_STATE, FAILED_UNITS, SYSTEMD_ANALYZE),
                    *(PREVIOUS_BOOT_TAIL, PREVIOUS_BOOT_KERNEL, CRASH_DIRS),
                )
            case "windows":
                from agent.probes import windows  # only on Windows: its parsers cost RSS

                return windows.specs("boot")
            case "darwin":
                from agent.probes import macos  # only on macOS

                return macos.specs("boot")
        return ()

    def collect(self, source: Source, context: ProbeContext = DEFAULT_CONTEXT) -> ProbeOutput:
        match source.os:
            case "windows":
                from agent.probes import windows  # only on Windows: its parsers cost RSS

                return windows.boot(source)
            case "darwin":
                from agent.probes import macos  # only on macOS

                return macos.boot(source)
        g = Gather(self.name)
        boot_id = (g.read(source, BOOT_ID) or "").strip()
        facts_text = g.read(source, HOST_FACTS)
        boot_time = host_facts_json.parse(facts_text).boot_time_unix if facts_text else 0
        state = (g.read(source, SYSTEM_STATE) or "").strip()
        failed = g.parse(source, FAILED_UNITS, systemctl_units_json.parse) or ()
        duration = g.parse(source, SYSTEMD_ANALYZE, systemd_analyze.parse) or 0.0
        shutdown, detail = g.parse(source, PREVIOUS_BOOT_TAIL, journal_shutdown.parse) or (
            "unknown",
            "",
        )
        previous = self._previous_boot(g, source)
        crashes = [*self._previous_kernel(g, source, previous), *self._crash_dirs(g, source)]
        boot = BootInfo(
            boot_id=boot_id,
            boot_time_unix=boot_time,
            previous_shutdown=shutdown,
            previous_shutdown_detail=detail,
            boot_duration_s=duration,
            emergency_mode=state in EMERGENCY_STATES,
            system_state=state,
            failed_units=failed,
            crashes=tuple(crashes),
            previous_boot_id=previous.boot_id if previous else "",
        )
        ended = [c for c in crashes if _ended_previous_boot(c, previous, boot_time)]
        if ended and boot.previous_shutdown != "unclean":
            # A kernel that crashed did not shut down cleanly, whatever the journal's last
            # lines say (it may have none: the panic stopped it writing).
            boot = dataclasses.replace(
                boot,
                previous_shutdown="unclean",
                previous_shutdown_detail=f"crash report: {ended[0].title or ended[0].kind}",
            )
        return ProbeOutput(boot=boot, errors=g.errors, warnings=g.warnings)

    def _previous_boot(self, g: Gather, source: Source) -> BootEntry | None:
        # Optional: without a persistent journal there is no list; the tail read says so.
        boots = g.parse_optional(source, LIST_BOOTS, journalctl_boots.parse) or ()
        return journalctl_boots.previous(boots)

    def _previous_kernel(
        self, g: Gather, source: Source, previous: BootEntry | None
    ) -> list[CrashReport]:
        # short-monotonic offsets count from that boot's start: its first journal entry.
        # Without a persistent journal it is absent, as the tail read above reports.
        start = previous.first_ms if previous else 0
        found = g.parse_optional(
            source, PREVIOUS_BOOT_KERNEL, lambda t: kernel_crash.parse(t, boot_time_ms=start)
        )
        return [dataclasses.replace(c, source="journal") for c in found or ()]

    def _crash_dirs(self, g: Gather, source: Source) -> list[CrashReport]:
        files = g.parse(source, CRASH_DIRS, crash_dirs_json.parse) or ()
        reports: list[CrashReport] = []
        for f in files:
            found = g.parse_text(f"{CRASH_DIRS.name}:{f.path}", f.text, kernel_crash.parse) or ()
            if not found and f.path.endswith(".crash") and "KernelCrash" not in f.text:
                continue  # an apport report of a program's crash, not the kernel's
            for c in found or (CrashReport(f.source, "unknown", title="crash dump"),):
                reports.append(
                    dataclasses.replace(c, source=f.source, time_ms=f.time_ms, path=f.path)
                )
        return reports
