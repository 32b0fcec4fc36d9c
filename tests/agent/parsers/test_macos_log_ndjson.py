"""`log show --style ndjson` lines: shutdown causes, kernel disk errors, the preamble, the
closing record, and lines that are not JSON."""

import json
from pathlib import Path

from agent.parsers import macos_log_ndjson as ndjson
from agent.records import Severity

HOSTS = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"
MACBOOK = HOSTS / "sim-macos14-macbook"
IMAC = HOSTS / "sim-macos12-intel-imac"
SMC = "/System/Library/Extensions/AppleSMC.kext/Contents/MacOS/AppleSMC"
END = '{"count":1,"finished":1}'


def _line(
    message: str, sender: str = "/kernel", ts: str = "2024-03-11 07:58:53.412906+0100"
) -> str:
    entry = {
        "timestamp": ts,
        "eventType": "logEvent",
        "messageType": "Default",
        "processID": 0,
        "processImagePath": "/kernel",
        "senderImagePath": sender,
        "eventMessage": message,
    }
    return json.dumps(entry).replace("/", "\\/")


def test_clean_cause_from_the_imac() -> None:
    parsed = ndjson.parse((IMAC / "log_shutdown_cause").read_text())
    assert parsed.warnings == 0
    (event,) = parsed.value
    assert (event.kind, event.severity, event.source) == (
        "boot.clean_shutdown",
        Severity.INFO,
        "macos",
    )
    assert event.time_ms == 1_710_140_333_412
    assert dict(event.fields) == {
        "cause": "5",
        "meaning": "shutdown cause 5: normal shutdown or restart from macOS",
        "sender": "AppleSMC",
        "process": "kernel",
    }


def test_apple_silicon_logs_no_cause() -> None:
    parsed = ndjson.parse((MACBOOK / "log_shutdown_cause").read_text())
    assert parsed.value == () and parsed.warnings == 0  # the Filtering line is known


def test_unclean_causes() -> None:
    text = "\n".join(
        [
            _line("Previous shutdown cause: -128", SMC),
            _line("Previous shutdown cause: 3", SMC),
            _line("Previous shutdown cause: -74", SMC),
            END,
        ]
    )
    events = ndjson.parse(text).value
    assert [(e.kind, e.fields["cause"], e.severity) for e in events] == [
        ("boot.unexpected_shutdown", "-128", Severity.ERROR),
        ("boot.unexpected_shutdown", "3", Severity.WARNING),
        ("boot.unexpected_shutdown", "-74", Severity.ERROR),
    ]
    assert events[0].fields["meaning"].endswith("hardware-related shutdown of unknown cause")
    assert events[2].fields["meaning"] == "shutdown cause -74: hardware-initiated (SMC)"


def test_disk_errors_from_the_imac() -> None:
    events = ndjson.parse((IMAC / "log_disk_errors").read_text()).value
    assert [(e.kind, e.fields["device"]) for e in events] == [("disk.io_error", "disk0s2")] * 3
    assert events[0].message == "disk0s2: I/O error."
    assert events[0].severity == Severity.ERROR


def test_apfs_and_nvme_messages() -> None:
    apfs = "/System/Library/Extensions/apfs.kext/Contents/MacOS/apfs"
    nvme = "/System/Library/Extensions/IONVMeFamily.kext/Contents/MacOS/IONVMeFamily"
    text = "\n".join(
        [
            _line("apfs_vnop_read: disk3s5 read error 5", apfs),
            _line("IONVMeController::Controller reset complete", nvme),
            _line("apfs_vfsop_mount: mounted disk3s5", apfs),  # no error: skipped
            END,
        ]
    )
    events = ndjson.parse(text).value
    assert [(e.kind, e.fields.get("fs", ""), e.fields["device"]) for e in events] == [
        ("disk.fs_error", "apfs", "disk3s5"),
        ("disk.nvme_reset", "", ""),
    ]


def test_lines_that_are_not_json_and_a_missing_end() -> None:
    text = "\n".join(
        [
            _line("disk2s1: I/O error."),
            '{"timestamp":"2024-03-11 07:58:5',  # cut off mid-line
            "log: Could not open log archive",
            '["a list"]',
            _line("Previous shutdown cause: 0", SMC, ts="yesterday"),
            json.dumps({"eventType": "logEvent"}),
        ]
    )
    parsed = ndjson.parse(text)
    assert [e.fields["device"] for e in parsed.value] == ["disk2s1"]
    # two non-JSON lines, a non-object, a bad timestamp, no eventMessage, no closing record
    assert parsed.warnings == 6


def test_output_without_its_closing_record_was_cut_short() -> None:
    parsed = ndjson.parse(_line("disk0s1: I/O error."))
    assert len(parsed.value) == 1
    assert parsed.warnings == 1 and "cut short" in parsed.examples[0]


def test_activity_events_are_skipped() -> None:
    activity = json.dumps({"eventType": "activityCreateEvent", "eventMessage": "disk0: I/O error"})
    assert ndjson.parse(activity + "\n" + END).value == ()
