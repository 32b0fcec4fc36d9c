"""Boot facts derived from the Windows boot events (win_events_json Events of win_events_boot).

Pure derivations over Event records (no text format of their own):

* current boot: `boot_time_ms` when known (Win32_OperatingSystem.LastBootUpTime), else the
  newest EventLog 6005 ("event log service started", logged seconds into every boot);
* previous shutdown, per MicrosoftDocs/SupportArticles-docs event-id-41-restart.md:
  "unclean" when a Kernel-Power 41 or an EventLog 6008 of the current boot (logged early in
  it, possibly a little before 6005) is newer than the last 6006 ("event log service
  stopped", a clean shutdown) before the current boot; "clean" when that 6006 exists and
  no such evidence does; else "unknown" (events unavailable, log cleared, or no boot seen);
* boot duration: Diagnostics-Performance 100 `BootTime` (ms) of the current boot;
* crashes: every WER-SystemErrorReporting 1001 (bug check with stop code and dump file),
  plus a Kernel-Power 41 with a BugcheckCode that no 1001 follows (the dump could not be
  written, BOOT-04), so a crash is not lost with its dump.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from agent.parsers.win_ps_json import iso_utc
from agent.records import BootInfo, CrashReport, Event

# Kernel-Power 41 is stamped by the kernel early in the boot, before the event log service
# starts and logs 6005; LastBootUpTime is earlier still. Evidence up to this much before the
# boot start still belongs to it.
BOOT_SLACK_MS = 5 * 60 * 1000
# WER writes 1001 once the dump is processed after the reboot, minutes after 41.
BUGCHECK_REPORT_MS = 60 * 60 * 1000

# Common stop codes, from the bug check code reference:
# https://learn.microsoft.com/windows-hardware/drivers/debugger/bug-check-code-reference2
BUGCHECK_NAMES = {
    0x0A: "IRQL_NOT_LESS_OR_EQUAL",
    0x1A: "MEMORY_MANAGEMENT",
    0x1E: "KMODE_EXCEPTION_NOT_HANDLED",
    0x24: "NTFS_FILE_SYSTEM",
    0x3B: "SYSTEM_SERVICE_EXCEPTION",
    0x50: "PAGE_FAULT_IN_NONPAGED_AREA",
    0x77: "KERNEL_STACK_INPAGE_ERROR",
    0x7A: "KERNEL_DATA_INPAGE_ERROR",
    0x7B: "INACCESSIBLE_BOOT_DEVICE",
    0x7E: "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED",
    0x9F: "DRIVER_POWER_STATE_FAILURE",
    0xC4: "DRIVER_VERIFIER_DETECTED_VIOLATION",
    0xD1: "DRIVER_IRQL_NOT_LESS_OR_EQUAL",
    0xED: "UNMOUNTABLE_BOOT_VOLUME",
    0xEF: "CRITICAL_PROCESS_DIED",
    0xF4: "CRITICAL_OBJECT_TERMINATION",
    0x101: "CLOCK_WATCHDOG_TIMEOUT",
    0x116: "VIDEO_TDR_FAILURE",
    0x117: "VIDEO_TDR_TIMEOUT_DETECTED",
    0x124: "WHEA_UNCORRECTABLE_ERROR",
    0x133: "DPC_WATCHDOG_VIOLATION",
    0x139: "KERNEL_SECURITY_CHECK_FAILURE",
    0x141: "VIDEO_ENGINE_TIMEOUT_DETECTED",
    0x154: "UNEXPECTED_STORE_EXCEPTION",
}


def bugcheck_name(stop_code: str) -> str:
    try:
        return BUGCHECK_NAMES.get(int(stop_code, 16), "")
    except ValueError:
        return ""


def current_boot_ms(events: Iterable[Event], boot_time_ms: int = 0) -> int:
    if boot_time_ms:
        return boot_time_ms
    return max((e.time_ms for e in events if e.kind == "boot.started"), default=0)


def boot_info(events: Sequence[Event], boot_time_ms: int = 0) -> BootInfo:
    boot = current_boot_ms(events, boot_time_ms)
    shutdown, detail = previous_shutdown(events, boot)
    perf = [e for e in events if e.kind == "boot.performance" and e.time_ms >= boot]
    boot_ms = _int(perf[-1].fields.get("boot_ms", "")) if perf else 0
    return BootInfo(
        boot_time_unix=boot // 1000,
        previous_shutdown=shutdown,
        previous_shutdown_detail=detail,
        boot_duration_s=boot_ms / 1000,
    )


def previous_shutdown(events: Sequence[Event], boot_ms: int) -> tuple[str, str]:
    ordered = sorted(events, key=lambda e: e.time_ms)
    if not boot_ms:  # no boot seen: the brief rule over the whole window
        boot_ms = max((e.time_ms for e in ordered), default=0) + 1
        window_start = 0
    else:
        window_start = boot_ms - BOOT_SLACK_MS
    clean = [e for e in ordered if e.kind == "boot.clean_shutdown" and e.time_ms < boot_ms]
    last_clean = clean[-1].time_ms if clean else -1
    evidence = [
        e
        for e in ordered
        if e.kind in ("boot.unexpected_shutdown", "boot.dirty_shutdown")
        and e.time_ms >= window_start
        and e.time_ms > last_clean
    ]
    if evidence:
        return "unclean", "; ".join(_describe(e) for e in evidence)
    if clean:
        return "clean", f"EventLog 6006 (clean stop) at {iso_utc(last_clean)}"
    return "unknown", ""


def _describe(event: Event) -> str:
    f = event.fields
    when = iso_utc(event.time_ms)
    if event.kind == "boot.dirty_shutdown":
        last = " ".join(v for v in (f.get("last_time", ""), f.get("last_date", "")) if v)
        return f"EventLog 6008 at {when}" + (f" (last sign of life {last})" if last else "")
    notes = []
    if code := f.get("stop_code"):
        notes.append(
            f"bug check {code}" + (f" {bugcheck_name(code)}" if bugcheck_name(code) else "")
        )
    if f.get("power_button") == "true":
        notes.append("power button held")
    if not notes:
        notes.append("no bug check, power button not pressed: power loss or hard hang")
    return f"Kernel-Power 41 at {when} ({', '.join(notes)})"


def crashes(events: Sequence[Event]) -> tuple[CrashReport, ...]:
    reports = [e for e in events if e.kind == "boot.bugcheck" and e.fields.get("stop_code")]
    found = [
        CrashReport(
            source="bugcheck",
            kind="bugcheck",
            time_ms=e.time_ms,
            title=_title(e.fields["stop_code"], e.fields.get("params", "")),
            stop_code=e.fields["stop_code"],
            path=e.fields.get("dump_path", ""),
        )
        for e in reports
    ]
    for e in events:
        code = e.fields.get("stop_code", "")
        if e.kind != "boot.unexpected_shutdown" or not code:
            continue
        if any(
            r.fields["stop_code"] == code and 0 <= r.time_ms - e.time_ms <= BUGCHECK_REPORT_MS
            for r in reports
        ):
            continue
        title = _title(code, "") + " (Kernel-Power 41; no BugCheck 1001 report)"
        found.append(CrashReport("kernel_power", "bugcheck", e.time_ms, title, code))
    return tuple(sorted(found, key=lambda c: c.time_ms))


def _title(stop_code: str, params: str) -> str:
    name = bugcheck_name(stop_code)
    title = f"{stop_code} {name}" if name else stop_code
    return f"{title} ({params})" if params else title


def _int(value: str) -> int:
    return int(value) if value.strip().isdigit() else 0
