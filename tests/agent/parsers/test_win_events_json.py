"""Get-WinEvent JSON → Event: provider + id + Level + named data, never message text."""

import json
from pathlib import Path

from agent.parsers import win_events_json
from agent.records import Event, Severity

HOSTS = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"


def _read(host: str, name: str) -> str:
    return (HOSTS / host / name).read_bytes().decode("utf-8")


def _event(
    provider: str, eid: int, level: int, data: dict[str, str], **extra: object
) -> dict[str, object]:
    return {
        "TimeCreated": "/Date(1795193371267)/",  # json.dumps cannot write 5.1's "\/"
        "Id": eid,
        "ProviderName": provider,
        "Level": level,
        "RecordId": 48150,
        "LogName": "System",
        "Data": data,
    } | extra


def _one(item: dict[str, object]) -> Event:
    parsed = win_events_json.parse(json.dumps([item]))
    assert parsed.warnings == 0, parsed.examples
    (event,) = parsed.value
    return event


def test_kernel_power_41_with_a_bugcheck() -> None:
    data = {"BugcheckCode": "159", "BugcheckParameter1": "0x3", "PowerButtonTimestamp": "0"}
    event = _one(_event("Microsoft-Windows-Kernel-Power", 41, 1, data))
    assert (event.time_ms, event.source, event.kind) == (
        1795193371267,
        "winevent",
        "boot.unexpected_shutdown",
    )
    assert event.severity is Severity.CRITICAL
    assert dict(event.fields) == {
        "BugcheckCode": "159",
        "BugcheckParameter1": "0x3",
        "PowerButtonTimestamp": "0",
        "stop_code": "0x0000009f",
        "provider": "Microsoft-Windows-Kernel-Power",
        "event_id": "41",
        "record_id": "48150",
        "log": "System",
        "level": "1",
    }
    assert event.message.startswith("Microsoft-Windows-Kernel-Power 41: BugcheckCode=159")


def test_kernel_power_41_power_button_and_no_bugcheck() -> None:
    data = {"BugcheckCode": "0", "PowerButtonTimestamp": "131728546170882432"}
    event = _one(_event("Microsoft-Windows-Kernel-Power", 41, 1, data))
    assert "stop_code" not in event.fields
    assert event.fields["power_button"] == "true"


def test_bugcheck_1001_stop_code_params_and_dump() -> None:
    data = {
        "param1": "0x0000009f (0x0000000000000003, 0xffffb90f1c2d7060, "
        "0xfffff8053a87f750, 0xffffb90f2a4e18a0)",
        "param2": "C:\\WINDOWS\\Minidump\\112026-11734-01.dmp",
        "param3": "7b2d6f0e-3c41-4a8e-9d1f-52c6a0e4b8d3",
    }
    event = _one(_event("Microsoft-Windows-WER-SystemErrorReporting", 1001, 2, data))
    assert (event.kind, event.severity) == ("boot.bugcheck", Severity.CRITICAL)
    assert event.fields["stop_code"] == "0x0000009f"
    assert event.fields["params"].startswith("0x0000000000000003, 0xffffb90f1c2d7060")
    assert event.fields["dump_path"] == "C:\\WINDOWS\\Minidump\\112026-11734-01.dmp"


def test_the_classic_bugcheck_source_name_and_a_short_stop_code() -> None:
    event = _one(_event("BugCheck", 1001, 2, {"param1": "0x124 (0x0, 0x1, 0x2, 0x3)"}))
    assert (event.kind, event.fields["stop_code"]) == ("boot.bugcheck", "0x00000124")


def test_ids_are_matched_with_their_provider() -> None:
    # 1001 of Dhcp-Client is a lease failure, not a bug check.
    event = _one(_event("Microsoft-Windows-Dhcp-Client", 1001, 2, {}))
    assert (event.kind, event.severity) == ("net.dhcp_failed", Severity.ERROR)


def test_unnamed_classic_data_and_derived_fields() -> None:
    disk7 = _one(_event("disk", 7, 2, {"param1": "\\Device\\Harddisk1\\DR1"}))
    assert (disk7.kind, disk7.severity, disk7.fields["device"]) == (
        "disk.bad_block",
        Severity.ERROR,
        "\\Device\\Harddisk1\\DR1",
    )
    data = {"param1": "\\Device\\Harddisk0\\DR0", "param2": "0x2f1b4c08", "param3": "0"}
    retried = _one(_event("disk", 153, 3, data))
    assert (retried.kind, retried.fields["sector"], retried.fields["disk"]) == (
        "disk.io_retried",
        "0x2f1b4c08",
        "0",
    )
    reset = _one(_event("stornvme", 129, 3, {"param1": "\\Device\\RaidPort0"}))
    assert (reset.kind, reset.fields["device"]) == ("disk.controller_error", "\\Device\\RaidPort0")


def test_severity_floor_and_ceiling() -> None:
    # Disk 52 (failure predicted) is logged as a warning: the floor makes it critical.
    assert _one(_event("disk", 52, 3, {})).severity is Severity.CRITICAL
    assert _one(_event("EventLog", 6006, 2, {})).severity is Severity.INFO
    whea = _one(_event("Microsoft-Windows-WHEA-Logger", 18, 2, {}))
    assert (whea.kind, whea.severity, whea.fields["error_class"]) == (
        "driver.whea",
        Severity.CRITICAL,
        "fatal",
    )
    assert (
        _one(_event("Microsoft-Windows-WHEA-Logger", 47, 3, {})).fields["error_class"]
        == "corrected"
    )


