"""The redaction stage: what it removes, what it hashes, and what it must leave alone."""

from __future__ import annotations

import pytest

from agent.records import (
    CrashReport,
    Device,
    DnsConfig,
    Event,
    NetInterface,
    ProbeError,
    Route,
    Severity,
    SmartDevice,
    Snapshot,
    Volume,
)
from agent.redact import RedactionPolicy, Redactor

DEFAULT = Redactor()
HASHING = Redactor(RedactionPolicy(hash_serials=True, hash_ips=True, salt="fleet-salt"))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/home/jdoe/.cache/x", "/home/<user>/.cache/x"),
        ("/var/home/jdoe/x", "/var/home/<user>/x"),
        ("/media/jdoe/USB STICK", "/media/<user>/USB STICK"),
        ("/run/media/jdoe/disk", "/run/media/<user>/disk"),
        ("/Users/Jane.Doe/Library/Logs", "/Users/<user>/Library/Logs"),
        (r"C:\Users\jdoe\AppData\Local\Temp", r"C:\Users\<user>\AppData\Local\Temp"),
        (r"c:\users\JDOE\ntuser.dat", r"c:\users\<user>\ntuser.dat"),
        (r"C:\Documents and Settings\jdoe\x", r"C:\Documents and Settings\<user>\x"),
        # Profile folders that are not people stay, so paths keep their meaning.
        (r"C:\Users\Public\Desktop", r"C:\Users\Public\Desktop"),
        ("/Users/Shared/x", "/Users/Shared/x"),
        ("mail from jane.doe+tag@corp.example.co.uk failed", "mail from <email> failed"),
        ("/home", "/home"),
    ],
)
def test_text_removes_user_names_and_addresses(raw: str, expected: str) -> None:
    assert DEFAULT.text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "secret"),
    [
        ("mount.cifs: password=Hunter2! user=x", "Hunter2!"),
        ("curl -H 'Authorization: Bearer abcdef0123456789xyz'", "abcdef0123456789xyz"),
        ("GET https://svc/api?api_key=s3cr3tK3y&x=1", "s3cr3tK3y"),
        ("proxy http://bob:pa55word@proxy.corp:3128", "pa55word"),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJlX2hlcmU",
            "eyJhbGciOiJIUzI1NiJ9",
        ),
        ("aws AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE"),
        (
            "key Zm9vYmFyQmF6UXV4MTIzNDU2Nzg5MGFiY2RlZkdISUo=",
            "Zm9vYmFyQmF6UXV4MTIzNDU2Nzg5MGFiY2RlZkdISUo",
        ),
    ],
)
def test_free_text_removes_secret_looking_tokens(raw: str, secret: str) -> None:
    out = DEFAULT.free_text(raw)
    assert secret not in out
    assert "<redacted>" in out


@pytest.mark.parametrize(
    "line",
    [
        "RIP: 0010:__schedule+0x2a1/0x8f0 ffffffff81c3a2b1",
        "EXT4-fs (sda1): mounted filesystem 8f1d3c2e-4b5a-4c6d-9e7f-0123456789ab",
        "boot 20b1fc2b236e42888418d8fd4483deb8 started",
        "nvme nvme0: I/O 123 QID 4 timeout, aborting",
        "sd 2:0:0:0: [sda] tag#0 FAILED Result: hostbyte=DID_OK driverbyte=DRIVER_OK",
    ],
)
def test_free_text_keeps_the_evidence_of_kernel_lines(line: str) -> None:
    assert DEFAULT.free_text(line) == line


def test_hashes_are_stable_keyed_and_keep_prefixes() -> None:
    other = Redactor(RedactionPolicy(hash_ips=True, hash_serials=True, salt="another"))
    assert HASHING.ip("10.0.0.53") == HASHING.ip("10.0.0.53")
    assert HASHING.ip("10.0.0.53") != other.ip("10.0.0.53")
    assert HASHING.ip("10.0.0.53").startswith("h:")
    assert HASHING.ip("192.168.1.7/24").endswith("/24")
    assert HASHING.ip("fe80::1%eth0").startswith("h:")
    # Loopback and the unspecified address identify nobody.
    assert HASHING.ip("127.0.0.1") == "127.0.0.1"
    assert HASHING.ip("::1") == "::1"
    assert HASHING.serial("S4EWNX0N123456") != "S4EWNX0N123456"
    # Hashing is off by default.
    assert DEFAULT.ip("10.0.0.53") == "10.0.0.53"
    assert DEFAULT.serial("S4EWNX0N123456") == "S4EWNX0N123456"


