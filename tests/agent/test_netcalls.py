"""netcalls: DNS checks against a real UDP responder on 127.0.0.1, sysfs_net on a sysfs-shaped
tree and on this machine. Real sockets and files, no mocks."""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent import netcalls
from agent.parsers import dns_checks_json, sysfs_net_json

# --- a tiny DNS responder ------------------------------------------------------------------
# The first label of the asked name picks the behaviour: ok, nodata, fail, nx, refused,
# silent (never answers), late (first answers under another id), garbage, other (answers
# another question), big (sets TC).


def _answer(query: bytes) -> list[bytes]:
    query_id = struct.unpack_from("!H", query)[0]
    question = query[12:]
    behaviour = question[1 : 1 + question[0]].decode()

    def reply(rcode: int, ancount: int = 0, flags: int = 0x8180, body: bytes = question) -> bytes:
        header = struct.pack("!HHHHHH", query_id, flags | rcode, 1 if body else 0, ancount, 0, 0)
        # One A record, its name a pointer to the question's (offset 12).
        record = struct.pack("!HHHIH4s", 0xC00C, 1, 1, 60, 4, bytes([192, 0, 2, 10]))
        return header + body + record * ancount

    match behaviour:
        case "ok":
            return [reply(0, ancount=1)]
        case "nodata":
            return [reply(0)]
        case "fail":
            return [reply(2)]
        case "nx":
            return [reply(3)]
        case "refused":
            return [reply(5, body=b"")]
        case "late":
            wrong = struct.pack("!H", query_id ^ 0xFFFF) + reply(0, ancount=1)[2:]
            return [wrong, reply(0, ancount=1)]
        case "garbage":
            return [b"\xff\xff\xff"]
        case "other":
            return [reply(0, body=b"\x07another\x04test\x00\x00\x01\x00\x01")]
        case "big":
            return [reply(0, ancount=1, flags=0x8380)]
    return []  # silent


@pytest.fixture
def responder() -> Iterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                query, peer = sock.recvfrom(512)
            except TimeoutError:
                continue
            for datagram in _answer(query):
                sock.sendto(datagram, peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        sock.close()


@pytest.mark.parametrize(
    ("name", "status", "answers", "detail"),
    [
        ("ok.test", "ok", 1, ""),
        ("nodata.test", "ok", 0, "no records of that type"),
        ("fail.test", "servfail", 0, ""),
        ("nx.test", "nxdomain", 0, ""),
        ("refused.test", "refused", 0, ""),
        ("late.test", "ok", 1, ""),
        ("big.test", "ok", 1, "truncated"),
    ],
)
def test_dns_query_outcomes(
    responder: int, name: str, status: str, answers: int, detail: str
) -> None:
    result = netcalls.dns_query("127.0.0.1", name, 2.0, port=responder)
    assert (result["status"], result["answers"], result["detail"]) == (status, answers, detail)
    assert (result["server"], result["name"], result["qtype"]) == ("127.0.0.1", name, 1)
    rtt = result["rtt_ms"]
    assert isinstance(rtt, float) and 0 < rtt < 2000


@pytest.mark.parametrize("name", ["garbage.test", "other.test"])
def test_dns_query_bad_responses(responder: int, name: str) -> None:
    result = netcalls.dns_query("127.0.0.1", name, 2.0, port=responder)
    assert result["status"] == "error"
    assert str(result["detail"]).startswith("bad response: ")


def test_dns_query_timeout(responder: int) -> None:
    started = time.monotonic()
    result = netcalls.dns_query("127.0.0.1", "silent.test", 0.3, port=responder)
    elapsed = time.monotonic() - started
    assert (result["status"], result["detail"]) == ("timeout", "no answer in 0.3 s")
    assert 0.3 <= elapsed < 1.0


def test_dns_query_closed_port_and_bad_input() -> None:
    closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    result = netcalls.dns_query("127.0.0.1", "ok.test", 1.0, port=port)
    assert (result["status"], result["detail"]) == (
        "error",
        "connection refused (ICMP port unreachable)",
    )
    assert netcalls.dns_query("dns.example", "ok.test", 1.0)["detail"] == (
        "not an IP address: 'dns.example'"
    )
    assert netcalls.dns_query("127.0.0.1", "a..b", 1.0)["status"] == "error"


def test_dns_checks_run_concurrently_within_the_timeout(responder: int) -> None:
    started = time.monotonic()
    text = netcalls.dns_checks(
        ["127.0.0.1", "127.0.0.2"], ["silent.test", "ok.test", "nx.test"], 0.5, port=responder
    )
    elapsed = time.monotonic() - started
    # Six queries, two of them silent: one timeout's worth of waiting, not two.
    assert elapsed < 0.9
    doc = json.loads(text)
    assert doc["timeout_s"] == 0.5
    statuses = [(c["server"], c["name"], c["status"]) for c in doc["checks"]]
    assert statuses == [
        ("127.0.0.1", "silent.test", "timeout"),
        ("127.0.0.1", "ok.test", "ok"),
        ("127.0.0.1", "nx.test", "nxdomain"),
        # The responder is bound to 127.0.0.1: 127.0.0.2 gets ICMP port unreachable.
        ("127.0.0.2", "silent.test", "error"),
        ("127.0.0.2", "ok.test", "error"),
        ("127.0.0.2", "nx.test", "error"),
    ]
    parsed = dns_checks_json.parse(text)
    assert parsed.warnings == 0
    assert [(c.server, c.name, c.status) for c in parsed.value] == statuses


def test_dns_checks_are_bounded(responder: int) -> None:
    servers = [f"127.0.0.{i}" for i in range(1, 6)]
    names = [f"ok{i}.test" for i in range(5)]
    doc = json.loads(netcalls.dns_checks(servers, names, 0.2, port=responder))
    assert len(doc["checks"]) == netcalls.MAX_SERVERS * netcalls.MAX_NAMES == 9
    assert {c["server"] for c in doc["checks"]} == set(servers[:3])


# --- sysfs_net ------------------------------------------------------------------------------


def _device(sys: Path, where: str, name: str, files: dict[str, str]) -> None:
    """A device directory under sys/devices and its sys/class/net symlink, as sysfs has."""
    device = sys / "devices" / where / "net" / name
    (device / "statistics").mkdir(parents=True)
    for file, content in files.items():
        (device / file).write_text(content + "\n")
    link = sys / "class" / "net" / name
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(device, link.parent))