def test_ntfs_98_depends_on_the_level() -> None:
    healthy = _one(_event("Microsoft-Windows-Ntfs", 98, 4, {"DriveName": "C:"}))
    assert (healthy.kind, healthy.severity) == ("disk.ntfs_healthy", Severity.INFO)
    broken = _one(_event("Microsoft-Windows-Ntfs", 98, 2, {"DriveName": "C:"}))
    assert (broken.kind, broken.fields["fs"], broken.fields["device"]) == (
        "disk.ntfs_corruption",
        "NTFS",
        "C:",
    )


def test_boot_performance_is_a_warning_only_when_degraded() -> None:
    data = {"BootTime": "71234", "MainPathBootTime": "44165", "BootIsDegradation": "true"}
    slow = _one(_event("Microsoft-Windows-Diagnostics-Performance", 100, 1, data))
    assert (slow.kind, slow.severity, slow.fields["boot_ms"]) == (
        "boot.performance",
        Severity.WARNING,
        "71234",
    )
    data["BootIsDegradation"] = "false"
    assert (
        _one(_event("Microsoft-Windows-Diagnostics-Performance", 100, 2, data)).severity
        is Severity.INFO
    )


def test_record_keys_win_over_data_fields_of_the_same_name() -> None:
    event = _one(_event("disk", 7, 2, {"provider": "evil", "param1": "x"}))
    assert event.fields["provider"] == "disk"


def test_iso_dates_of_powershell_7() -> None:
    event = _one(_event("disk", 7, 2, {}, TimeCreated="2026-11-20T17:49:31.2670000+01:00"))
    assert event.time_ms == 1795193371267


def test_ugly_input_is_counted_not_raised() -> None:
    items = [
        _event("disk", 7, 2, {}),
        "garbage",
        _event("disk", 7, 2, {}, TimeCreated=None),
        _event("Some-Provider", 1, 2, {}),
        _event("disk", 7, 2, ["not", "an", "object"]),  # type: ignore[arg-type]
        {"Id": 7},
    ]
    parsed = win_events_json.parse(json.dumps(items))
    assert len(parsed.value) == 1
    assert parsed.warnings == 5
    assert parsed.examples[0] == "event 1: expected an object, got 'garbage'"


def test_no_events_and_one_event_without_array() -> None:
    assert win_events_json.parse("[]\r\n").value == ()
    assert win_events_json.parse("").value == ()
    single = json.dumps(_event("disk", 7, 2, {}))
    assert [e.kind for e in win_events_json.parse("\ufeff" + single + "\r\n").value] == [
        "disk.bad_block"
    ]


def test_every_filtered_provider_and_id_has_a_signature() -> None:
    from agent.specs_windows import EVENT_FILTERS

    for filters in EVENT_FILTERS.values():
        for f in filters:
            for eid in f.ids:
                assert win_events_json.signature(f.provider, eid) is not None, (f.provider, eid)


def test_laptop_boot_events() -> None:
    parsed = win_events_json.parse(_read("sim-windows11-laptop", "win_events_boot"))
    assert parsed.warnings == 0
    events = parsed.value
    assert [e.time_ms for e in events] == sorted(e.time_ms for e in events)
    crash = [
        e
        for e in events
        if e.kind in ("boot.unexpected_shutdown", "boot.dirty_shutdown", "boot.bugcheck")
    ]
    assert [(e.kind, e.fields.get("stop_code", "")) for e in crash] == [
        ("boot.unexpected_shutdown", "0x0000009f"),
        ("boot.dirty_shutdown", ""),
        ("boot.bugcheck", "0x0000009f"),
    ]
    assert crash[1].fields["last_time"] == "5:47:12 PM"


def test_german_disk_events() -> None:
    (event,) = win_events_json.parse(_read("sim-windows10-de-desktop", "win_events_disk")).value
    assert (event.kind, event.fields["device"], event.fields["record_id"]) == (
        "disk.bad_block",
        "\\Device\\Harddisk1\\DR1",
        "122467",
    )
    assert event.time_ms == 1795083293662  # 2026-11-19T10:14:53.662Z


def _with_ids(*pairs: tuple[str, int]) -> tuple[Event, ...]:
    items = [_event("disk", 7, 2, {}, RecordId=rid, LogName=log) for log, rid in pairs]
    return win_events_json.parse(json.dumps(items)).value


def test_cursor_drops_what_was_sent() -> None:
    events = _with_ids(("System", 10), ("System", 12), ("Other", 3))
    assert win_events_json.newer_than(events, {}) == events
    new = win_events_json.newer_than(events, {"System": 10, "Other": 3})
    assert [e.fields["record_id"] for e in new] == ["12"]
    assert win_events_json.cursor_after(new, {"System": 10, "Other": 3}) == {
        "System": 12,
        "Other": 3,
    }


def test_cursor_after_a_cleared_log() -> None:
    events = _with_ids(("System", 1), ("System", 2))
    cursor = {"System": 48150}
    assert win_events_json.newer_than(events, cursor) == events
    assert win_events_json.cursor_after(events, cursor) == {"System": 2}


def test_windows_update_failure_names_the_update_and_its_error() -> None:
    data = {
        "updateTitle": "2026-11 Cumulative Update for Windows 11 Version 24H2 (KB5070773)",
        "updateGuid": "{3c1b9f5a-7d1e-4a1b-9d3c-6f0e2b8a9c11}",
        "updateRevisionNumber": "1",
        "serviceGuid": "{7971f918-a847-4430-9279-4a52d1efe18d}",
        "errorCode": "0x80070070",
    }
    event = _one(_event("Microsoft-Windows-WindowsUpdateClient", 20, 2, data))
    assert (event.kind, event.severity, event.fields["error_code"]) == (
        "os.update_failed",
        Severity.ERROR,
        "0x80070070",
    )
    assert event.fields["update"].endswith("(KB5070773)")
