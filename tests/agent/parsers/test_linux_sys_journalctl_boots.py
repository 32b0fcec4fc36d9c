from pathlib import Path

import pytest

from agent.parsers import ParseError, journalctl_boots
from agent.parsers.journalctl_boots import BootEntry

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "linux"

EXPECTED = (
    BootEntry(-2, "a1b2c3d4e5f60718293a4b5c6d7e8f90", 1717225203200, 1717264811200),
    BootEntry(-1, "0f9e8d7c6b5a49382716a5b4c3d2e1f0", 1717311603200, 1717326011200),
    BootEntry(0, "5a6b7c8d9e0f41a2b3c4d5e6f7a8b9c0", 1717398003200, 1717398011200),
)


def _read(name: str) -> str:
    return (FIXTURES / name).read_text("utf-8")


def test_json_from_systemd_252() -> None:
    parsed = journalctl_boots.parse(_read("journal-list-boots.json"))
    assert (parsed.value, parsed.warnings) == (EXPECTED, 0)
    assert journalctl_boots.previous(parsed.value) == EXPECTED[1]


def test_text_from_systemd_252_has_second_resolution() -> None:
    parsed = journalctl_boots.parse(_read("journal-list-boots.v252.txt"))
    assert [(b.index, b.boot_id) for b in parsed.value] == [(b.index, b.boot_id) for b in EXPECTED]
    assert [b.first_ms for b in parsed.value] == [1717225203000, 1717311603000, 1717398003000]
    assert parsed.warnings == 0


def test_old_text_with_dashes_and_a_named_zone() -> None:
    parsed = journalctl_boots.parse(_read("journal-list-boots.v245.txt"))
    old, cest, current = parsed.value
    assert (old.first_ms, old.last_ms) == (1717225203000, 1717264811000)
    assert (cest.boot_id, cest.first_ms, cest.last_ms) == (EXPECTED[1].boot_id, 0, 0)
    assert current.last_ms == 1717398011000  # "-" separator of the C locale
    assert parsed.warnings == 2  # CEST twice


def test_numeric_zone() -> None:
    line = (
        " -1 0f9e8d7c6b5a49382716a5b4c3d2e1f0"
        " Sun 2024-06-02 09:00:03 +0200—Sun 2024-06-02 13:00:11 +02:00"
    )
    (boot,) = journalctl_boots.parse(line).value
    assert (boot.first_ms, boot.last_ms) == (1717311603000, 1717326011000)


def test_no_journal_is_no_boots() -> None:
    assert journalctl_boots.parse(_read("journal-list-boots.no-journal.json")).value == ()
    assert journalctl_boots.previous(()) is None


def test_bad_entries_warn_and_garbage_raises() -> None:
    parsed = journalctl_boots.parse(
        '[{"index": 0, "boot_id": "xyz"}, {"index": -1, "boot_id": "' + "a" * 32 + '"}]'
    )
    assert (len(parsed.value), parsed.warnings) == (1, 1)
    with pytest.raises(ParseError):
        journalctl_boots.parse("No journal files were found.\n")
    with pytest.raises(ParseError):
        journalctl_boots.parse("[1,")
