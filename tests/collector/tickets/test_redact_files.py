"""What leaves the collector in a ticket is redacted, and the evidence files say what the
report says: names by subject and component, timelines as CSV, the log as text."""

from __future__ import annotations

import json

import pytest

from collector.tickets import redact
from collector.tickets.files import evidence_files, safe_name


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("mount.cifs: password=hunter2 user=bob", "mount.cifs: password=<redacted> user=bob"),
        ('api_key: "s3cr3t value"', "api_key: <redacted>"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.x.y", "Authorization: <redacted>"),
        ("curl -H 'X: Bearer eyJhbGciOiJIUzI1NiJ9'", "curl -H 'X: Bearer <redacted>'"),
        ("password=a token=b", "password=<redacted> token=<redacted>"),
        ("DB_PASSWORD=x PGPASSWORD=y", "DB_PASSWORD=<redacted> PGPASSWORD=<redacted>"),
        (
            "access_token=abc&client_secret: def",
            "access_token=<redacted>&client_secret: <redacted>",
        ),
        (
            '{"password": "x", "passphrase": "y"}',
            '{"password": <redacted>, "passphrase": <redacted>}',
        ),
        ("Account Name: alice", "Account Name: <user>"),
        (
            "Failed password for user bob from 10.0.0.9",
            "Failed password for user <user> from 10.0.0.9",
        ),
        (r"\\fs01\home\dave\docs", r"\\fs01\home\<user>\docs"),
        ("sent to alice.smith@example.com", "sent to <email>"),
        ("EXT4-fs error: /home/alice/.cache/x", "EXT4-fs error: /home/<user>/.cache/x"),
        (r"C:\Users\bob\AppData\Local\x.dmp", r"C:\Users\<user>\AppData\Local\x.dmp"),
        ("/Users/carol/Library/Logs", "/Users/<user>/Library/Logs"),
        # Kept on purpose: what support needs to act.
        ("ST2000DM008 serial ZFL123 at 10.1.2.3", "ST2000DM008 serial ZFL123 at 10.1.2.3"),
        ("/dev/sda2 on /var", "/dev/sda2 on /var"),
    ],
)
def test_redaction(raw: str, clean: str) -> None:
    assert redact.text(raw) == clean


def test_redaction_keeps_the_structure() -> None:
    got = redact.value({"a": ["x@y.org", 3, {"b": "/home/al/f"}], "n": 1.5, "t": True})
    assert got == {"a": ["<email>", 3, {"b": "/home/<user>/f"}], "n": 1.5, "t": True}
    assert redact.value({"password": "hunter2", "db_token": 7, "tokens_used": 3}) == {
        "password": "<redacted>", "db_token": "<redacted>", "tokens_used": 3,
    }  # fmt: skip


def test_evidence_files() -> None:
    evidence = {
        "subject": "smart",
        "values": {"health": "FAILED", "reallocated_sectors": 12},
        "series": {"reallocated_sectors": [[0, 1], [3_600_000, 12.0]], "empty": []},
        "events": [{"time_ms": 0, "kind": "disk.io_error", "severity": "error",
                    "message": "I/O error, dev sda"}],
    }  # fmt: skip
    files = {
        name: (kind, body) for name, kind, body in evidence_files("smart", "/dev/sda", evidence)
    }
    assert list(files) == [
        "smart-dev_sda.txt", "events.log", "timeline-reallocated_sectors.csv", "evidence.json"
    ]  # fmt: skip
    assert files["smart-dev_sda.txt"][1].decode() == (
        "health               FAILED\nreallocated_sectors  12\n"
    )
    assert files["events.log"][1].decode() == (
        "1970-01-01 00:00:00Z  error    disk.io_error  I/O error, dev sda\n"
    )
    assert files["timeline-reallocated_sectors.csv"] == (
        "text/csv",
        b"time,value\n1970-01-01 00:00:00Z,1\n1970-01-01 01:00:00Z,12\n",
    )
    assert json.loads(files["evidence.json"][1]) == evidence
    assert safe_name("C:\\") == "C" and safe_name("") == "host"
