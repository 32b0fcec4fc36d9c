"""`netstat -rn -f inet`: BSD short destinations, ARP entries, 10.12's Refs/Use columns."""

from pathlib import Path

from agent.parsers import macos_netstat_rn
from agent.records import Route

HOSTS = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"
IMAC = HOSTS / "sim-macos12-intel-imac"


def test_netstat_rn() -> None:
    parsed = macos_netstat_rn.parse((IMAC / "netstat_rn").read_text())
    assert parsed.warnings == 0
    assert parsed.value[0] == Route("default", "10.20.30.1", "en0")
    destinations = [r.destination for r in parsed.value]
    assert "10.20.30.0/24" in destinations and "127.0.0.0/8" in destinations
    assert "10.20.30.1" not in destinations  # the ARP entry (L) is no route


def test_netstat_rn_old_columns_and_ipv6_table() -> None:
    text = (
        "Routing tables\n\nInternet:\n"
        "Destination        Gateway            Flags        Refs      Use   Netif Expire\n"
        "default            192.168.0.1        UGSc           43        0     en0\n"
        "192.168.0          link#4             UCS             2        0     en0\n"
        "fe80::/64          bogus\n"
        "Internet6:\n"
        "default            fe80::1%en0        UGcI            0        0     en0\n"
    )
    parsed = macos_netstat_rn.parse(text)
    assert parsed.value == (
        Route("default", "192.168.0.1", "en0"),
        Route("192.168.0.0/24", "", "en0"),
    )
    assert parsed.warnings == 1