def test_ips_in_free_text_are_hashed_but_times_and_macs_are_not() -> None:
    out = HASHING.free_text("10:00:01 dhcp ack 10.1.2.3 from 52:54:00:12:34:56 via 2001:db8::53")
    assert "10.1.2.3" not in out and "2001:db8::53" not in out
    assert "10:00:01" in out and "52:54:00:12:34:56" in out


def test_record_walks_every_nested_record() -> None:
    snap = Snapshot(
        taken_at_ms=1,
        volumes=(Volume("/home/jdoe", "/dev/sda2", "ext4", 1, 1, 1),),
        smart=(SmartDevice("/dev/sda", "ATA", serial="WD-WCC4E1234567"),),
        interfaces=(NetInterface("eth0", addresses=("10.0.0.5/24", "fe80::5/64")),),
        routes=(Route("default", "10.0.0.1", "eth0"),),
        dns=DnsConfig(servers=("10.0.0.53",), search=("corp.example",)),
        errors=(ProbeError("disk", "error", "/home/jdoe: token=abcdefgh"),),
    )
    out = HASHING.record(snap)
    assert out.volumes[0].mount == "/home/<user>"
    assert out.smart[0].serial.startswith("h:")
    assert all(a.startswith("h:") for a in out.interfaces[0].addresses)
    assert out.routes[0].gateway.startswith("h:")
    assert out.dns is not None and out.dns.servers[0].startswith("h:")
    assert out.dns.search == ("corp.example",)
    assert out.errors[0].message == "/home/<user>: token=<redacted>"
    # The same gateway hashes the same in every record: the collector can still group.
    assert out.routes[0].gateway == HASHING.ip("10.0.0.1")


def test_event_fields_and_crash_titles_are_free_text() -> None:
    event = Event(
        1,
        "winevent",
        "disk.bad_block",
        Severity.ERROR,
        message=r"The device \Device\Harddisk0\DR0 has a bad block; user jdoe@corp.example",
        fields={"ImagePath": r"C:\Users\jdoe\drv.sys", "Secret": "password=abc123"},
    )
    out = DEFAULT.record(event)
    assert "jdoe" not in out.message and "<email>" in out.message
    assert out.fields["ImagePath"] == r"C:\Users\<user>\drv.sys"
    assert out.fields["Secret"] == "password=<redacted>"
    assert out.kind == "disk.bad_block"  # identifiers untouched
    crash = DEFAULT.record(CrashReport("var_crash", "panic", path="/home/jdoe/core"))
    assert crash.path == "/home/<user>/core"


def test_an_unchanged_record_is_returned_as_is() -> None:
    volume = Volume("/", "/dev/sda1", "ext4", 1, 1, 1)
    assert DEFAULT.record(volume) is volume


def test_extra_patterns_and_switches() -> None:
    custom = Redactor(RedactionPolicy(user_paths=False, emails=False, patterns=(r"ACME-\d+",)))
    assert custom.text("/home/jdoe a@b.example ACME-1234") == "/home/jdoe a@b.example <redacted>"


def test_usb_instance_ids_lose_their_serial_with_the_serials() -> None:
    usb = Device(r"USBSTOR\DISK&VEN_SANDISK&PROD_ULTRA\4C530001230101115283&0", bus="pnp")
    hashed = HASHING.record(usb).id
    assert "4C530001230101115283" not in hashed
    assert hashed.startswith("USBSTOR\\DISK&VEN_SANDISK&PROD_ULTRA\\h:") and hashed.endswith("&0")
    pci = Device(r"PCI\VEN_8086&DEV_15F3\3&11583659&0&E8")  # no serial: a bus location
    assert HASHING.record(pci).id == pci.id
    assert DEFAULT.record(usb).id == usb.id  # hashing is off by default
