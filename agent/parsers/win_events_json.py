"""The `win_events_<domain>` JSON (agent/specs_windows.py, Get-WinEvent) → Event records.

One object per event, newest first per filter; `Data` holds the event's named EventData
fields, or `param1`.. for classic events whose <Data> elements have no names:

    [{"TimeCreated":"\\/Date(1763657371000)\\/","Id":41,"ProviderName":"Microsoft-Windows-Kernel-Power",
      "Level":1,"RecordId":48113,"LogName":"System",
      "Data":{"BugcheckCode":"159","BugcheckParameter1":"0x3","PowerButtonTimestamp":"0"}},
     {"TimeCreated":"\\/Date(1763657380000)\\/","Id":6008,"ProviderName":"EventLog","Level":2,
      "RecordId":48120,"LogName":"System","Data":{"param1":"5:47:12 PM","param2":"11/20/2026"}}]

Matching is on provider and event id (ids are reused across providers: 1001 is a bug check
from WER-SystemErrorReporting and a lease failure from Dhcp-Client) and on the numeric
Level, never on Message or LevelDisplayName, which Windows translates.

Severity is the Level (1 Critical, 2 Error, 3 Warning, 4/0 Information, 5 Verbose), raised
to a signature's floor (a bug check is CRITICAL although logged as Error) or lowered to its
ceiling (6005/6006 are INFO). Two use data instead: Ntfs 98 below Warning says the volume is
healthy (kind disk.ntfs_healthy), and Diagnostics-Performance 100 is a WARNING only when
BootIsDegradation is true (it logs ordinary boots at Warning or Error too).

Fields: provider, event_id, record_id, log, level, every Data field as a string, and the
canonical names of context.md derived from them (device, stop_code, boot_ms, driver ...).

Sources for ids and data: MicrosoftDocs/SupportArticles-docs event-id-41-restart.md (41,
6008, 1001), tpn/winsdk-10 ntiologc.h (disk 7/9/11/51/52/153/154/157, storport 129),
learn.microsoft.com archive "Event ID 100 Windows Diagnostics Performance", and
/work/shared/domain/failure-signatures.md sections 2-5 (which id means what).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from agent.parsers import Parsed, ParseError, Warnings
from agent.parsers import win_ps_json as ps
from agent.records import Event, Severity

SOURCE = "winevent"
LEVELS = {1: Severity.CRITICAL, 2: Severity.ERROR, 3: Severity.WARNING}


@dataclass(frozen=True, slots=True)
class Signature:
    kind: str
    floor: Severity = Severity.INFO
    ceiling: Severity = Severity.CRITICAL
    # Derived canonical fields: name → the Data field(s) to take it from, first non-empty.
    derived: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Extra derivation needing code (stop codes, boot times).
    extra: Callable[[Mapping[str, str]], dict[str, str]] | None = None


def stop_code(value: str) -> str:
    """A bug check code, decimal (Kernel-Power BugcheckCode 159) or hex, as 0x0000009f."""
    value = value.strip()
    try:
        code = int(value, 16) if value.lower().startswith("0x") else int(value)
    except ValueError:
        return ""
    return f"0x{code:08x}" if code else ""


_BUGCHECK_TEXT = re.compile(r"\s*(0x[0-9a-fA-F]+)\s*(?:\((.*)\))?")


def _bugcheck_fields(data: Mapping[str, str]) -> dict[str, str]:
    # WER-SystemErrorReporting 1001: param1 = "0x0000009f (0x..3, 0x.., 0x.., 0x..)",
    # param2 = the dump file, param3 = the report id.
    m = _BUGCHECK_TEXT.match(data.get("param1", ""))
    if not m:
        return {}
    found = {"stop_code": stop_code(m.group(1)), "params": (m.group(2) or "").strip()}
    if dump := data.get("param2", "").strip():
        found["dump_path"] = dump
    return {k: v for k, v in found.items() if v}


def _kernel_power_fields(data: Mapping[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    if code := stop_code(data.get("BugcheckCode", "0")):
        found["stop_code"] = code
    if data.get("PowerButtonTimestamp", "0").strip() not in ("", "0"):
        found["power_button"] = "true"
    return found


def _ntfs_fields(data: Mapping[str, str]) -> dict[str, str]:
    return {"fs": "NTFS"}


_DISK = (("device", ("param1",)),)
_LBA = (("device", ("param1",)), ("sector", ("param2",)), ("disk", ("param3",)))
_NTFS = (("device", ("DriveName", "DeviceName", "VolumeName", "param1")),)
_SERVICE = (("service", ("param1",)),)

SIGNATURES: dict[tuple[str, int], Signature] = {
    # disk (DSK-18, DSK-19)
    ("disk", 7): Signature("disk.bad_block", Severity.ERROR, derived=_DISK),
    ("disk", 9): Signature("disk.controller_error", Severity.WARNING, derived=_DISK),
    ("disk", 11): Signature("disk.controller_error", Severity.WARNING, derived=_DISK),
    ("disk", 51): Signature("disk.paging_error", Severity.WARNING, derived=_DISK),
    ("disk", 52): Signature("disk.predicted_failure", Severity.CRITICAL, derived=_DISK),
    ("disk", 153): Signature("disk.io_retried", Severity.WARNING, derived=_LBA),
    ("disk", 154): Signature("disk.io_error", Severity.ERROR, derived=_LBA),
    ("disk", 157): Signature("disk.removed", Severity.WARNING, derived=_DISK),
    **{
        (miniport, 129): Signature("disk.controller_error", Severity.WARNING, derived=_DISK)
        for miniport in ("storahci", "stornvme", "storport", "iaStorA", "iaStorAVC")
    },
    # NTFS (DSK-20); 98 at level Information says the volume is healthy (see _special)
    **{
        (provider, event_id): Signature(
            "disk.ntfs_corruption", Severity.ERROR, derived=_NTFS, extra=_ntfs_fields
        )
        for provider in ("Ntfs", "Microsoft-Windows-Ntfs")
        for event_id in (55, 98, 137)
    },
    # network (NET-07, NET-08, NET-09) and time
    ("Microsoft-Windows-DNS-Client", 1014): Signature(
        "net.dns_timeout", derived=(("name", ("QueryName",)),)
    ),
    ("Microsoft-Windows-Dhcp-Client", 1001): Signature("net.dhcp_failed", Severity.WARNING),
    ("Microsoft-Windows-Dhcp-Client", 1002): Signature("net.dhcp_failed", Severity.WARNING),
    ("Tcpip", 4199): Signature(
        "net.ip_conflict",
        Severity.ERROR,
        derived=(("address", ("param2", "param1")), ("mac", ("param3",))),
    ),
    **{
        ("Microsoft-Windows-Time-Service", event_id): Signature(
            "time.sync_failed", Severity.WARNING
        )
        for event_id in (36, 129, 134)
    },
    # drivers (DRV-03, DRV-04, DRV-05, DRV-12)
    ("Display", 4101): Signature(
        "driver.display_tdr", Severity.WARNING, derived=(("driver", ("param1",)),)
    ),
    ("Microsoft-Windows-Kernel-PnP", 219): Signature(
        "driver.load_failed",
        Severity.WARNING,
        derived=(("driver", ("DriverName",)), ("device", ("DeviceInstanceID",))),
    ),
    ("Service Control Manager", 7026): Signature(
        "driver.load_failed", Severity.WARNING, derived=(("driver", ("param1",)),)
    ),
    ("Microsoft-Windows-WHEA-Logger", 17): Signature("driver.whea", Severity.WARNING),
    ("Microsoft-Windows-WHEA-Logger", 18): Signature("driver.whea", Severity.CRITICAL),
    ("Microsoft-Windows-WHEA-Logger", 19): Signature("driver.whea", Severity.WARNING),
    ("Microsoft-Windows-WHEA-Logger", 47): Signature("driver.whea", Severity.WARNING),
    # boot and shutdown (BOOT-01/02/03/07/08/09)
    ("Microsoft-Windows-Kernel-Power", 41): Signature(
        "boot.unexpected_shutdown", Severity.ERROR, extra=_kernel_power_fields
    ),
    ("EventLog", 6005): Signature("boot.started", ceiling=Severity.INFO),
    ("EventLog", 6006): Signature("boot.clean_shutdown", ceiling=Severity.INFO),
    ("EventLog", 6008): Signature(
        "boot.dirty_shutdown",
        Severity.ERROR,
        derived=(("last_time", ("param1",)), ("last_date", ("param2",))),
    ),
    ("Microsoft-Windows-WER-SystemErrorReporting", 1001): Signature(
        "boot.bugcheck", Severity.CRITICAL, extra=_bugcheck_fields
    ),
    **{
        ("Service Control Manager", event_id): Signature(
            "boot.service_failed", Severity.WARNING, derived=_SERVICE
        )
        for event_id in (7000, 7001, 7023, 7031, 7034)
    },
    # Windows Update installation failure; errorCode 0x80070070 is "disk full"
    # (ERROR_DISK_FULL as an HRESULT). Data names: updateTitle, updateGuid, errorCode.
    ("Microsoft-Windows-WindowsUpdateClient", 20): Signature(
        "os.update_failed",
        Severity.ERROR,
        derived=(("update", ("updateTitle",)), ("error_code", ("errorCode",))),
    ),
    ("Microsoft-Windows-Diagnostics-Performance", 100): Signature(
        "boot.performance",
        ceiling=Severity.WARNING,
        derived=(("boot_ms", ("BootTime",)), ("main_path_ms", ("MainPathBootTime",))),
    ),
}
# The classic source name the System log shows for WER-SystemErrorReporting.
_ALIASES = {"BugCheck": "Microsoft-Windows-WER-SystemErrorReporting"}
WHEA_FATAL = 18


def signature(provider: str, event_id: int) -> Signature | None:
    return SIGNATURES.get((_ALIASES.get(provider, provider), event_id))


def parse(text: str) -> Parsed[tuple[Event, ...]]:
    warnings = Warnings()
    found: list[Event] = []
    for i, item in enumerate(ps.load_list(text, "win_events")):
        if not isinstance(item, dict):
            warnings.add(f"event {i}: expected an object, got {item!r:.60}")
            continue
        try:
            event = _event(item)
        except ParseError as exc:
            warnings.add(f"event {i}: {exc}")
            continue
        if event is None:
            warnings.add(f"event {i}: no signature for {_key(item)}")
            continue
        found.append(event)
    found.sort(key=lambda e: (e.time_ms, int(e.fields.get("record_id", "0") or 0)))
    return Parsed.of(tuple(found), warnings)


def _key(item: Mapping[str, object]) -> str:
    return f"{item.get('ProviderName')!r} {item.get('Id')!r}"


def _event(item: Mapping[str, object]) -> Event | None:
    provider = ps.text(item, "ProviderName")
    event_id = ps.number(item, "Id", -1)
    if not provider or event_id < 0:
        raise ParseError("missing ProviderName or Id")
    sig = signature(provider, event_id)
    if sig is None:
        return None
    time_ms = ps.time_ms(item, "TimeCreated")
    if time_ms == 0:
        raise ParseError(f"{provider} {event_id}: missing TimeCreated")
    level = ps.number(item, "Level", 4)
    data = _data(item.get("Data"))
    kind, severity = _special(event_id, level, sig, data)
    fields = dict(data)
    for name, sources in sig.derived:
        if value := next((data[s].strip() for s in sources if data.get(s, "").strip()), ""):
            fields[name] = value
    if sig.extra is not None:
        fields |= sig.extra(data)
    if kind == "driver.whea":
        fields["error_class"] = "fatal" if event_id == WHEA_FATAL else "corrected"
    # The record's own keys win over a Data field of the same name.
    fields |= {
        "provider": provider,
        "event_id": str(event_id),
        "record_id": str(ps.number(item, "RecordId")),
        "log": ps.text(item, "LogName"),
        "level": str(level),
    }
    return Event(time_ms, SOURCE, kind, severity, _message(provider, event_id, data), fields)


def _special(
    event_id: int, level: int, sig: Signature, data: Mapping[str, str]
) -> tuple[str, Severity]:
    severity = LEVELS.get(level, Severity.INFO)
    # Ntfs 98 at level Information: "Volume C: ... is healthy. No action is needed."
    if event_id == 98 and level not in LEVELS:
        return "disk.ntfs_healthy", Severity.INFO
    # Diagnostics-Performance logs every boot at Warning or worse; what matters is whether
    # Windows itself judged the boot degraded (BootIsDegradation), not the level.
    if sig.kind == "boot.performance":
        degraded = data.get("BootIsDegradation", "").strip().lower() == "true"
        return sig.kind, Severity.WARNING if degraded else Severity.INFO
    return sig.kind, min(max(severity, sig.floor), sig.ceiling)


def _data(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ParseError(f"Data: expected an object, got {value!r:.60}")
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


MESSAGE_MAX = 300


def _message(provider: str, event_id: int, data: Mapping[str, str]) -> str:
    """A language-independent stand-in for the (translated, not collected) message."""
    shown = ", ".join(f"{k}={v}" for k, v in data.items() if v.strip())
    text = f"{provider} {event_id}" + (f": {shown}" if shown else "")
    return text[:MESSAGE_MAX]


def newer_than(events: tuple[Event, ...], cursor: Mapping[str, int]) -> tuple[Event, ...]:
    """The events not sent yet: RecordId above the cursor (log → last RecordId sent).

    Keep one cursor per domain: each domain reads its own subset of a log. RecordIds only
    grow within a log until it is cleared; then they restart at 1, so a log whose newest
    record read is below its cursor was cleared, and all of its records are new.
    """
    cleared = _cleared(events, cursor)
    return tuple(
        e
        for e in events
        if (log := e.fields.get("log", "")) in cleared or _record_id(e) > cursor.get(log, 0)
    )


def cursor_after(events: tuple[Event, ...], cursor: Mapping[str, int]) -> dict[str, int]:
    """The cursor once `events` (as newer_than returned them) are sent."""
    moved = {log: rid for log, rid in cursor.items() if log not in _cleared(events, cursor)}
    for event in events:
        log = event.fields.get("log", "")
        moved[log] = max(moved.get(log, 0), _record_id(event))
    return moved


def _cleared(events: tuple[Event, ...], cursor: Mapping[str, int]) -> set[str]:
    newest: dict[str, int] = {}
    for event in events:
        log = event.fields.get("log", "")
        newest[log] = max(newest.get(log, 0), _record_id(event))
    return {log for log, top in newest.items() if top < cursor.get(log, 0)}


def _record_id(event: Event) -> int:
    value = event.fields.get("record_id", "0")
    return int(value) if value.isdigit() else 0
