"""journal_json on this machine's real `journalctl -k -o json -n 200` (FIXTURES.md), and
entries in that format for the cases the capture does not hold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.parsers import ParseError, journal_json
from agent.parsers.journal_json import JournalEntry
from agent.records import Severity

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "kernel"
REAL = (FIXTURES / "journalctl-k-json-debian12-vm.jsonl").read_text("utf-8")
BOOT = "20b1fc2b236e42888418d8fd4483deb8"


def _real_entry(**changes: object) -> str:
    """The capture's first entry, with some fields changed: one line of journalctl JSON."""
    doc = json.loads(REAL.splitlines()[0])
    doc.update(changes)
    return json.dumps(doc, separators=(",", ":"))


def test_real_capture() -> None:
    parsed = journal_json.parse(REAL)
    assert parsed.warnings == 0
    assert len(parsed.value) == 200
    assert parsed.value[0] == JournalEntry(
        cursor="s=c2ba43b4f55b45f9957526f37477e0e7;i=8b;b=20b1fc2b236e42888418d8fd4483deb8;"
        "m=287c07f9;t=661976e71dc8a;x=be0a1b39da45afd0",
        time_ms=1796152881175,
        boot_id=BOOT,
        priority=6,
        identifier="kernel",
        message="LSM support for eBPF active",
    )
    assert len({e.cursor for e in parsed.value}) == 200
    assert [e.time_ms for e in parsed.value] == sorted(e.time_ms for e in parsed.value)


def test_message_that_is_not_utf8_arrives_as_bytes() -> None:
    # The capture's last entry: written to /dev/kmsg with bytes ff fe; journalctl prints
    # MESSAGE as an array of byte values. Shown as dmesg shows it.
    last = journal_json.parse(REAL).value[-1]
    assert last.message == "non-UTF-8 byte \\xff\\xfe in a kernel log record"
    assert (last.identifier, last.priority) == ("rdiag-fixture", 4)


def test_healthy_capture_has_no_events_and_userspace_kmsg_writes_are_skipped() -> None:
    entries = journal_json.parse(REAL).value
    assert journal_json.events(entries) == ()
    forged = JournalEntry("c", 1, identifier="rdiag-fixture", message="ata3.00: error: { UNC }")
    assert journal_json.events((forged,)) == ()


def test_kernel_entry_that_classifies_becomes_an_event() -> None:
    line = _real_entry(MESSAGE="nvme nvme0: controller is down; will reset: CSTS=0xffffffff")
    entries = journal_json.parse(line).value
    (event,) = journal_json.events(entries)
    assert event.time_ms == 1796152881175
    assert (event.source, event.kind, event.severity) == (
        "kernel",
        "disk.nvme_reset",
        Severity.ERROR,
    )
    assert event.message == "nvme nvme0: controller is down; will reset: CSTS=0xffffffff"
    assert event.fields["device"] == "nvme0"
    assert event.fields["boot_id"] == BOOT


def test_truncated_last_line_is_a_warning() -> None:
    # journalctl killed by its timeout in the middle of a line
    parsed = journal_json.parse(REAL[:-60])
    assert len(parsed.value) == 199
    assert parsed.warnings == 1
    assert parsed.examples[0].startswith("line 200: not JSON")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (["first value", "second value"], "first value\nsecond value"),  # field given twice
        ([[104, 105], [255]], "hi\n\\xff"),  # twice, neither valid UTF-8
        (None, ""),  # over 4096 bytes, without --all
        ([], ""),
    ],
)
def test_message_shapes(value: object, text: str) -> None:
    (entry,) = journal_json.parse(_real_entry(MESSAGE=value)).value
    assert entry.message == text


def test_entries_without_cursor_or_time_are_warnings() -> None:
    text = "\n".join(
        [
            _real_entry(),
            _real_entry(__CURSOR=None),
            _real_entry(__REALTIME_TIMESTAMP="yesterday"),
            _real_entry(MESSAGE=12),
            "[1, 2]",
        ]
    )
    parsed = journal_json.parse(text)
    assert len(parsed.value) == 1
    assert parsed.warnings == 4
    assert parsed.examples[0].startswith("line 2: no __CURSOR")


def test_missing_priority_is_none() -> None:
    doc = json.loads(_real_entry())
    del doc["PRIORITY"]
    (entry,) = journal_json.parse(json.dumps(doc)).value
    assert entry.priority is None


def test_empty_output_and_no_entries_notice() -> None:
    assert journal_json.parse("").value == ()
    assert journal_json.parse("-- No entries --\n").value == ()


def test_text_that_is_not_journal_json_is_an_error() -> None:
    with pytest.raises(ParseError, match="no entry in 2 lines"):
        journal_json.parse("Dec 01 19:21:21 vm kernel: zram: Added device: zram0\nmore text\n")
