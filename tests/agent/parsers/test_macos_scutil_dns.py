"""`scutil --dns`: default resolvers only; VPN split DNS, offline, not scutil at all."""

from pathlib import Path

import pytest

from agent.parsers import ParseError, macos_scutil_dns
from agent.records import DnsConfig

HOSTS = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"
IMAC = HOSTS / "sim-macos12-intel-imac"


def test_scutil_dns_default_resolvers_only() -> None:
    parsed = macos_scutil_dns.parse((IMAC / "scutil_dns").read_text())
    assert parsed.warnings == 0
    assert parsed.value == DnsConfig(("10.20.0.53", "10.20.0.54"), ("corp.example.com",), "scutil")


def test_scutil_dns_vpn_split_dns_and_offline() -> None:
    text = (
        "DNS configuration\n\nresolver #1\n  nameserver[0] : 192.168.1.1\n"
        "  nameserver[1] : fd00::1\n\nresolver #2\n  domain   : corp.example.com\n"
        "  nameserver[0] : 10.8.0.1\n\ngarbage line\n"
    )
    parsed = macos_scutil_dns.parse(text)
    assert parsed.value.servers == ("192.168.1.1", "fd00::1")
    assert parsed.warnings == 1
    offline = macos_scutil_dns.parse("DNS configuration\n\nNo DNS configuration available\n")
    assert offline.value == DnsConfig(source="scutil") and offline.warnings == 0
    with pytest.raises(ParseError):
        macos_scutil_dns.parse("")
