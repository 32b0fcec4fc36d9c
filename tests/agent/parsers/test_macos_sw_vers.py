"""sw_vers as macOS 14 (two tabs), 12 (one tab) and 13.4.1 with a Rapid Security Response."""

from pathlib import Path

import pytest

from agent.parsers import ParseError, macos_sw_vers

HOSTS = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"


def test_sonoma() -> None:
    parsed = macos_sw_vers.parse((HOSTS / "sim-macos14-macbook" / "sw_vers").read_text())
    assert parsed.warnings == 0
    assert parsed.value.os_name == "macOS 14.4.1 (23E224)"
    assert parsed.value.os_version == "14.4.1"
    assert parsed.value.os_family == "darwin"


def test_monterey_single_tabs() -> None:
    parsed = macos_sw_vers.parse((HOSTS / "sim-macos12-intel-imac" / "sw_vers").read_text())
    assert (parsed.value.os_name, parsed.value.os_version) == ("macOS 12.7.4 (21H1123)", "12.7.4")


def test_rapid_security_response_and_old_name() -> None:
    text = (
        "ProductName:\t\tmacOS\nProductVersion:\t\t13.4.1\n"
        "ProductVersionExtra:\t(a)\nBuildVersion:\t\t22F770820d\n"
    )
    assert macos_sw_vers.parse(text).value.os_name == "macOS 13.4.1 (a) (22F770820d)"
    catalina = "ProductName:\tMac OS X\nProductVersion:\t10.15.7\nBuildVersion:\t19H2026\n"
    assert macos_sw_vers.parse(catalina).value.os_name == "Mac OS X 10.15.7 (19H2026)"


def test_unknown_lines_are_warnings() -> None:
    parsed = macos_sw_vers.parse("ProductVersion:\t14.4.1\nsw_vers: something odd\n")
    assert parsed.warnings == 1
    assert parsed.value.os_name == "macOS 14.4.1"


def test_no_version_raises() -> None:
    with pytest.raises(ParseError):
        macos_sw_vers.parse("command not found\n")
