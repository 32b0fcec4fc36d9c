"""w32tm /query /status /verbose → TimeSync, by position and shape, in any language."""

from pathlib import Path

import pytest

from agent.parsers import ParseError, win_w32tm
from agent.records import TimeSync

HOSTS = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"


def _text(host: str) -> str:
    return (HOSTS / host / "win_w32tm").read_bytes().decode("utf-8")


def test_english_domain_member() -> None:
    parsed = win_w32tm.parse(_text("sim-windows11-laptop"))
    assert parsed.warnings == 0
    assert parsed.value == TimeSync(
        known=True,
        synchronized=True,
        offset_ms=pytest.approx(0.4473),  # type: ignore[arg-type]
        source="w32tm",
        server="DC02.corp.example.com",
        detail="stratum 3, leap 0, state 2 (Sync), last sync error 0, 709 s since last good sync",
    )


def test_german_labels_garbled_by_the_code_page() -> None:
    text = _text("sim-windows10-de-desktop")
    assert "\ufffd" in text  # the labels are unreadable; the values are not
    ts = win_w32tm.parse(text).value
    assert (ts.synchronized, ts.server, round(ts.offset_ms, 4)) == (
        True,
        "time.windows.com",
        -1.2345,
    )


UNSYNCED = """\
Leap Indicator: 3(not synchronized)\r
Stratum: 0 (unspecified)\r
Precision: -23 (119.209ns per tick)\r
Root Delay: 0.0000000s\r
Root Dispersion: 0.0000000s\r
ReferenceId: 0x00000000 (unspecified)\r
Last Successful Sync Time: unspecified\r
Source: Local CMOS Clock\r
Poll Interval: 10 (1024s)\r
\r
Phase Offset: 0.0000000s\r
ClockRate: 0.0156250s\r
State Machine: 0 (Unset)\r
Time Source Flags: 0 (None)\r
Server Role: 0 (None)\r
Last Sync Error: 1 (The computer did not resync because no time data was available.)\r
Time since Last Good Sync Time: 2849.5214000s\r
"""


def test_never_synchronized() -> None:
    ts = win_w32tm.parse(UNSYNCED).value
    assert (ts.known, ts.synchronized, ts.server) == (True, False, "")
    assert ts.detail == (
        "stratum 0, leap 3, state 0 (Unset), last sync error 1, 2850 s since last good sync, "
        "local clock, no time source"
    )


def test_local_cmos_clock_in_french_without_verbose() -> None:
    text = "\n".join(
        [
            "Indicateur de saut : 0(aucun avertissement)",
            "Strate : 1 (référence principale - synchronisée par horloge radio)",
            "Précision : -23 (119.209ns par battement)",
            "Délai de racine : 0.0000000s",
            "Dispersion de racine : 10.0000000s",
            'ID de référence : 0x4C4F434C (nom de la source :  "LOCL")',
            "Dernière synchronisation réussie : 23/11/2026 10:12:04",
            "Source : Horloge CMOS locale",
            "Intervalle d'interrogation : 6 (64s)",
        ]
    )
    ts = win_w32tm.parse(text).value
    assert (ts.known, ts.synchronized, ts.server, ts.offset_ms) == (True, False, "", 0.0)


def test_a_value_of_the_wrong_shape_is_a_warning() -> None:
    text = UNSYNCED.replace("Phase Offset: 0.0000000s", "Phase Offset: soon")
    parsed = win_w32tm.parse(text)
    assert parsed.warnings == 1 and parsed.examples == ("field 10: unexpected value 'soon'",)


def test_unreadable_leap_or_stratum_is_unknown() -> None:
    ts = win_w32tm.parse(UNSYNCED.replace("Stratum: 0 (unspecified)", "Stratum: ?")).value
    assert (ts.known, ts.detail) == (False, "unreadable status")


@pytest.mark.parametrize(
    "text",
    ["", "The following error occurred: The service has not been started. (0x80070426)\r\n"],
)
def test_not_status_output(text: str) -> None:
    with pytest.raises(ParseError, match="w32tm: not /query /status output"):
        win_w32tm.parse(text)
