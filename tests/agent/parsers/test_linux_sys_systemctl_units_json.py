from pathlib import Path

import pytest

from agent.parsers import ParseError, systemctl_units_json

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "linux"


def _read(name: str) -> str:
    return (FIXTURES / name).read_text("utf-8")


@pytest.mark.parametrize("name", ["systemctl-failed.two.json", "systemctl-failed.two.json-pretty"])
def test_failed_units_from_json(name: str) -> None:
    parsed = systemctl_units_json.parse(_read(name))
    assert parsed.value == ("backup-nightly.service", "mount-nas.service")
    assert parsed.warnings == 0


def test_no_failed_units() -> None:
    assert systemctl_units_json.parse(_read("systemctl-failed.none.json")).value == ()


def test_only_failed_entries_count() -> None:
    text = (
        '[{"unit":"a.service","load":"loaded","active":"active","sub":"running"},'
        '{"unit":"b.mount","load":"loaded","active":"failed","sub":"failed"},{"load":"x"}]'
    )
    parsed = systemctl_units_json.parse(text)
    assert (parsed.value, parsed.warnings) == (("b.mount",), 1)


def test_old_systemd_table() -> None:
    parsed = systemctl_units_json.parse(_read("systemctl-failed.v239.txt"))
    assert parsed.value == ("backup-nightly.service", "mnt-nas.mount")
    assert parsed.warnings == 0
    assert systemctl_units_json.parse(_read("systemctl-failed.v239-none.txt")).value == ()


@pytest.mark.parametrize("text", ["{}", "[1,", "System has not been booted with systemd\n"])
def test_not_a_unit_list(text: str) -> None:
    with pytest.raises(ParseError):
        systemctl_units_json.parse(text)


@pytest.mark.parametrize(
    ("name", "state"),
    [
        ("is-system-running.running", "running"),
        ("is-system-running.degraded", "degraded"),
        ("is-system-running.offline", "offline"),  # the build VM: systemd is not PID 1
    ],
)
def test_system_state(name: str, state: str) -> None:
    parsed = systemctl_units_json.parse_state(_read(name))
    assert (parsed.value, parsed.warnings) == (state, 0)


def test_unknown_or_missing_state() -> None:
    parsed = systemctl_units_json.parse_state("hibernating\n")
    assert (parsed.value, parsed.warnings) == ("hibernating", 1)
    with pytest.raises(ParseError):
        systemctl_units_json.parse_state("\n")
