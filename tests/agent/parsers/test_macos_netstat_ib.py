"""`netstat -ibn`: counters from the <Link#N> rows; an error message instead of a table."""

from pathlib import Path

import pytest

from agent.parsers import ParseError, macos_netstat_ib

HOSTS = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"
MACBOOK = HOSTS / "sim-macos14-macbook"


def test_netstat_ib_counters() -> None:
    parsed = macos_netstat_ib.parse((MACBOOK / "netstat_ib").read_text())
    assert parsed.warnings == 0
    by_name = {i.name: i for i in parsed.value}
    en0 = by_name["en0"]
    assert (en0.rx_bytes, en0.tx_bytes, en0.rx_errors, en0.tx_errors) == (
        2_873_416_190,
        174_339_120,
        0,
        37,
    )
    assert by_name["lo0"].mac == "" and "gif0" in by_name  # the `*` of a down interface
    with pytest.raises(ParseError):
        macos_netstat_ib.parse("netstat: sysctl: Operation not permitted\n")
