"""`log show --style ndjson` (the unified log) → Event records for the entries that matter.

log(1): https://keith.github.io/xcode-man-pages/log.1.html . One JSON object per line,
then a closing `{"count":N,"finished":1}`; log may print `Filtering the log data using
"<predicate>"` (and, without --info, `Skipping info and debug messages...`) before them:

    {"timestamp":"2024-05-02 08:13:21.301128+0200","eventType":"logEvent","messageType":
     "Default","processID":0,"processImagePath":"\\/kernel","senderImagePath":"\\/System\\/
     Library\\/Extensions\\/AppleSMC.kext\\/Contents\\/MacOS\\/AppleSMC","subsystem":"",
     "eventMessage":"Previous shutdown cause: 5","bootUUID":"…","traceID":…, ...}

Kinds (source "macos"):
  boot.unexpected_shutdown  `Previous shutdown cause: N` with N not 5 (fields cause, meaning)
  boot.clean_shutdown       the same line with 5 (INFO; the probe keeps it out of events)
  disk.io_error             `disk0s2: I/O error.` from the kernel (fields device)
  disk.fs_error             an APFS kext message with "error" in it (fields fs=apfs, device)
  disk.nvme_reset           an IONVMeFamily message about a reset or timeout (fields device)
Every event also has fields sender (the kext or binary that logged it) and process.
Other entries are matched by a predicate but named by nothing here, and are skipped.

Shutdown cause codes come from the SMC of Intel Macs; Apple does not document them. The
meanings below are the ones Apple service staff and long-time observers agree on:
Eclectic Light, "Mac shutdown and sleep cause codes" (2017, updated 2025)
https://eclecticlight.co/2017/02/28/mac-shutdown-and-sleep-cause-codes/ , and the list
at https://www.centralit-helpdesk.co.uk/index.php?pg=kb.page&id=242 . Positive codes are
software- or user-initiated, negative ones hardware/SMC-initiated; 5 is the only clean one.
"""

from __future__ import annotations

import json
import re
from datetime import datetime

from agent.parsers import Parsed, Warnings
from agent.records import Event, Severity

CLEAN_SHUTDOWN_CAUSE = 5
SHUTDOWN_CAUSES: dict[int, str] = {
    5: "normal shutdown or restart from macOS",
    3: "hard shutdown: the power button was held",
    0: "power lost (power cord, battery or power supply)",
    -3: "multiple temperature sensors over their limit",
    -60: "bad master directory block: serious disk error",
    -61: "watchdog timer: unresponsive application",
    -62: "watchdog timer: unresponsive application, system restarted",
    -128: "hardware-related shutdown of unknown cause",
}

_CAUSE = re.compile(r"Previous shutdown cause:\s*(-?\d+)", re.IGNORECASE)
_IO_ERROR = re.compile(r"\b(disk\d+(?:s\d+)*):\s*I/O error")
_DISK = re.compile(r"\b(disk\d+(?:s\d+)*)\b")
_PREAMBLE = ("Filtering the log data", "Skipping info and debug messages", "Timestamp ")


def describe_cause(code: int) -> str:
    meaning = SHUTDOWN_CAUSES.get(code)
    if meaning is None:
        meaning = "hardware-initiated (SMC)" if code < 0 else "software-initiated"
    return f"shutdown cause {code}: {meaning}"


def parse(text: str) -> Parsed[tuple[Event, ...]]:
    warnings = Warnings()
    events: list[Event] = []
    finished = False
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith(_PREAMBLE):
            continue
        try:
            entry = json.loads(stripped)
        except json.JSONDecodeError:
            warnings.add(f"line {lineno}: not JSON: {stripped!r:.80}")
            continue
        if not isinstance(entry, dict):
            warnings.add(f"line {lineno}: not a JSON object")
            continue
        if "finished" in entry and "eventMessage" not in entry:
            finished = True
            continue
        if entry.get("eventType", "logEvent") != "logEvent":
            continue  # activities, signposts, state dumps: no message of their own
        event = _event(entry, lineno, warnings)
        if event is not None:
            events.append(event)
    if not finished:
        warnings.add('no closing {"finished":1} record: the output was cut short')
    return Parsed.of(tuple(events), warnings)


def _event(entry: dict[str, object], lineno: int, warnings: Warnings) -> Event | None:
    message = entry.get("eventMessage")
    if not isinstance(message, str):
        warnings.add(f"line {lineno}: no eventMessage")
        return None
    sender = _basename(entry.get("senderImagePath"))
    classified = _classify(message, sender)
    if classified is None:
        return None
    kind, severity, fields = classified
    time_ms = _time_ms(entry.get("timestamp"))
    if time_ms is None:
        warnings.add(f"line {lineno}: timestamp {entry.get('timestamp')!r:.40} is not a log time")
        return None
    fields |= {"sender": sender, "process": _basename(entry.get("processImagePath"))}
    return Event(time_ms, "macos", kind, severity, message, fields)


def _classify(message: str, sender: str) -> tuple[str, Severity, dict[str, str]] | None:
    if cause := _CAUSE.search(message):
        code = int(cause.group(1))
        fields = {"cause": str(code), "meaning": describe_cause(code)}
        if code == CLEAN_SHUTDOWN_CAUSE:
            return "boot.clean_shutdown", Severity.INFO, fields
        # 3: someone held the power button, usually over a hung Mac; the rest lost power
        # or were cut off by the hardware.
        severity = Severity.WARNING if code == 3 else Severity.ERROR
        return "boot.unexpected_shutdown", severity, fields
    if io_error := _IO_ERROR.search(message):
        return "disk.io_error", Severity.ERROR, {"device": io_error.group(1)}
    disk = _DISK.search(message)
    device = disk.group(1) if disk else ""
    lowered = message.lower()
    if "apfs" in sender.lower() and "error" in lowered:
        return "disk.fs_error", Severity.ERROR, {"fs": "apfs", "device": device}
    if "nvme" in sender.lower() and ("reset" in lowered or "timeout" in lowered):
        return "disk.nvme_reset", Severity.WARNING, {"device": device}
    return None


def _basename(path: object) -> str:
    return path.rsplit("/", 1)[-1] if isinstance(path, str) else ""


def _time_ms(value: object) -> int | None:
    """`2024-05-02 08:13:21.301128+0200` (local time with its UTC offset)."""
    if not isinstance(value, str):
        return None
    for layout in ("%Y-%m-%d %H:%M:%S.%f%z", "%Y-%m-%d %H:%M:%S%z"):
        try:
            return int(datetime.strptime(value, layout).timestamp() * 1000)
        except ValueError:
            continue
    return None
