import json
from pathlib import Path

import pytest

from agent.parsers import ParseError, journal_shutdown

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "linux"


def _read(name: str) -> str:
    return (FIXTURES / name).read_text("utf-8")


def test_clean_json_tail_ends_with_journal_stopped() -> None:
    parsed = journal_shutdown.parse(_read("journal-tail.clean.json"))
    assert parsed.value == ("clean", "2024-06-01T18:00:11Z systemd-journald: Journal stopped")
    assert parsed.warnings == 0


def test_clean_short_iso_tail() -> None:
    parsed = journal_shutdown.parse(_read("journal-tail.clean.short-iso"))
    assert parsed.value == ("clean", "2024-06-01T18:00:11+0000 systemd-journald: Journal stopped")


@pytest.mark.parametrize("name", ["journal-tail.unclean.json", "journal-tail.unclean.short-iso"])
def test_unclean_tail_just_stops(name: str) -> None:
    state, detail = journal_shutdown.parse(_read(name)).value
    assert state == "unclean"
    assert detail.startswith("journal ends without a shutdown: 2024-06-02T11:00:11")
    assert "NetworkManager" in detail


def _json_lines(*entries: dict[str, object]) -> str:
    return "".join(json.dumps(e) + "\n" for e in entries)


def test_shutdown_sequence_markers_each_count() -> None:
    for ident, message in [
        ("systemd", "Shutting down."),
        ("systemd", "Reached target System Shutdown."),  # systemd before 250
        ("systemd", "Reached target shutdown.target - System Shutdown."),
        ("systemd-shutdown", "Sending SIGTERM to remaining processes..."),
    ]:
        text = _json_lines(
            {"SYSLOG_IDENTIFIER": ident, "MESSAGE": message, "__REALTIME_TIMESTAMP": "0"},
            {"SYSLOG_IDENTIFIER": "kernel", "MESSAGE": "e1000e: eth0 NIC Link is Down"},
        )
        assert journal_shutdown.parse(text).value[0] == "clean", message


def test_journal_stop_message_id_without_text() -> None:
    text = _json_lines({"MESSAGE_ID": journal_shutdown.JOURNAL_STOP_ID, "MESSAGE": None})
    assert journal_shutdown.parse(text).value[0] == "clean"


def test_shutdown_that_began_but_did_not_finish() -> None:
    text = _json_lines(
        {"SYSLOG_IDENTIFIER": "systemd-logind", "MESSAGE": "System is powering down."},
        {"SYSLOG_IDENTIFIER": "systemd", "MESSAGE": "Stopping user@1000.service - User Manager..."},
    )
    state, detail = journal_shutdown.parse(text).value
    assert state == "unclean"
    assert detail.startswith("shutdown began (System is powering down.) but did not finish")


def test_binary_and_repeated_fields() -> None:
    text = _json_lines(
        {"SYSLOG_IDENTIFIER": ["systemd", "systemd"], "MESSAGE": list(b"Shutting down.")},
    )
    assert journal_shutdown.parse(text).value[0] == "clean"


def test_no_previous_boot_is_unknown() -> None:
    assert journal_shutdown.parse("").value[0] == "unknown"
    assert journal_shutdown.parse("-- No entries --\n").value[0] == "unknown"


def test_garbled_lines_warn_and_garbage_raises() -> None:
    text = _read("journal-tail.unclean.short-iso") + "??? not a journal line\n"
    parsed = journal_shutdown.parse(text)
    assert (parsed.value[0], parsed.warnings) == ("unclean", 1)
    with pytest.raises(ParseError):
        journal_shutdown.parse("Data from the specified boot (-1) is not available\n")
