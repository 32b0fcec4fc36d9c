"""kmutil showloaded and kextstat tables: Apple and third-party kexts, chatter, garbage."""

from pathlib import Path

import pytest

from agent.parsers import ParseError, macos_kextstat
from agent.records import DriverInfo

HOSTS = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"


def test_kmutil_with_a_third_party_kext() -> None:
    parsed = macos_kextstat.parse((HOSTS / "sim-macos14-macbook" / "kmutil_showloaded").read_text())
    assert parsed.warnings == 0
    assert len(parsed.value) == 19
    assert parsed.value[0] == DriverInfo("com.apple.kpi.bsd", "23.4.0", "Apple")
    assert parsed.value[-1] == DriverInfo("com.acme.driver.AcmeUSBSerial", "2.1.7", "com.acme")


def test_kextstat_says_it_runs_kmutil() -> None:
    text = (HOSTS / "sim-macos12-intel-imac" / "kextstat").read_text()
    assert text.startswith("Executing: /usr/bin/kmutil showloaded")
    parsed = macos_kextstat.parse(text)
    assert parsed.warnings == 0
    assert {d.provider for d in parsed.value} == {"Apple"}
    assert ("com.apple.filesystems.apfs", "1934.141.2") in {
        (d.name, d.version) for d in parsed.value
    }


def test_pre_big_sur_row_without_linked_list_and_garbage() -> None:
    text = (
        "Index Refs Address            Size       Wired      Name (Version) UUID <Linked Against>\n"
        "  150    0 0xffffff7f84b1e000 0x5000     0x5000     com.vmware.kext.vmx86 (1.0.5) "
        "5A8E2C1B-3F4D-3E6A-9B7C-1D2E3F4A5B6C <7 5 4 3 1>\n"
        "  151    0 0xffffff7f84b23000 0x2000     0x2000     org.virtualbox.kext.VBoxUSB (6.1.50)\n"
        "Error: kmutil: permission denied\n"
    )
    parsed = macos_kextstat.parse(text)
    assert [(d.name, d.provider) for d in parsed.value] == [
        ("com.vmware.kext.vmx86", "com.vmware"),
        ("org.virtualbox.kext.VBoxUSB", "org.virtualbox"),
    ]
    assert parsed.warnings == 1


def test_no_table_raises() -> None:
    with pytest.raises(ParseError):
        macos_kextstat.parse("zsh: command not found: kmutil\n")
