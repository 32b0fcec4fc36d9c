from pathlib import Path

import pytest

from agent.parsers import ParseError, systemd_analyze

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "linux"


@pytest.mark.parametrize(
    ("name", "seconds"),
    [
        ("systemd-analyze-time.uefi", 25.726),
        ("systemd-analyze-time.bios-slow", 69.291),  # "= 1min 9.291s"
        ("systemd-analyze-time.user", 0.209),  # no total: the one phase
    ],
)
def test_total_boot_time(name: str, seconds: float) -> None:
    parsed = systemd_analyze.parse((FIXTURES / name).read_text("utf-8"))
    assert parsed.value == pytest.approx(seconds)
    assert parsed.warnings == 0


def test_boot_not_finished_is_zero_with_a_warning() -> None:
    text = (FIXTURES / "systemd-analyze-time.unfinished.stderr").read_text("utf-8")
    parsed = systemd_analyze.parse(text)
    assert (parsed.value, parsed.warnings) == (0.0, 1)


def test_phases_are_summed_when_the_total_is_garbled() -> None:
    text = "Startup finished in 2.5s (kernel) + 1min 0.5s (userspace) = soon\n"
    parsed = systemd_analyze.parse(text)
    assert (parsed.value, parsed.warnings) == (63.0, 1)


@pytest.mark.parametrize("text", ["", "Failed to connect to bus: Host is down\n"])
def test_no_startup_line(text: str) -> None:
    with pytest.raises(ParseError):
        systemd_analyze.parse(text)


@pytest.mark.parametrize(
    ("span", "us"),
    [
        ("209ms", 209_000),
        ("1min 5.712s", 65_712_000),
        ("2h 3min", 7_380_000_000),
        ("1d 2h", 93_600_000_000),
        ("350us", 350),
        ("350μs", 350),
        ("", None),
        ("5 parsecs", None),
        ("1min and 2s", None),
    ],
)
def test_span_us(span: str, us: int | None) -> None:
    assert systemd_analyze.span_us(span) == us
