"""sntp's one-line (macOS 10.15+) and ntp.org 4.2.8 (10.13-10.14) results, and failures."""

from agent.parsers import macos_sntp


def test_modern_line() -> None:
    parsed = macos_sntp.parse("+0.041237 +/- 0.027419 time.apple.com 17.253.52.125\n")
    sync = parsed.value
    assert (sync.known, sync.synchronized, sync.offset_ms) == (True, True, 41.237)
    assert (sync.source, sync.server) == ("sntp", "time.apple.com")
    assert "17.253.52.125" in sync.detail


def test_ntp_org_sntp_far_off() -> None:
    text = (
        "sntp 4.2.8p10@1.3728-o Tue Mar 21 14:36:42 UTC 2017 (136.200.1~2533)\n"
        "2018-09-29 19:42:41.448103 (-0200) +1087.742403 +/- 725.183462 pool.ntp.org "
        "188.68.36.203 s2 no-leap\n"
    )
    sync = macos_sntp.parse(text).value
    assert (sync.known, sync.synchronized, sync.offset_ms) == (True, False, 1_087_742.403)
    assert sync.server == "pool.ntp.org"


def test_failure_and_garbage() -> None:
    parsed = macos_sntp.parse("sntp: Exchange failed: Timeout\n", server="ntp.corp.example.com")
    assert parsed.value.known is False
    assert parsed.value.server == "ntp.corp.example.com"
    assert parsed.value.detail == "sntp: Exchange failed: Timeout"
    assert parsed.warnings == 0
    garbled = macos_sntp.parse("???\n")
    assert garbled.value.known is False and garbled.warnings == 1
