"""Previous shutdown, boot duration and crashes derived from the Windows boot events."""

from agent.parsers import win_boot_events as boot
from agent.records import Event, Severity

MIN = 60_000
B = 1_795_193_379_702  # the current boot's 6005


def _e(kind: str, at: int, **fields: str) -> Event:
    return Event(at, "winevent", kind, Severity.INFO, "", fields)


def test_unclean_when_41_and_6008_follow_the_last_clean_stop() -> None:
    events = [
        _e("boot.started", B - 600 * MIN),
        _e("boot.clean_shutdown", B - 1400 * MIN),  # before the previous boot
        _e("boot.unexpected_shutdown", B - 8000, stop_code="0x0000009f"),  # 41 before 6005
        _e("boot.started", B),
        _e("boot.dirty_shutdown", B + 500, last_time="5:47:12 PM", last_date="11/20/2026"),
        _e("boot.performance", B + 3 * MIN, boot_ms="71234"),
    ]
    info = boot.boot_info(events)
    assert (info.previous_shutdown, info.boot_time_unix, info.boot_duration_s) == (
        "unclean",
        B // 1000,
        71.234,
    )
    assert info.previous_shutdown_detail == (
        "Kernel-Power 41 at 2026-11-20T16:49:31Z "
        "(bug check 0x0000009f DRIVER_POWER_STATE_FAILURE); "
        "EventLog 6008 at 2026-11-20T16:49:40Z (last sign of life 5:47:12 PM 11/20/2026)"
    )


def test_clean_when_the_last_6006_is_newer_than_an_old_41() -> None:
    events = [
        _e("boot.unexpected_shutdown", B - 3000 * MIN),
        _e("boot.started", B - 2999 * MIN),
        _e("boot.clean_shutdown", B - 60 * MIN),
        _e("boot.started", B),
    ]
    assert boot.previous_shutdown(events, B) == (
        "clean",
        "EventLog 6006 (clean stop) at 2026-11-20T15:49:39Z",
    )


def test_a_41_of_an_earlier_boot_is_not_evidence_for_this_one() -> None:
    # 6006, boot, crash, boot (41), hybrid shutdown without 6006, this boot: not unclean.
    events = [
        _e("boot.clean_shutdown", B - 3000 * MIN),
        _e("boot.unexpected_shutdown", B - 1000 * MIN),
        _e("boot.started", B),
    ]
    assert boot.previous_shutdown(events, B)[0] == "clean"


def test_power_button_and_power_loss_details() -> None:
    held = [_e("boot.unexpected_shutdown", B, power_button="true")]
    assert boot.previous_shutdown(held, B) == (
        "unclean",
        "Kernel-Power 41 at 2026-11-20T16:49:39Z (power button held)",
    )
    lost = [_e("boot.unexpected_shutdown", B)]
    assert "power loss or hard hang" in boot.previous_shutdown(lost, B)[1]


def test_unknown_without_evidence_either_way() -> None:
    assert boot.boot_info([]).previous_shutdown == "unknown"
    assert boot.previous_shutdown([_e("boot.started", B)], B) == ("unknown", "")


def test_the_inventory_boot_time_pins_the_current_boot() -> None:
    events = [_e("boot.started", B), _e("boot.performance", B + MIN, boot_ms="30000")]
    # LastBootUpTime later than these: they belong to an earlier boot.
    info = boot.boot_info(events, boot_time_ms=B + 10 * MIN)
    assert (info.boot_time_unix, info.boot_duration_s) == ((B + 10 * MIN) // 1000, 0.0)


def test_crashes_from_1001_and_from_a_41_without_report() -> None:
    events = [
        _e("boot.unexpected_shutdown", B - 10 * MIN, stop_code="0x0000009f"),
        _e(
            "boot.bugcheck",
            B - 9 * MIN,
            stop_code="0x0000009f",
            params="0x3, 0x1",
            dump_path="C:\\x.dmp",
        ),
        _e("boot.unexpected_shutdown", B, stop_code="0x00000124"),  # its dump was not written
    ]
    first, second = boot.crashes(events)
    assert (first.source, first.kind, first.stop_code, first.path) == (
        "bugcheck",
        "bugcheck",
        "0x0000009f",
        "C:\\x.dmp",
    )
    assert first.title == "0x0000009f DRIVER_POWER_STATE_FAILURE (0x3, 0x1)"
    assert (second.source, second.stop_code, second.time_ms) == ("kernel_power", "0x00000124", B)
    assert second.title.startswith("0x00000124 WHEA_UNCORRECTABLE_ERROR")


def test_bugcheck_names() -> None:
    assert boot.bugcheck_name("0x0000007b") == "INACCESSIBLE_BOOT_DEVICE"
    assert boot.bugcheck_name("0x00000001") == ""
    assert boot.bugcheck_name("zz") == ""
