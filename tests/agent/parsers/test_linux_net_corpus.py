"""Every real Linux network output of the shared corpus, against its manifest facts.

The corpus (61 files from canonical/hotsos and RedHatInsights/insights-core test data, see
its SOURCE.md) is read in place from ../shared/corpus next to the repository; it is never
copied into the project. Each manifest entry names the `command` (which parser), and the
facts read from the text: interfaces (names, states, carrier, addresses, per-link DNS),
default routes and gateways (with their table), DNS servers and search domains.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.parsers import (
    Parsed,
    ip_addr,
    ip_route,
    networkctl_status,
    nmcli,
    resolv_conf,
    resolvectl_status,
    route_n,
)

REPO = Path(__file__).resolve().parents[3]
CORPUS = REPO.parent / "shared" / "corpus" / "linux-net"
MANIFEST = CORPUS / "manifest.json"

if not MANIFEST.is_file():
    pytest.skip(f"Linux network corpus not found at {CORPUS}", allow_module_level=True)

DOC: dict[str, Any] = json.loads(MANIFEST.read_text("utf-8"))
ENTRIES: list[dict[str, Any]] = DOC["files"]
IDS = [e["file"] for e in ENTRIES]


def _nmcli(text: str) -> Parsed[Any]:
    # The two nmcli subcommands print different formats; the manifest says which.
    return nmcli.parse(text)


PARSERS: dict[str, Callable[[str], Parsed[Any]]] = {
    "ip_addr": ip_addr.parse,
    "ip_route": ip_route.parse,
    "route_n": route_n.parse,
    "resolv_conf": resolv_conf.parse,
    "resolvectl_status": resolvectl_status.parse_status,
    "networkctl_status": networkctl_status.parse,
    "nmcli": _nmcli,
}
# Files whose text has lines the parser cannot use although the manifest notes nothing.
UNNOTED_WARNINGS = {
    # `ff01::/16 dev` and `... metric` at the end of a line: a keyword without its value.
    "ip-route-show-table-all__insights-core__ip_route_show_table_all_test_bad.txt": 2,
    # `/usr/sbin/ip: bad command or file name` instead of routes.
    "ip-route-show-table-all__insights-core__ip_route_cannot_detect_these_errors_yet.txt": 1,
}
# Where the manifest lists what the file says but the resolver does something else.
SEARCH_OVERRIDES = {
    # `search ttt.com` then `domain ttt.com`: resolv.conf(5) says the two are mutually
    # exclusive and the last one wins, so glibc searches ttt.com once; the manifest
    # concatenates both lines.
    "resolv.conf__insights-core__resolvconf_m.txt": ("ttt.com",),
}
SPECIAL_KINDS = ("throw", "unreachable", "prohibit", "blackhole")


def _entries(command: str) -> list[dict[str, Any]]:
    return [e for e in ENTRIES if e["command"] == command]


def _ids(command: str) -> list[str]:
    return [e["file"] for e in _entries(command)]


def _text(fact: dict[str, Any]) -> str:
    return (CORPUS / str(fact["file"])).read_text("utf-8")


def _parse(fact: dict[str, Any]) -> Parsed[Any]:
    text = _text(fact)
    if fact.get("subcommand") == "nmcli connection show":
        return nmcli.parse_connections(text)
    return PARSERS[fact["command"]](text)


def test_manifest_covers_every_file() -> None:
    listed = {e["file"] for e in ENTRIES}
    # Outputs are `<command>__<origin>__<fixture>.txt`; LICENSE/NOTICE texts are not.
    on_disk = {p.name for p in CORPUS.glob("*__*.txt")}
    assert listed == on_disk
    assert len(ENTRIES) == DOC["count"] == 61


def test_every_command_has_a_parser() -> None:
    assert {e["command"] for e in ENTRIES} == set(PARSERS)


@pytest.mark.parametrize("fact", ENTRIES, ids=IDS)
def test_file_parses_and_warns_only_where_the_text_is_broken(fact: dict[str, Any]) -> None:
    parsed = _parse(fact)
    expected = UNNOTED_WARNINGS.get(fact["file"])
    if expected is not None:
        assert parsed.warnings == expected, parsed.examples
    elif fact.get("notes"):
        # Message truncated, nmcli Error:/Warning: lines - each one is counted.
        assert parsed.warnings >= len(fact["notes"]), parsed.examples
    else:
        assert parsed.warnings == 0, parsed.examples


# --- ip addr / ip -d addr / ip -o addr / ip -s link -------------------------------------


@pytest.mark.parametrize("fact", _entries("ip_addr"), ids=_ids("ip_addr"))
def test_ip_addr_interfaces(fact: dict[str, Any]) -> None:
    interfaces = ip_addr.parse(_text(fact)).value
    assert [i.name for i in interfaces] == [i["name"] for i in fact["interfaces"]]
    for got, want in zip(interfaces, fact["interfaces"], strict=True):
        assert got.addresses == tuple(want["addresses"]), got.name
        if want["state"] is None:  # `ip -o addr` has no link line
            assert (got.oper_state, got.admin_up, got.carrier) == ("", False, False)
            continue
        assert got.oper_state == want["state"].lower(), got.name
        assert got.admin_up == want["admin_up"], got.name
        assert got.carrier == bool(want["carrier"]), got.name  # null: admin down, no carrier


def test_ip_addr_kinds_on_the_openstack_host() -> None:
    fact = next(e for e in ENTRIES if e["file"] == "ip-d-address__hotsos-openstack.txt")
    kinds = {i.name: i.kind for i in ip_addr.parse(_text(fact)).value}
    assert kinds["lo"] == "loopback"
    assert kinds["ens3"] == kinds["ens9"] == "ethernet"
    assert kinds["br-ens3"] == kinds["veth1883dceb"] == kinds["tap0e778df8-ca"] == "virtual"
    assert kinds["ovs-system"] == kinds["vxlan_sys_4789"] == "virtual"


# --- ip route -----------------------------------------------------------------------------


def _pairs(routes: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(r["via"], r["dev"]) for r in routes]


@pytest.mark.parametrize("fact", _entries("ip_route"), ids=_ids("ip_route"))
def test_ip_route_default_routes(fact: dict[str, Any]) -> None:
    text = _text(fact)
    main = [r for r in ip_route.parse(text).value if r.destination == "default"]
    every = [r for r in ip_route.parse(text, tables=None).value if r.destination == "default"]
    want = fact["default_routes"]
    assert [(r.gateway, r.interface) for r in every] == _pairs(want)
    assert [(r.gateway, r.interface) for r in main] == _pairs(
        [r for r in want if r["table"] == "main"]
    )
    assert bool(main) == fact["default_route"]
    assert any(r.family == 4 for r in main) == fact["default_route_v4"]


@pytest.mark.parametrize("fact", _entries("ip_route"), ids=_ids("ip_route"))
def test_ip_route_devices_and_special_routes(fact: dict[str, Any]) -> None:
    text = _text(fact)
    every = ip_route.parse(text, tables=None, kinds=None).value
    assert {r.interface for r in every} - {""} == set(fact["interfaces"])
    special = fact.get("special_routes", {})
    for kind in SPECIAL_KINDS:
        got = ip_route.parse(text, tables=None, kinds=(kind,)).value
        assert len(got) == special.get(kind, 0), kind


@pytest.mark.parametrize("fact", _entries("ip_route"), ids=_ids("ip_route"))
def test_ip_route_families(fact: dict[str, Any]) -> None:
    routes = ip_route.parse(_text(fact), tables=None, kinds=None).value
    for r in routes:
        if r.destination != "default" or r.gateway:
            assert r.family == (6 if ":" in r.destination + r.gateway else 4), r
    if fact["file"].startswith("ip-6-route"):
        assert routes and {r.family for r in routes} == {6}


# --- route -n -----------------------------------------------------------------------------


@pytest.mark.parametrize("fact", _entries("route_n"), ids=_ids("route_n"))
def test_route_n_default_routes(fact: dict[str, Any]) -> None:
    routes = route_n.parse(_text(fact)).value
    defaults = [r for r in routes if r.destination == "default"]
    assert [(r.gateway, r.interface) for r in defaults] == _pairs(fact["default_routes"])
    assert bool(defaults) == fact["default_route"]
    assert any(r.family == 4 for r in defaults) == fact["default_route_v4"]
    assert all(r.gateway == "" for r in routes if r.destination != "default")


# --- DNS: resolv.conf, resolvectl ----------------------------------------------------------


@pytest.mark.parametrize("fact", _entries("resolv_conf"), ids=_ids("resolv_conf"))
def test_resolv_conf(fact: dict[str, Any]) -> None:
    config = resolv_conf.parse(_text(fact)).value
    assert config.servers == tuple(fact["dns_servers"])
    assert config.search == SEARCH_OVERRIDES.get(fact["file"], tuple(fact["search"]))
    assert config.source == "resolv.conf"


@pytest.mark.parametrize("fact", _entries("resolvectl_status"), ids=_ids("resolvectl_status"))
def test_resolvectl_status(fact: dict[str, Any]) -> None:
    text = _text(fact)
    config = resolvectl_status.parse(text).value
    status = resolvectl_status.parse_status(text).value
    assert config.servers == tuple(fact["dns_servers"])
    assert status.global_servers == tuple(fact["global_dns_servers"])
    assert [link.name for link in status.links] == [i["name"] for i in fact["interfaces"]]
    for link, want in zip(status.links, fact["interfaces"], strict=True):
        assert (" ".join(link.scopes) or "none") == want["scopes"], link.name
        assert (link.current_server or None) == want["current_dns"], link.name
        assert link.servers == tuple(want["dns_servers"]), link.name
        assert link.default_route == (want["default_route"] == "yes"), link.name


# --- networkctl -----------------------------------------------------------------------------


@pytest.mark.parametrize("fact", _entries("networkctl_status"), ids=_ids("networkctl_status"))
def test_networkctl_status(fact: dict[str, Any]) -> None:
    status = networkctl_status.parse(_text(fact)).value
    assert [(link.name, link.operational, link.setup) for link in status.links] == [
        (i["name"], i["state"], i["setup"]) for i in fact["interfaces"]
    ]
    assert status.dns.servers == tuple(fact["dns_servers"])
    assert [(r.gateway, r.interface) for r in status.gateways] == _pairs(fact["gateways"])
    assert bool(status.gateways) == fact["default_route"]
    assert any(r.family == 4 for r in status.gateways) == fact["default_route_v4"]
    for interface, link in zip(status.interfaces, status.links, strict=True):
        assert interface.name == link.name
        has_carrier = link.operational not in ("off", "no-carrier", "missing")
        assert interface.carrier == has_carrier, link
        assert interface.admin_up == (link.operational != "off"), link


# --- nmcli ----------------------------------------------------------------------------------


def _nmcli_entries(subcommand: str) -> list[dict[str, Any]]:
    return [e for e in _entries("nmcli") if e["subcommand"] == subcommand]


@pytest.mark.parametrize(
    "fact",
    _nmcli_entries("nmcli device show"),
    ids=[e["file"] for e in _nmcli_entries("nmcli device show")],
)
def test_nmcli_device_show(fact: dict[str, Any]) -> None:
    show = nmcli.parse(_text(fact)).value
    carrier = {"on": True, "off": False, None: None}
    assert [(d.name, d.state, d.carrier, d.connection or None, d.type) for d in show.devices] == [
        (i["name"], i["state"], carrier[i["carrier"]], i["connection"], i["type"])
        for i in fact["interfaces"]
    ]
    assert show.dns.servers == tuple(fact["dns_servers"] or ())
    defaults = [r for r in show.routes if r.destination == "default"]
    assert [(r.gateway, r.interface) for r in defaults] == _pairs(fact["gateways"])
    assert any(r.family == 4 for r in defaults) == bool(fact.get("default_route_v4"))
    assert [i.name for i in show.interfaces] == [d.name for d in show.devices]


@pytest.mark.parametrize(
    "fact",
    _nmcli_entries("nmcli connection show"),
    ids=[e["file"] for e in _nmcli_entries("nmcli connection show")],
)
def test_nmcli_connection_show(fact: dict[str, Any]) -> None:
    connections = nmcli.parse_connections(_text(fact)).value
    assert [(c.device or None, c.name, c.type) for c in connections] == [
        (i["name"], i["connection"], i["type"]) for i in fact["interfaces"]
    ]
    assert [bool(c.device) for c in connections] == [
        i["state"] == "active" for i in fact["interfaces"]
    ]


def test_corpus_has_the_interesting_cases() -> None:
    # Guard against a silently shrunken corpus: the cases the parsers must cover.
    assert {e["command"] for e in ENTRIES} == set(PARSERS)
    assert any(e.get("notes") == ["message_truncated"] for e in ENTRIES)
    assert any(r["table"] != "main" for e in ENTRIES for r in e.get("default_routes", []))
    assert any(e.get("netns") for e in ENTRIES)
    assert any(i.get("carrier") is False for e in _entries("ip_addr") for i in e["interfaces"])
