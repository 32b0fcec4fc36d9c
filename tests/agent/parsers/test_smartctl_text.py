"""`smartctl -x` / `-a` text reports: the real ones in tests/fixtures/smart (FIXTURES.md says
where each comes from), plus small tables in the shape smartctl prints them (ataprint.cpp,
nvmeprint.cpp, scsiprint.cpp); the 1200 corpus reports are in test_smartctl_text_corpus.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.parsers import ParseError, smartctl_text
from agent.records import SmartAttribute, SmartDevice

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "smart"
BANNER = (
    "smartctl 7.1 2020-06-20 r5066 [x86_64-linux-5.4.0] (local build)\n"
    "Copyright (C) 2002-19, Bruce Allen, Christian Franke, www.smartmontools.org\n\n"
)
ATTR_HEADER = "ID# ATTRIBUTE_NAME          FLAGS    VALUE WORST THRESH FAIL RAW_VALUE\n"
ATA_TEST_HEADER = (
    "SMART Extended Self-test Log Version: 1 (1 sectors)\n"
    "Num  Test_Description    Status                  Remaining  LifeTime(hours)"
    "  LBA_of_first_error\n"
)


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text("utf-8")


def ata(body: str) -> str:
    return BANNER + "=== START OF INFORMATION SECTION ===\nDevice Model:     X\n\n" + body


def test_failing_ata_drive_in_the_x_layout() -> None:
    parsed = smartctl_text.parse(fixture("ata_st9320423as_failed_x_smartctl66.txt"))
    device = parsed.value
    assert parsed.warnings == 0
    assert device.failed
    assert (device.protocol, device.model, device.serial, device.firmware) == (
        "ATA",
        "ST9320423AS",
        "5VH4EF34",
        "D005SDM1",
    )
    assert device.device == ""  # the report names no device
    assert (device.reallocated_sectors, device.pending_sectors, device.offline_uncorrectable) == (
        1345,
        114,
        114,
    )
    assert (device.reported_uncorrect, device.command_timeout, device.udma_crc_errors) == (
        6648,
        4,
        0,
    )
    assert (device.power_on_hours, device.temperature_c) == (23079, 40)
    assert device.ata_error_count == 3448  # "Device Error Count: 3448 (device log contains ...)"
    assert device.selftest_failures == 1  # "Completed: unknown failure"
    attrs = {attr.id: attr for attr in device.attributes}
    assert len(device.attributes) == 25
    assert attrs[5] == SmartAttribute(
        id=5,
        name="Reallocated_Sector_Ct",
        value=35,
        worst=35,
        threshold=36,
        raw=1345,
        prefailure=True,
        when_failed="FAILING_NOW",
    )
    assert (attrs[190].when_failed, attrs[190].raw) == (
        "In_the_past",
        40,
    )  # "40 (Min/Max 38/40 #197)"
    assert attrs[194].raw == 40  # "40 (0 3 0 0 0)"
    assert not attrs[194].prefailure
    assert attrs[7].raw == 112700648042


def test_old_attribute_layout_with_a_prefail_attribute_failing_now() -> None:
    parsed = smartctl_text.parse(fixture("ata_hd204ui_failing_now_a_smartctl540.txt"))
    device = parsed.value
    assert parsed.warnings == 0
    assert (device.health_known, device.health_passed) == (True, False)
    attrs = {attr.id: attr for attr in device.attributes}
    assert attrs[3] == SmartAttribute(
        id=3,
        name="Spin_Up_Time",
        value=21,
        worst=21,
        threshold=25,
        raw=24193,
        prefailure=True,
        when_failed="FAILING_NOW",
    )
    assert [a.id for a in device.attributes if a.when_failed] == [3]
    assert not attrs[9].prefailure and attrs[5].prefailure
    # No SCT Status in -a: the temperature is attribute 194's "30 (Lifetime Min/Max 20/37)".
    assert (device.temperature_c, device.power_on_hours) == (30, 57)
    assert (device.ata_error_count, device.selftest_failures) == (0, 0)


def test_smartctl_5_38_banner_packed_raw_and_an_aborted_test() -> None:
    parsed = smartctl_text.parse(fixture("ata_st31500341as_failed_past_a_smartctl538.txt"))
    device = parsed.value
    assert parsed.warnings == 0
    assert device.failed and device.model == "ST31500341AS"
    assert device.reallocated_sectors == 4095
    # 5.38 prints Seagate's three packed 16-bit counters of 188 as one raw48 number.
    assert device.command_timeout == 4295032833
    assert {a.id: a.when_failed for a in device.attributes if a.when_failed} == {190: "In_the_past"}
    assert device.selftest_failures == 0  # "Aborted by host" is not a failure
    assert device.power_on_hours == 7898


def test_nvme() -> None:
    parsed = smartctl_text.parse(fixture("nvme_wds500g2b0c_a_smartctl72.txt"))
    assert parsed.warnings == 0
    assert parsed.value == SmartDevice(
        device="",
        protocol="NVMe",
        model="WDC WDS500G2B0C-00PXH0",
        serial="21122J804372",
        firmware="211210WD",
        health_known=True,
        health_passed=True,
        temperature_c=41,
        power_on_hours=2059,  # "2,059"
        nvme_critical_warning=0,
        nvme_percentage_used=1,
        nvme_available_spare=100,
        nvme_available_spare_threshold=10,
        nvme_unsafe_shutdowns=57,
        nvme_error_log_entries=1,
    )


def test_scsi_with_uncorrected_errors() -> None:
    # The guide's copy lost 4 leading spaces on the table's header lines: still no warning.
    parsed = smartctl_text.parse(fixture("scsi_hus726040als210_a_smartctl64.txt"))
    assert parsed.warnings == 0
    assert parsed.value == SmartDevice(
        device="",
        protocol="SCSI",
        model="HGST HUS726040ALS210",
        serial="K4GW439B",
        firmware="A907",
        health_known=True,
        health_passed=True,
        temperature_c=34,
        scsi_grown_defects=0,
        scsi_uncorrected_errors=5580 + 2569,
    )


SCSI_7 = (
    BANNER + "=== START OF INFORMATION SECTION ===\n"
    "Vendor:               SAMSUNG\n"
    "Product:              MZILT3T8HBLS/007\n"
    "Revision:             GXF0\n"
    "Serial number:        S5JFNA0R500833\n"
    "Device type:          disk\n"
    "Transport protocol:   SAS (SPL-4)\n\n"
    "=== START OF READ SMART DATA SECTION ===\n"
    "SMART Health Status: OK\n\n"
    "Percentage used endurance indicator: 0%\n"
    "Current Drive Temperature:     31 C\n"
    "Accumulated power on time, hours:minutes 41724:19\n"
    "Elements in grown defect list: 3\n\n"
    "Error counter log:\n"
    "           Errors Corrected by           Total   Correction     Gigabytes    Total\n"
    "               ECC          rereads/    errors   algorithm      processed    uncorrected\n"
    "           fast | delayed   rewrites  corrected  invocations   [10^9 bytes]  errors\n"
    "read:          0        0         0         0          0      70511.679           0\n"
    "write:         0        0         0         0          0       6361.349           0\n"
    "verify:        0        0         0         0          0     347664.599           2\n\n"
    "Non-medium error count:     1061\n"
)


def test_scsi_power_on_time_defects_and_verify_errors() -> None:
    parsed = smartctl_text.parse(SCSI_7)
    device = parsed.value
    assert parsed.warnings == 0
    assert (device.model, device.firmware, device.serial) == (
        "SAMSUNG MZILT3T8HBLS/007",
        "GXF0",
        "S5JFNA0R500833",
    )
    assert (device.power_on_hours, device.temperature_c) == (41724, 31)
    assert (device.scsi_grown_defects, device.scsi_uncorrected_errors) == (3, 2)


def test_scsi_power_on_hours_from_the_seagate_factory_page() -> None:
    text = SCSI_7.replace("Accumulated power on time, hours:minutes 41724:19\n", "") + (
        "\nVendor (Seagate/Hitachi) factory information\n"
        "  number of hours powered up = 533.07\n"
        "  number of minutes until next internal SMART test = 112\n"
    )
    assert smartctl_text.parse(text).value.power_on_hours == 533


def test_a_garbled_error_counter_row_is_a_warning() -> None:
    parsed = smartctl_text.parse(SCSI_7.replace("write:         0", "write:   ?"))
    assert parsed.warnings == 1
    assert parsed.value.scsi_uncorrected_errors == 2


def test_the_caller_names_the_device() -> None:
    text = fixture("nvme_wds500g2b0c_a_smartctl72.txt")
    assert smartctl_text.parse(text, device="/dev/nvme0").value.device == "/dev/nvme0"


def test_crlf_line_ends_read_the_same() -> None:
    text = fixture("ata_st9320423as_failed_x_smartctl66.txt")
    assert smartctl_text.parse(text.replace("\n", "\r\n")) == smartctl_text.parse(text)


def test_truncated_inside_the_attribute_table() -> None:
    text = fixture("ata_st9320423as_failed_x_smartctl66.txt")
    cut = text[: text.index("197 Current_Pending_Sector") + 40]
    parsed = smartctl_text.parse(cut)
    assert parsed.warnings == 1
    assert parsed.examples[0].startswith(
        "line 87: not a row of the attribute table: 197 Current_Pending_Sector"
    )
    device = parsed.value
    assert device.failed and device.reallocated_sectors == 1345
    assert device.pending_sectors == 0 and 197 not in {a.id for a in device.attributes}
    assert device.selftest_failures == 0  # the log was cut off


def test_garbled_rows_in_read_tables_are_counted_and_skipped() -> None:
    text = fixture("ata_st9320423as_failed_x_smartctl66.txt")
    text = text.replace(
        "188 Command_Timeout", "188 Command_Timeout ### garbled\n188 Command_Timeout"
    )
    text = text.replace("# 2  Short offline", "#?? nonsense\n# 2  Short offline")
    parsed = smartctl_text.parse(text)
    assert parsed.warnings == 2
    assert "188 Command_Timeout ### garbled" in parsed.examples[0]
    assert "#?? nonsense" in parsed.examples[1]
    assert parsed.value.command_timeout == 4
    assert parsed.value.selftest_failures == 1


def test_lines_outside_read_tables_are_not_warnings() -> None:
    text = fixture("ata_st9320423as_failed_x_smartctl66.txt") + "\nSomething new in 8.0: 42\n"
    assert smartctl_text.parse(text).warnings == 0


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0", 0),
        ("32 (Min/Max 21/38)", 32),
        ("12885098497", 12885098497),
        ("0/0", 0),
        ("0 0 0", 0),
        ("447 (Average 403)", 447),
        ("12345h+12m+10.123s", 12345),
        ("0x00000000646300", 0x646300),
        ("0x000000000000", 0),
    ],
)
def test_raw_value_is_the_leading_integer(raw: str, expected: int) -> None:
    row = f"194 Temperature_Celsius     -O---K   100   100   000    -    {raw}\n"
    device = smartctl_text.parse(ata(ATTR_HEADER + row)).value
    assert device.attributes[0].raw == expected


@pytest.mark.parametrize(
    ("row", "hours"),
    [
        ("  9 Power_On_Hours          -O--CK   074   074   000    -    23079", 23079),
        ("  9 Power_On_Hours_and_Msec -O--CK   100   100   000    -    1234h+05m+01.020s", 1234),
        ("  9 Power_On_Minutes        -O--CK   100   100   000    -    600", 10),
        ("  9 Power_On_Minutes        -O--CK   100   100   000    -    1234h+05m", 1234),
        ("  9 Power_On_Half_Minutes   -O--CK   100   100   000    -    2400", 20),
        ("  9 Power_On_Seconds        -O--CK   100   100   000    -    7200", 2),
    ],
)
def test_power_on_hours_from_attribute_9(row: str, hours: int) -> None:
    assert smartctl_text.parse(ata(ATTR_HEADER + row + "\n")).value.power_on_hours == hours


def test_flags_beyond_the_six_named_ones() -> None:
    row = "  5 Reallocated_Sector_Ct   PO--CK+  100   100   010    -    704\n"
    device = smartctl_text.parse(ata(ATTR_HEADER + row)).value
    assert (device.reallocated_sectors, device.attributes[0].prefailure) == (704, True)


# The status strings of ataprint.cpp; 3-8 are failures.
@pytest.mark.parametrize(
    ("status", "failed"),
    [
        ("Completed without error      ", False),
        ("Aborted by host              ", False),
        ("Interrupted (host reset)     ", False),
        ("Fatal or unknown error       ", True),
        ("Completed: unknown failure   ", True),
        ("Completed: electrical failure", True),
        ("Completed: servo/seek failure", True),
        ("Completed: read failure      ", True),
        ("Completed: handling damage?? ", True),
        ("Self-test routine in progress", False),
    ],
)
def test_ata_self_test_results(status: str, failed: bool) -> None:
    row = f"# 1  Extended offline    {status} 90%     12309         2901265099\n"
    parsed = smartctl_text.parse(ata(ATA_TEST_HEADER + row))
    assert (parsed.warnings, parsed.value.selftest_failures) == (0, int(failed))


def test_scsi_self_test_failures() -> None:
    # Rows as printed by smartctl 7.x (scsiprint.cpp: result codes 3-7 are failures).
    text = (
        BANNER + "Vendor:               HGST\nProduct:              H7280A520SUN8.0T\n\n"
        "SMART Self-test log\n"
        "Num  Test              Status                 segment  LifeTime  LBA_first_err"
        " [SK ASC ASQ]\n"
        "     Description                              number   (hours)\n"
        "# 1  Background long   Failed in segment -->       3   47877                 -"
        " [0x1 0xb 0x97]\n"
        "# 2  Background long   Failed in segment -->       6   47877         764900874"
        " [0x3 0x5d 0x1]\n"
        "# 3  Background long   Aborted (device reset ?)    -   49296                 -"
        " [-   -    -]\n"
        "# 4  Background short  Completed                   -   41724                 -"
        " [-   -    -]\n"
    )
    parsed = smartctl_text.parse(text)
    assert (parsed.warnings, parsed.value.selftest_failures) == (0, 2)
    assert (parsed.value.protocol, parsed.value.health_known) == ("SCSI", False)


def test_nvme_self_test_log_and_failed_health() -> None:
    # nvmeprint.cpp: a non-zero critical warning prints FAILED! and one line per bit.
    text = (
        BANNER + "=== START OF INFORMATION SECTION ===\n"
        "Model Number:                       Samsung SSD 980 PRO 1TB\n\n"
        "=== START OF SMART DATA SECTION ===\n"
        "SMART overall-health self-assessment test result: FAILED!\n"
        "- NVM subsystem reliability has been degraded\n\n"
        "SMART/Health Information (NVMe Log 0x02)\n"
        "Critical Warning:                   0x04\n"
        "Percentage Used:                    103%\n"
        "Media and Data Integrity Errors:    1,234\n\n"
        "Self-test Log (NVMe Log 0x06)\n"
        "Self-test status: No self-test in progress\n"
        "Num  Test_Description  Status                       Power_on_Hours  Failing_LBA  NSID"
        " Seg SCT Code\n"
        " 0   Short             Completed: failed segments             1796            -     1"
        "   2 0x0 0x07\n"
        " 1   Extended          Fatal or unknown test error            1773            -     -"
        "   -   -    -\n"
        " 2   Short             Aborted: Controller Reset              1749            -     -"
        "   -   -    -\n"
        " 3   Short             Completed without error                1639            -     -"
        "   -   -    -\n"
    )
    parsed = smartctl_text.parse(text)
    device = parsed.value
    assert parsed.warnings == 0
    assert device.failed and device.protocol == "NVMe"
    assert (device.nvme_critical_warning, device.nvme_percentage_used) == (4, 103)
    assert (device.nvme_media_errors, device.selftest_failures) == (1234, 2)


@pytest.mark.parametrize(
    ("health", "known", "passed"),
    [
        ("SMART Health Status: OK", True, True),
        (
            "SMART Health Status: FAILURE PREDICTION THRESHOLD EXCEEDED [asc=5d, ascq=10]",
            True,
            False,
        ),
        ("", False, True),
    ],
)
def test_scsi_health(health: str, known: bool, passed: bool) -> None:
    text = BANNER + "Vendor:               SEAGATE\nProduct:              ST4000NM0043\n\n" + health
    device = smartctl_text.parse(text).value
    assert (device.protocol, device.health_known, device.health_passed) == ("SCSI", known, passed)


def test_no_health_line_is_unknown_not_failed() -> None:
    device = smartctl_text.parse(ata(ATTR_HEADER)).value
    assert (device.health_known, device.failed) == (False, False)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not a smartctl text report"),
        ('{"smartctl": {"exit_status": 0}}', "not a smartctl text report"),
        ("Linux version 6.1.0-18-amd64\n", "not a smartctl text report"),
        (
            BANNER + "Smartctl open device: /dev/sda failed: Permission denied\n",
            r"no device information .*Permission denied",
        ),
    ],
)
def test_not_a_report(text: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        smartctl_text.parse(text)


def test_rows_repeated_by_the_health_check_count_once() -> None:
    # -H repeats failing or marginal rows above the main table (ataprint.cpp).
    old_header = (
        "ID# ATTRIBUTE_NAME          FLAG     VALUE WORST THRESH TYPE      UPDATED"
        "  WHEN_FAILED RAW_VALUE\n"
    )
    row = (
        "203 Run_Out_Cancel          0x000b   253   096   180    Pre-fail  Always"
        "   In_the_past 24\n"
    )
    text = ata(
        "SMART overall-health self-assessment test result: PASSED\n"
        "Please note the following marginal Attributes:\n" + old_header + row + "\n"
        "Vendor Specific SMART Attributes with Thresholds:\n" + old_header + row
    )
    device = smartctl_text.parse(text).value
    assert [(a.id, a.when_failed, a.prefailure) for a in device.attributes] == [
        (203, "In_the_past", True)
    ]
