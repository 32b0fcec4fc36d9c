from pathlib import Path

import pytest

from agent.parsers import ParseError, chronyc_tracking
from agent.records import TimeSync

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "linux"


def _parse(name: str) -> TimeSync:
    parsed = chronyc_tracking.parse((FIXTURES / name).read_text("utf-8"))
    assert parsed.warnings == 0, parsed.examples
    return parsed.value


def test_csv_synchronised_clock_is_fast() -> None:
    # Column 5 is the correction (-0.000002489 s): the clock is 2.489 us fast.
    value = _parse("chronyc-tracking.synced.csv")
    assert value == TimeSync(
        known=True,
        synchronized=True,
        offset_ms=pytest.approx(0.002489),  # type: ignore[arg-type]
        source="chronyc",
        server="127.0.0.1",
        detail="leap status Normal, reference 7F000001",
    )


def test_text_and_csv_agree() -> None:
    text, csv = _parse("chronyc-tracking.synced.txt"), _parse("chronyc-tracking.synced.csv")
    assert text.synchronized and text.offset_ms == pytest.approx(csv.offset_ms)
    assert text.server == "localhost"  # the text form resolves the name


@pytest.mark.parametrize("name", ["chronyc-tracking.unsync.csv", "chronyc-tracking.unsync.txt"])
def test_no_source_selected(name: str) -> None:
    value = _parse(name)
    assert (value.known, value.synchronized, value.offset_ms) == (True, False, 0.0)
    assert "Not synchronised" in value.detail


def test_slow_clock_is_negative() -> None:
    text = (FIXTURES / "chronyc-tracking.synced.txt").read_text("utf-8")
    slow = text.replace("0.000002489 seconds fast", "0.250000000 seconds slow")
    assert chronyc_tracking.parse(slow).value.offset_ms == -250.0


def test_leap_second_pending_is_still_synchronised() -> None:
    line = "C0A80001,192.168.0.1,2,1717398000.0,0.001,0,0,0,0,0,0.01,0.01,64.0,Insert second"
    value = chronyc_tracking.parse(line).value
    assert (value.synchronized, value.offset_ms) == (True, -1.0)


@pytest.mark.parametrize("name", ["chronyc-tracking.nodaemon.txt"])
def test_daemon_not_running(name: str) -> None:
    with pytest.raises(ParseError):
        chronyc_tracking.parse((FIXTURES / name).read_text("utf-8"))


def test_garbled_csv_and_empty() -> None:
    with pytest.raises(ParseError):
        chronyc_tracking.parse("")
    parsed = chronyc_tracking.parse("A,b,1,2,x,0,0,0,0,0,0,0,0,Normal\n")
    assert (parsed.value.offset_ms, parsed.warnings) == (0.0, 1)
