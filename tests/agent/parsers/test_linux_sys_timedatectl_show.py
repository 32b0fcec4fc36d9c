from pathlib import Path

import pytest

from agent.parsers import ParseError, timedatectl_show
from agent.records import TimeSync

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "linux"


def _read(name: str) -> str:
    return (FIXTURES / name).read_text("utf-8")


def test_show_unsynchronised_with_ntp_enabled() -> None:
    parsed = timedatectl_show.parse(_read("timedatectl-show.ntp-active"))
    assert parsed.value == TimeSync(
        known=True,
        synchronized=False,
        source="timedatectl",
        detail="NTP=yes, CanNTP=yes, Timezone=Etc/UTC",
    )
    assert parsed.warnings == 0


def test_show_synchronised_and_ntp_disabled() -> None:
    text = _read("timedatectl-show.ntp-inactive").replace(
        "NTPSynchronized=no", "NTPSynchronized=yes"
    )
    parsed = timedatectl_show.parse(text)
    assert parsed.value.synchronized
    assert parsed.value.detail.startswith("NTP=no")


def test_show_odd_values_warn() -> None:
    parsed = timedatectl_show.parse("NTPSynchronized=maybe\ngarbage line\n")
    assert (parsed.value.synchronized, parsed.warnings) == (False, 2)


@pytest.mark.parametrize("text", ["", "Failed to connect to bus: Host is down\n", "NTP=yes\n"])
def test_show_without_the_sync_flag(text: str) -> None:
    with pytest.raises(ParseError):
        timedatectl_show.parse(text)


def test_timesync_status_synced_flips_the_offset_sign() -> None:
    parsed = timedatectl_show.parse_timesync_status(_read("timedatectl-timesync-status.synced"))
    # "Offset: -1.542ms": the server is behind, so this clock is 1.542 ms ahead.
    assert parsed.value == TimeSync(
        known=True,
        synchronized=True,
        offset_ms=1.542,
        source="timesyncd",
        server="192.0.2.123 (0.debian.pool.ntp.org)",
        detail="leap normal, 12 packets",
    )
    assert parsed.warnings == 0


def test_timesync_status_before_any_reply() -> None:
    parsed = timedatectl_show.parse_timesync_status(_read("timedatectl-timesync-status.nopackets"))
    assert parsed.value == TimeSync(
        True, False, 0.0, "timesyncd", "", "no NTP reply yet, 0 packets"
    )


def test_timesync_status_not_running_is_not_status() -> None:
    with pytest.raises(ParseError):
        timedatectl_show.parse_timesync_status(
            _read("timedatectl-timesync-status.no-timesyncd.stderr")
        )


def test_show_timesync_server_and_leap() -> None:
    synced = timedatectl_show.parse_show_timesync(_read("timedatectl-show-timesync.synced")).value
    assert (synced.synchronized, synced.server) == (True, "192.0.2.123 (0.debian.pool.ntp.org)")
    assert synced.detail == "leap normal, 12 packets"
    waiting = timedatectl_show.parse_show_timesync(_read("timedatectl-show-timesync.nopackets"))
    assert (waiting.value.synchronized, waiting.value.server) == (False, "")
    with pytest.raises(ParseError):
        timedatectl_show.parse_show_timesync(_read("timedatectl-show.ntp-active"))


def test_combine_keeps_the_kernel_flag_and_adds_the_offset() -> None:
    clock = timedatectl_show.parse(_read("timedatectl-show.ntp-active")).value
    status = _read("timedatectl-timesync-status.synced")
    merged = timedatectl_show.combine(clock, timedatectl_show.parse_timesync_status(status).value)
    assert (merged.synchronized, merged.offset_ms, merged.source) == (False, 1.542, "timedatectl")
    assert merged.server == "192.0.2.123 (0.debian.pool.ntp.org)"
    assert timedatectl_show.combine(clock, None) is clock


def test_offset_spans_in_other_units() -> None:
    text = "Server: 10.0.0.1 (ntp)\nLeap: normal\nOffset: +2min 3.5s\n"
    assert timedatectl_show.parse_timesync_status(text).value.offset_ms == -123500.0
    text = "Server: 10.0.0.1 (ntp)\nLeap: normal\nOffset: -250us\n"
    assert timedatectl_show.parse_timesync_status(text).value.offset_ms == 0.25
    bad = timedatectl_show.parse_timesync_status("Server: x\nLeap: normal\nOffset: soon\n")
    assert (bad.value.offset_ms, bad.warnings) == (0.0, 1)
