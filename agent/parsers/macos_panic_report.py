"""A macOS kernel panic report (/Library/Logs/DiagnosticReports) → CrashReport.

Three layouts, by macOS release:

* `.ips` (Apple silicon, macOS 12+: panic-full-*.ips, panic-base-*.ips) - two JSON
  documents, a one-line header, then the pretty-printed body with the panic text in
  `panicString` (`macOSPanicString` then holds "BAD MAGIC! ... no macOS panic log"):

    {"bug_type":"210","timestamp":"2024-05-02 08:12:44.00 +0200","os_version":"macOS 14.4.1 …}
    {
      "build" : "macOS 14.4.1 (23E224)",
      "product" : "Mac14,2",
      "date" : "2024-05-02 08:12:43.81 +0200",
      "panicString" : "panic(cpu 2 caller 0xfffffe0024a1c3f8): Kernel data abort. at pc …",
      …
    }

* `.panic` of Intel Macs from 10.15 on - the same two documents, the classic text in
  `macOSPanicString` (T2 Macs add the bridgeOS side's own `panicString`; the header's
  `caused_by` says which side panicked).
* `.panic` before 10.15 - the classic text itself:

    Anonymous UUID:       …
    Mon Jan  7 10:11:12 2019
    *** Panic Report ***
    panic(cpu 0 caller 0xffffff801a2e8d5d): Kernel trap at 0xffffff7f9f2b1234, type 14=page fault, …
    …
          Kernel Extensions in backtrace:
             com.example.driver(1.2.3)[8C6E…]@0xffffff7f9f2b0000->0xffffff7f9f2c5fff
                dependency: com.apple.iokit.IOPCIFamily(2.9)[…]@0xffffff7f9b8a9000

Apple documents the format only by example: "Kernel panic reports", Apple Platform
Deployment / Technical Note TN2063 "Understanding and Debugging Kernel Panics"
(https://developer.apple.com/library/archive/technotes/tn2063/), and the .ips JSON in
"Interpreting the JSON format of a crash report" (developer.apple.com/documentation/xcode).

Record: title = the panic line without its `panic(cpu N caller 0x…): ` preamble (the
addresses change with every boot's slide; the rest names the failure), module = the first
non-Apple kext of "Kernel Extensions in backtrace" (else the first one), time = the body's
`date` (the panic) or the header's `timestamp`. A report without a panic string still
counts as a panic (title ""), with a warning. Old text reports carry a date without a time
zone: their time_ms stays 0.
"""

from __future__ import annotations

import json
import re
from datetime import datetime

from agent.parsers import Parsed, ParseError, Warnings
from agent.records import CrashReport

PANIC_BUG_TYPE = "210"
_PREAMBLE = re.compile(r"panic\(cpu \d+ caller 0x[0-9a-f]+\):\s*|panic\(cpu \d+\):\s*")
_KEXT = re.compile(r"\s*([A-Za-z0-9_.-]+)\(([^)]*)\)\[[0-9A-Fa-f-]+\]@0x[0-9a-f]+")
_PLACEHOLDERS = ("BAD MAGIC", "not yet set", "no macOS panic log")
TITLE_MAX = 200


def parse(text: str, path: str = "") -> Parsed[CrashReport]:
    warnings = Warnings()
    stripped = text.lstrip()
    if stripped.startswith("{"):
        panic, time_ms = _ips(stripped, warnings)
    elif "panic(" in text:
        panic, time_ms = text, 0
    else:
        raise ParseError("panic report: neither an .ips report nor a panic text")
    if not panic.strip():
        warnings.add("no panic string in the report")
    report = CrashReport(
        source="macos_panic",
        kind="panic",
        time_ms=time_ms,
        title=_title(panic),
        module=_module(panic),
        path=path,
    )
    return Parsed.of(report, warnings)


def _ips(text: str, warnings: Warnings) -> tuple[str, int]:
    first, _, rest = text.partition("\n")
    try:
        header = json.loads(first)
    except json.JSONDecodeError:
        raise ParseError("panic report: the first line is not a JSON header") from None
    if not isinstance(header, dict):
        raise ParseError("panic report: the header is not a JSON object")
    if str(header.get("bug_type", PANIC_BUG_TYPE)) != PANIC_BUG_TYPE:
        warnings.add(f"bug_type {header.get('bug_type')!r:.20} is not a kernel panic (210)")
    body: dict[str, object] = {}
    if rest.strip():
        try:
            loaded = json.loads(rest)
        except json.JSONDecodeError as exc:
            warnings.add(f"body is not JSON (truncated report?): {exc.msg} at line {exc.lineno}")
        else:
            if isinstance(loaded, dict):
                body = loaded
            else:
                warnings.add("body is not a JSON object")
    else:
        warnings.add("no body after the header")
    panic = _panic_string(header, body)
    time_ms = _time_ms(body.get("date")) or _time_ms(header.get("timestamp")) or 0
    if not time_ms:
        warnings.add("no usable date or timestamp")
    return panic, time_ms


def _panic_string(header: dict[str, object], body: dict[str, object]) -> str:
    keys = ["panicString", "macOSPanicString"]
    if header.get("caused_by") == "macos":
        keys.reverse()
    for key in keys:
        value = body.get(key)
        if isinstance(value, str) and value.strip() and not value.startswith(_PLACEHOLDERS):
            return value
    return ""


def _title(panic: str) -> str:
    lines = [line.strip() for line in panic.splitlines() if line.strip()]
    line = next((li for li in lines if li.startswith("panic(")), lines[0] if lines else "")
    return _PREAMBLE.sub("", line, count=1)[:TITLE_MAX]


def _module(panic: str) -> str:
    lines = panic.splitlines()
    start = next((i for i, li in enumerate(lines) if "Kernel Extensions in backtrace" in li), None)
    if start is None:
        return ""
    kexts: list[str] = []
    for line in lines[start + 1 :]:
        if "dependency:" in line:
            continue
        match = _KEXT.match(line)
        if match is None:
            break
        kexts.append(match.group(1))
    third_party = [k for k in kexts if not k.startswith("com.apple.")]
    return (third_party or kexts or [""])[0]


def _time_ms(value: object) -> int:
    """`2024-05-02 08:12:43.81 +0200`; 0 when absent or not in that form."""
    if not isinstance(value, str):
        return 0
    for layout in ("%Y-%m-%d %H:%M:%S.%f %z", "%Y-%m-%d %H:%M:%S %z"):
        try:
            return int(datetime.strptime(value.strip(), layout).timestamp() * 1000)
        except ValueError:
            continue
    return 0
