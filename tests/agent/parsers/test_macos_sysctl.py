"""sysctl `name: value` lines from both fixture Macs, and garbled ones."""

from pathlib import Path

import pytest

from agent.parsers import ParseError, macos_sysctl

HOSTS = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"


def test_apple_silicon_inventory() -> None:
    parsed = macos_sysctl.parse((HOSTS / "sim-macos14-macbook" / "sysctl").read_text())
    inv = parsed.value
    assert parsed.warnings == 0
    assert inv.hostname == "ws-sales-07"
    assert (inv.kernel, inv.arch, inv.cpu_model) == ("23.4.0", "arm64", "Apple M2")
    assert (inv.cpu_cores, inv.memory_bytes) == (8, 17_179_869_184)
    assert inv.boot_time_unix == 1_714_630_390
    assert inv.vendor == "Apple Inc. Mac14,2"


def test_intel_and_boot() -> None:
    text = (HOSTS / "sim-macos12-intel-imac" / "sysctl").read_text()
    assert macos_sysctl.parse(text).value.arch == "x86_64"
    boot = macos_sysctl.parse_boot(text).value
    assert boot.boot_id == "2e9a4c61-7b3d-4f05-8c1a-d6e2b9f04a73"
    assert boot.boot_time_unix == 1_710_140_321


def test_rosetta_sees_x86_64_but_the_cpu_is_apple() -> None:
    text = "hw.machine: x86_64\nmachdep.cpu.brand_string: Apple M1 Pro\nkern.hostname: a\n"
    assert macos_sysctl.parse(text).value.arch == "arm64"


def test_garbled_values_are_warnings() -> None:
    text = (
        "kern.hostname: ws-1\nhw.ncpu: eight\nkern.boottime: not a timeval\n"
        "sysctl: unknown oid 'kern.bootsessionuuid'\n"
    )
    parsed = macos_sysctl.parse(text)
    assert parsed.warnings == 3
    assert (parsed.value.cpu_cores, parsed.value.boot_time_unix) == (0, 0)
    assert parsed.value.hostname == "ws-1"


def test_nothing_usable_raises() -> None:
    with pytest.raises(ParseError):
        macos_sysctl.parse("\n")
