"""`smartctl -x <dev>` text report → SmartDevice, for ATA, NVMe and SCSI devices.

The fallback where `--json` is missing (smartctl < 7.0). The report is a banner, then
sections; the ones read here (smartctl 6.x-7.5, https://www.smartmontools.org/wiki/
and smartctl(8), https://www.smartmontools.org/browser/trunk/smartmontools/smartctl.8.in):

    smartctl 7.1 2020-06-20 r5066 [x86_64-linux-3.10.0-1127...] (local build)
    === START OF INFORMATION SECTION ===
    Device Model:     HGST HDN721010ALE604        ATA  (NVMe: Model Number; SCSI: Vendor+Product)
    Firmware Version: 83XN                        ATA, NVMe (SCSI: Revision)
    === START OF READ SMART DATA SECTION ===
    SMART overall-health self-assessment test result: PASSED    ATA, NVMe ("FAILED!")
    SMART Health Status: OK                                     SCSI (anything else: failed)
    ID# ATTRIBUTE_NAME          FLAGS    VALUE WORST THRESH FAIL RAW_VALUE          -x
      5 Reallocated_Sector_Ct   PO--CK   100   100   005    -    0
    ID# ATTRIBUTE_NAME          FLAG     VALUE WORST THRESH TYPE      UPDATED  WHEN_FAILED RAW_VALUE
      5 Reallocated_Sector_Ct   0x0033   100   100   036    Pre-fail  Always       -       0  (-A)
    Device Error Count: 13 | ATA Error Count: 5 (...) | No Errors Logged
    Num  Test_Description    Status                  Remaining  LifeTime(hours)  LBA_of_first_error
    # 1  Short offline       Completed: read failure       90%     12309         2901265099
    SMART/Health Information (NVMe Log 0x02)    Critical Warning: 0x00, Percentage Used: 18%, ...
    Elements in grown defect list: 7            SCSI; and its "Error counter log:" read/write/
                                                verify rows, last column = total uncorrected
    Accumulated power on time, hours:minutes 41724:19      SCSI (or, Seagate/Hitachi,
                                                "number of hours powered up = 533.07")

Raw values keep their leading integer ("32 (Min/Max 21/38)" → 32, "12345h+12m+10.123s" →
12345, "0/0" → 0, "0 0 0" → 0); a hex raw ("0x0000000a0b0c") is read as hex. Sections not
listed are skipped; only a row inside a table read here that does not fit the table is a
warning. The report names no device: the caller passes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agent.parsers import Parsed, ParseError, Warnings
from agent.records import SmartAttribute, SmartDevice

_BANNER = re.compile(r"smartctl\s+(?:version\s+)?\d+\.\d+")
_KEY_VALUE = re.compile(r"(\S[^:]*?):\s*(.*)")
_LEADING_INT = re.compile(r"\d[\d,]*")
_LEGEND = re.compile(r"\s+\|+_")
# SCSI, Seagate/Hitachi factory log page: "  number of hours powered up = 533.07"
_POWERED_UP = re.compile(r"\s*number of hours powered up\s*=\s*(?P<hours>\d+)")

# -x / -A -f brief: FLAGS is "PO--CK", with "+" when flag bits beyond these six are set.
_ATTR_BRIEF = re.compile(
    r"\s*(?P<id>\d{1,3})\s+(?P<name>\S+)\s+(?P<flags>[P-][O-][S-][R-][C-][K-]\+?)"
    r"\s+(?P<value>\d+|---)\s+(?P<worst>\d+|---)\s+(?P<thresh>\d+|---)"
    r"\s+(?P<fail>-|NOW|Past)\s+(?P<raw>\S.*)"
)
# -A -f old (the default of -a and of smartctl < 5.41): TYPE and UPDATED columns.
_ATTR_OLD = re.compile(
    r"\s*(?P<id>\d{1,3})\s+(?P<name>\S+)\s+(?P<flags>0x[0-9a-fA-F]{4})"
    r"\s+(?P<value>\d+|---)\s+(?P<worst>\d+|---)\s+(?P<thresh>\d+|---)"
    r"\s+(?P<type>Pre-fail|Old_age)\s+(?:Always|Offline)\s+(?P<fail>-|FAILING_NOW|In_the_past)"
    r"\s+(?P<raw>\S.*)"
)
_WHEN_FAILED = {
    "-": "",
    "NOW": "FAILING_NOW",
    "Past": "In_the_past",
    "FAILING_NOW": "FAILING_NOW",
    "In_the_past": "In_the_past",
}

# Self-test logs. Failures are the result codes smartctl itself counts as failed:
# ATA 3-8 (ataprint.cpp), NVMe 5-7 (nvmeprint.cpp), SCSI 3-7 (scsiprint.cpp).
_ATA_TEST = re.compile(r"#\s*\d+\s+(?P<text>.+?)\s+\d+%\s+(?:\d+|-)\s+\S+")
_ATA_TEST_FAILED = re.compile(r"Fatal or unknown error|Completed: .*(?:failure|damage)")
_SCSI_TEST = re.compile(r"#\s*\d+\s+(?P<text>.+?)\s+(?:-|\d+)\s+(?:NOW|-|\d+)\s+\S+\s+\[.*\]")
_SCSI_TEST_FAILED = re.compile(r"Unknown error, incomplete|segment failed|Failed in")
_NVME_TEST = re.compile(
    r"\s*\d+\s+(?:Short|Extended|Vendor specific|Unknown \(0x[0-9a-fA-F]+\))\s+(?P<text>.+?)"
    r"\s+\d+\s+\S+"
)
_NVME_TEST_FAILED = re.compile(r"Fatal or unknown test error|failed segment")

_SCSI_COUNTER = re.compile(r"(?:read|write|verify):\s+(?:\d+\s+){5}[\d.,]+\s+(?P<total>\d+)")

# smartmontools attribute 9 variants whose raw counts something other than hours.
_POWER_ON_DIVISOR = {"Power_On_Minutes": 60, "Power_On_Half_Minutes": 120, "Power_On_Seconds": 3600}


@dataclass(slots=True)
class _Facts:
    info: dict[str, str] = field(default_factory=dict)
    nvme: dict[str, str] = field(default_factory=dict)
    attributes: dict[int, SmartAttribute] = field(default_factory=dict)
    raw_text: dict[int, str] = field(default_factory=dict)
    scsi_powered_up_hours: int = 0
    nvme_log: bool = False
    scsi_uncorrected: int = 0
    selftest_failures: int = 0


def parse(text: str, device: str = "") -> Parsed[SmartDevice]:
    lines = text.splitlines()
    if not any(_BANNER.match(line) for line in lines[:5]) and "=== START OF" not in text:
        raise ParseError("smartctl: not a smartctl text report (no banner, no section header)")
    facts = _Facts()
    warnings = Warnings()
    _read(lines, facts, warnings)
    protocol = _protocol(facts)
    if not protocol:
        said = next((s.strip() for s in reversed(lines) if s.strip()), "")
        raise ParseError(f"smartctl: no device information in the report ({said[:120]})")
    return Parsed.of(_device(facts, protocol, device), warnings)


def _read(lines: list[str], facts: _Facts, warnings: Warnings) -> None:
    """One pass: a header line opens a table, a blank line closes it."""
    table = ""
    for number, line in enumerate(lines, 1):
        line = line.rstrip()
        if not line.strip():
            table = ""
            continue
        if table:
            if not _table_row(table, line, facts):
                warnings.add(f"line {number}: not a row of the {table} table: {line.strip()}")
            continue
        table = _table_header(line, facts)
        if table:
            continue
        if match := _KEY_VALUE.match(line):
            facts.info.setdefault(match.group(1), match.group(2).strip())
        elif powered_up := _POWERED_UP.match(line):
            facts.scsi_powered_up_hours = int(powered_up.group("hours"))


def _table_header(line: str, facts: _Facts) -> str:
    if line.startswith("ID# ATTRIBUTE_NAME"):
        return "attribute"
    if line.startswith("Num  Test"):
        if "Remaining" in line:
            return "ATA self-test"
        if "segment" in line:
            return "SCSI self-test"
        return "NVMe self-test"
    if line.startswith("SMART/Health Information (NVMe Log"):
        facts.nvme_log = True
        return "NVMe health"
    if line.startswith("Error counter log:"):
        return "error counter"
    return ""


def _table_row(table: str, line: str, facts: _Facts) -> bool:
    if table == "attribute":
        return _legend_or_attribute(line, facts)
    if table == "NVMe health":
        match = _KEY_VALUE.match(line)
        if match:
            facts.nvme.setdefault(match.group(1), match.group(2).strip())
        return match is not None
    if table == "error counter":
        if line[0].isspace():  # the three header lines under "Error counter log:"
            return True
        if counter := _SCSI_COUNTER.match(line):
            facts.scsi_uncorrected += int(counter.group("total"))
        return counter is not None
    if table == "SCSI self-test" and line.lstrip().startswith("Description"):
        return True  # the header's second line
    pattern, failed = {
        "ATA self-test": (_ATA_TEST, _ATA_TEST_FAILED),
        "SCSI self-test": (_SCSI_TEST, _SCSI_TEST_FAILED),
        "NVMe self-test": (_NVME_TEST, _NVME_TEST_FAILED),
    }[table]
    row = pattern.match(line)
    if row and failed.search(row.group("text")):
        facts.selftest_failures += 1
    return row is not None


def _legend_or_attribute(line: str, facts: _Facts) -> bool:
    if _LEGEND.match(line):
        return True
    row = _ATTR_BRIEF.fullmatch(line) or _ATTR_OLD.fullmatch(line)
    if row is None:
        return False
    if row.re is _ATTR_OLD:
        prefailure = row.group("type") == "Pre-fail"
    else:
        prefailure = row.group("flags").startswith("P")
    attr_id = int(row.group("id"))
    raw = row.group("raw").strip()
    # The first row of an id wins: -H lists failing rows again ("Failed Attributes:").
    facts.raw_text.setdefault(attr_id, raw)
    facts.attributes.setdefault(
        attr_id,
        SmartAttribute(
            id=attr_id,
            name=row.group("name"),
            value=_number(row.group("value")),
            worst=_number(row.group("worst")),
            threshold=_number(row.group("thresh")),
            raw=_raw(raw),
            prefailure=prefailure,
            when_failed=_WHEN_FAILED[row.group("fail")],
        ),
    )
    return True


def _protocol(facts: _Facts) -> str:
    info = facts.info
    if facts.nvme_log or "Model Number" in info or "PCI Vendor/Subsystem ID" in info:
        return "NVMe"
    # NVMe drives behind a SCSI translation layer report as SCSI, as smartctl reads them.
    if "Vendor" in info or "Product" in info or "SMART Health Status" in info:
        return "SCSI"
    if "Device Model" in info or "ATA Version is" in info or facts.attributes:
        return "ATA"
    if "SMART overall-health self-assessment test result" in info:
        return "ATA"
    return ""


def _device(facts: _Facts, protocol: str, device: str) -> SmartDevice:
    info, nvme, attrs = facts.info, facts.nvme, facts.attributes
    health = info.get("SMART overall-health self-assessment test result", "")
    if protocol == "SCSI" and "SMART Health Status" in info:
        health_known, passed = True, info["SMART Health Status"] == "OK"
    else:
        health_known = health.startswith(("PASSED", "FAILED"))
        passed = not health.startswith("FAILED")
    return SmartDevice(
        device=device,
        protocol=protocol,
        model=_model(info),
        serial=info.get("Serial Number") or info.get("Serial number", ""),
        firmware=info.get("Firmware Version") or info.get("Revision", ""),
        health_known=health_known,
        health_passed=passed,
        temperature_c=_temperature(facts),
        power_on_hours=_power_on_hours(facts),
        reallocated_sectors=_attr_raw(attrs, 5),
        pending_sectors=_attr_raw(attrs, 197),
        offline_uncorrectable=_attr_raw(attrs, 198),
        nvme_critical_warning=_hex(nvme.get("Critical Warning", "")),
        nvme_percentage_used=_number(nvme.get("Percentage Used", "")),
        reported_uncorrect=_attr_raw(attrs, 187),
        command_timeout=_attr_raw(attrs, 188),
        udma_crc_errors=_attr_raw(attrs, 199),
        nvme_media_errors=_number(nvme.get("Media and Data Integrity Errors", "")),
        nvme_available_spare=_number(nvme.get("Available Spare", "")),
        nvme_available_spare_threshold=_number(nvme.get("Available Spare Threshold", "")),
        nvme_unsafe_shutdowns=_number(nvme.get("Unsafe Shutdowns", "")),
        nvme_error_log_entries=_number(nvme.get("Error Information Log Entries", "")),
        scsi_grown_defects=_number(info.get("Elements in grown defect list", "")),
        scsi_uncorrected_errors=facts.scsi_uncorrected,
        selftest_failures=facts.selftest_failures,
        # -x prints the extended error log (Device Error Count) before the summary one.
        ata_error_count=_number(info.get("Device Error Count") or info.get("ATA Error Count", "")),
        attributes=tuple(attrs.values()),
    )


def _model(info: dict[str, str]) -> str:
    if model := info.get("Device Model") or info.get("Model Number"):
        return model
    vendor, product = info.get("Vendor", ""), info.get("Product", "")
    if vendor or product:
        return f"{vendor} {product}".strip()
    # smartctl 5.x SCSI: "Device: SEAGATE  ST3146855SS      Version: 0002"
    return info.get("Device", "").partition(" Version:")[0].strip()


def _temperature(facts: _Facts) -> int:
    for text in (
        facts.nvme.get("Temperature"),
        facts.info.get("Current Drive Temperature"),  # SCSI
        facts.info.get("Current Temperature"),  # ATA SCT Status
    ):
        if text and (value := _number(text)):
            return value
    return _attr_raw(facts.attributes, 194) or _attr_raw(facts.attributes, 190)


def _power_on_hours(facts: _Facts) -> int:
    if hours := facts.nvme.get("Power On Hours"):
        return _number(hours)
    # SCSI: "Accumulated power on time, hours:minutes 41724:19"
    if (scsi := facts.info.get("Accumulated power on time, hours", "")).startswith("minutes"):
        return _number(scsi.removeprefix("minutes"))
    attr = facts.attributes.get(9)
    if attr is None:
        return facts.scsi_powered_up_hours
    text = facts.raw_text[9]
    divisor = _POWER_ON_DIVISOR.get(attr.name, 1)
    # "1234h+56m" is already hours, whatever the attribute is named.
    return attr.raw if divisor == 1 or re.match(r"\d+h", text) else attr.raw // divisor


def _attr_raw(attrs: dict[int, SmartAttribute], attr_id: int) -> int:
    attr = attrs.get(attr_id)
    return attr.raw if attr else 0


def _raw(text: str) -> int:
    if text.startswith("0x"):
        hex_digits = re.match(r"0x([0-9a-fA-F]+)", text)
        return int(hex_digits.group(1), 16) if hex_digits else 0
    return _number(text)


def _number(text: str) -> int:
    """The leading integer, thousands separators dropped ("14,776" → 14776); 0 if none."""
    match = _LEADING_INT.match(text.strip())
    return int(match.group().replace(",", "")) if match else 0


def _hex(text: str) -> int:
    try:
        return int(text.split()[0], 16) if text else 0
    except ValueError:
        return 0
