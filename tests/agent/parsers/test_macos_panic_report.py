"""Kernel panic reports: the Apple silicon .ips of the MacBook fixture, an Intel 10.15+
.panic (JSON with macOSPanicString), a pre-Catalina text .panic, and broken ones."""

import json
from pathlib import Path

import pytest

from agent.parsers import ParseError
from agent.parsers import macos_panic_report as panic

HOSTS = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"
IPS = HOSTS / "sim-macos14-macbook" / "panic_report.panic-full-2024-05-02-081243.0002.ips"

CLASSIC = """panic(cpu 2 caller 0xffffff801b2e8d5d): Kernel trap at 0xffffff7f9f2b1234, type 14=page fault, registers:
CR0: 0x000000008001003b, CR2: 0x0000000000000018, CR3: 0x000000004b6e1000, CR4: 0x00000000003626e0
Backtrace (CPU 2), Frame : Return Address
0xffffffa0b2c3b6e0 : 0xffffff801b2aea9d mach_kernel : _handle_debugger_trap + 0x41d
      Kernel Extensions in backtrace:
         com.apple.iokit.IOPCIFamily(2.9)[5D2C9F1E-3A4B-3C5D-8E6F-7A8B9C0D1E2F]@0xffffff7f9b8a9000->0xffffff7f9b8d8fff
         com.example.driver.FooNIC(1.2.3)[8C6E1A2B-3C4D-3E5F-9A0B-1C2D3E4F5A6B]@0xffffff7f9f2b0000->0xffffff7f9f2c5fff
            dependency: com.apple.iokit.IOPCIFamily(2.9)[5D2C9F1E-3A4B-3C5D-8E6F-7A8B9C0D1E2F]@0xffffff7f9b8a9000

BSD process name corresponding to current thread: kernel_task

Mac OS version:
21G115
"""  # noqa: E501 (the report's own lines)


def test_apple_silicon_ips() -> None:
    path = "/Library/Logs/DiagnosticReports/" + IPS.name.removeprefix("panic_report.")
    parsed = panic.parse(IPS.read_text(), path=path)
    assert parsed.warnings == 0
    report = parsed.value
    assert (report.source, report.kind, report.path) == ("macos_panic", "panic", path)
    assert report.title.startswith("Kernel data abort. at pc 0xfffffe00271d4a2c")
    assert report.module == "com.acme.driver.AcmeUSBSerial"
    assert report.time_ms == 1_714_630_363_810  # the body's date, 08:12:43.81 +0200


def test_intel_catalina_and_later_json_panic() -> None:
    header = {
        "caused_by": "macos",
        "macos_version": "macOS 12.6 (21G115)",
        "bug_type": "210",
        "timestamp": "2022-10-03 14:05:11.00 +0200",
        "incident_id": "0F1E2D3C-4B5A-4968-8776-655443322110",
    }
    body = {"macOSProcessedStackshotData": "c3RhY2tzaG90", "macOSPanicString": CLASSIC}
    report = panic.parse(json.dumps(header) + "\n" + json.dumps(body)).value
    assert report.title.startswith("Kernel trap at 0xffffff7f9f2b1234, type 14=page fault")
    assert report.module == "com.example.driver.FooNIC"  # the first non-Apple kext
    assert report.time_ms == 1_664_798_711_000  # the header's timestamp: no body date


def test_pre_catalina_text() -> None:
    text = "Anonymous UUID:  1A2B\n\nMon Jan  7 10:11:12 2019\n\n*** Panic Report ***\n" + CLASSIC
    parsed = panic.parse(text)
    assert parsed.value.module == "com.example.driver.FooNIC"
    assert parsed.value.time_ms == 0  # a local date without a zone
    assert parsed.warnings == 0


def test_watchdog_panic_without_kexts() -> None:
    body = {
        "panicString": "panic(cpu 0 caller 0xfffffe0038b64a34): userspace watchdog timeout: "
        "no successful checkins from WindowServer\nservice: logd"
    }
    report = panic.parse('{"bug_type":"210"}\n' + json.dumps(body)).value
    assert report.title == "userspace watchdog timeout: no successful checkins from WindowServer"
    assert report.module == ""


def test_report_without_a_panic_string() -> None:
    header = '{"bug_type":"210","timestamp":"2024-05-02 08:12:43.00 +0200"}'
    body = {"macOSPanicString": "BAD MAGIC! (flag set in iBoot panic header), no macOS panic log"}
    parsed = panic.parse(header + "\n" + json.dumps(body))
    assert (parsed.value.kind, parsed.value.title, parsed.value.module) == ("panic", "", "")
    assert parsed.value.time_ms == 1_714_630_363_000
    assert parsed.warnings == 1


def test_truncated_body_keeps_the_header() -> None:
    text = IPS.read_text()
    parsed = panic.parse(text[:4000])
    assert parsed.value.title == ""
    assert parsed.value.time_ms == 1_714_630_363_000
    assert parsed.warnings == 2  # body not JSON, no panic string


def test_not_a_panic_bug_type_is_a_warning() -> None:
    parsed = panic.parse('{"bug_type":"288"}\n{"panicString":"panic(cpu 1): stackshot"}')
    assert parsed.value.title == "stackshot"
    assert parsed.warnings == 2  # bug type, no date


def test_not_a_report_raises() -> None:
    with pytest.raises(ParseError):
        panic.parse("hello\n")
    with pytest.raises(ParseError):
        panic.parse("{not json\n{}")
