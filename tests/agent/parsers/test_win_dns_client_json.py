"""Get-DnsClientServerAddress & co. JSON → DnsConfig, placeholders and idle adapters left out."""

import json
from pathlib import Path

import pytest

from agent.parsers import ParseError, win_dns_client_json
from agent.records import DnsConfig

HOSTS = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"


def _fixture(host: str, interfaces: set[str] | None) -> DnsConfig:
    text = (HOSTS / host / "win_dns_client").read_bytes().decode()
    parsed = win_dns_client_json.parse(text, interfaces=interfaces)
    assert parsed.warnings == 0
    return parsed.value


def test_laptop() -> None:
    assert _fixture("sim-windows11-laptop", {"Wi-Fi"}) == DnsConfig(
        ("10.20.0.53", "10.20.0.54"),
        ("corp.example.com", "example.com"),
        "Get-DnsClientServerAddress",
    )


def test_german_fritz_box() -> None:
    dns = _fixture("sim-windows10-de-desktop", {"Ethernet"})
    assert (dns.servers, dns.search) == (
        ("192.168.178.1", "fd00::3681:c4ff:fe2b:1d0e"),
        ("fritz.box",),
    )


def test_without_an_interface_list_every_interface_counts() -> None:
    doc = {
        "ServerAddresses": [
            {"InterfaceAlias": "A", "ServerAddresses": "10.0.0.1"},  # a one-element string[]
            {"InterfaceAlias": "B", "ServerAddresses": ["10.0.0.2", "10.0.0.1", 5]},
        ],
        "Clients": {"InterfaceAlias": "B", "ConnectionSpecificSuffix": "lan"},
        "GlobalSetting": {"SuffixSearchList": "corp.example.com"},
    }
    parsed = win_dns_client_json.parse(json.dumps(doc))
    assert (parsed.value.servers, parsed.value.search) == (
        ("10.0.0.1", "10.0.0.2"),
        ("corp.example.com", "lan"),
    )
    assert parsed.warnings == 1
    only_a = win_dns_client_json.parse(json.dumps(doc), interfaces={"A"}).value
    assert (only_a.servers, only_a.search) == (("10.0.0.1",), ("corp.example.com",))


def test_no_servers_at_all() -> None:
    assert win_dns_client_json.parse('{"ServerAddresses":[]}').value.servers == ()


@pytest.mark.parametrize("text", ["[]", "", '{"Clients":[]}'])
def test_unusable(text: str) -> None:
    with pytest.raises(ParseError):
        win_dns_client_json.parse(text)