@pytest.fixture
def sysfs(tmp_path: Path) -> Path:
    sys = tmp_path / "sys"
    _device(
        sys,
        "pci0000:00/0000:00:1f.6",
        "eno1",
        {
            **{"address": "C8:5B:76:3F:14:D5", "operstate": "up", "carrier": "1"},
            **{"speed": "100", "duplex": "half", "mtu": "1500", "type": "1", "flags": "0x1003"},
            **{"carrier_changes": "14", "uevent": "INTERFACE=eno1\nIFINDEX=2"},
            **{"statistics/rx_bytes": "5000", "statistics/rx_errors": "3"},
            **{"statistics/tx_dropped": "garbled"},
        },
    )
    _device(
        sys,
        "pci0000:00/0000:00:14.3",
        "wlp0s20f3",
        {"type": "1", "operstate": "dormant", "flags": "0x1003", "uevent": "DEVTYPE=wlan"},
    )
    (sys / "devices/pci0000:00/0000:00:14.3/net/wlp0s20f3/wireless").mkdir()
    _device(sys, "virtual", "veth0", {"type": "1", "operstate": "down", "flags": "0x1002"})
    (sys / "class/net/bonding_masters").write_text("\n")  # a file, not an interface
    return sys / "class" / "net"


def test_sysfs_net_reads_a_sysfs_tree(sysfs: Path) -> None:
    doc = json.loads(netcalls.sysfs_net(str(sysfs)))
    assert [i["name"] for i in doc["interfaces"]] == ["eno1", "wlp0s20f3", "veth0"]
    eno1, wifi, veth = doc["interfaces"]
    assert (eno1["speed"], eno1["duplex"], eno1["carrier"], eno1["virtual"]) == (
        100,
        "half",
        1,
        False,
    )
    assert eno1["statistics"]["rx_errors"] == 3
    # Unreadable or missing files are null, never an exception.
    assert eno1["statistics"]["tx_dropped"] is None
    assert (veth["carrier"], veth["speed"], veth["virtual"]) == (None, None, True)
    assert (wifi["wireless"], wifi["devtype"], eno1["devtype"]) == (True, "wlan", None)
    assert doc["omitted"] == 0

    found = {i.name: i for i in sysfs_net_json.parse(json.dumps(doc)).value}
    assert (found["eno1"].kind, found["eno1"].mac, found["eno1"].carrier_changes) == (
        "ethernet",
        "c8:5b:76:3f:14:d5",
        14,
    )
    assert (found["wlp0s20f3"].kind, found["veth0"].kind, found["veth0"].admin_up) == (
        "wifi",
        "virtual",
        False,
    )


def test_sysfs_net_limit_keeps_physical_interfaces(sysfs: Path) -> None:
    doc = json.loads(netcalls.sysfs_net(str(sysfs), limit=2))
    assert [i["name"] for i in doc["interfaces"]] == ["eno1", "wlp0s20f3"]
    assert doc["omitted"] == 1


def test_sysfs_net_without_sysfs(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        netcalls.sysfs_net(str(tmp_path / "missing"))


@pytest.mark.live_host
@pytest.mark.skipif(not os.path.isdir(netcalls.SYS_CLASS_NET), reason="no /sys/class/net here")
def test_sysfs_net_on_this_machine() -> None:
    text = netcalls.sysfs_net()
    parsed = sysfs_net_json.parse(text)
    assert parsed.warnings == 0
    on_disk = {
        n for n in os.listdir(netcalls.SYS_CLASS_NET) if os.path.isdir(f"/sys/class/net/{n}")
    }
    assert {i.name for i in parsed.value} == on_disk
