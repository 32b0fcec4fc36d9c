"""In-process network calls for the network probe: they gather, the parsers interpret.

* sysfs_net() reads /sys/class/net into JSON (agent/parsers/sysfs_net_json.py shows the
  shape). Only sysfs reads, each guarded: a file a driver refuses (`speed` of a down link
  gives EINVAL) becomes null, never an exception.
* dns_query() / dns_checks() ask DNS servers directly, one UDP query per (server, name),
  built by agent/parsers/dns_wire.py. All queries of a check go out at once and are
  awaited together, so a check takes at most `timeout` however many servers are dead.

Both return plain data for the probe (dns_checks and sysfs_net as JSON text, the form a
capture stores; agent/parsers/dns_checks_json.py reads it back).
"""

from __future__ import annotations

import json
import os
import secrets
import selectors
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass

from agent.parsers import ParseError, dns_wire

SYS_CLASS_NET = "/sys/class/net"
MAX_INTERFACES = 512  # a container host can have thousands of veths; physical ones go first
MAX_SERVERS = 3
MAX_NAMES = 3
_READ_LIMIT = 4096
_INT_FILES = ("carrier", "speed", "mtu", "type", "carrier_changes")
_STR_FILES = ("address", "operstate", "duplex", "flags")
_COUNTERS = (
    *("rx_bytes", "tx_bytes", "rx_packets", "tx_packets"),
    *("rx_errors", "tx_errors", "rx_dropped", "tx_dropped"),
)
_RCODE_STATUS = {0: "ok", 2: "servfail", 3: "nxdomain", 5: "refused"}


# --- /sys/class/net ---------------------------------------------------------------------


def sysfs_net(root: str = SYS_CLASS_NET, *, limit: int = MAX_INTERFACES) -> str:
    """Every interface under `root` (physical ones first, at most `limit`) as JSON;
    OSError only when `root` cannot be listed."""
    found: list[tuple[bool, str, str]] = []
    for name in os.listdir(root):
        path = os.path.join(root, name)
        if os.path.isdir(path):  # /sys/class/net/bonding_masters is a plain file
            # Virtual devices live under /sys/devices/virtual/net/ (sysfs-class-net ABI).
            found.append(("/devices/virtual/" in os.path.realpath(path), name, path))
    found.sort()
    interfaces = [_interface(name, path, virtual) for virtual, name, path in found[:limit]]
    return json.dumps(
        {
            "interfaces": interfaces,
            "omitted": max(0, len(found) - limit),
        }
    )


def _interface(name: str, path: str, virtual: bool) -> dict[str, object]:
    entry: dict[str, object] = {"name": name}
    for file in _STR_FILES:
        entry[file] = _read(os.path.join(path, file))
    for file in _INT_FILES:
        entry[file] = _read_int(os.path.join(path, file))
    entry["wireless"] = os.path.isdir(os.path.join(path, "wireless")) or os.path.exists(
        os.path.join(path, "phy80211")
    )
    entry["virtual"] = virtual
    entry["devtype"] = _devtype(os.path.join(path, "uevent"))
    stats = os.path.join(path, "statistics")
    entry["statistics"] = {c: _read_int(os.path.join(stats, c)) for c in _COUNTERS}
    return entry


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read(_READ_LIMIT).decode("utf-8", errors="replace").strip()
    except OSError:
        return None


def _read_int(path: str) -> int | None:
    text = _read(path)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _devtype(path: str) -> str | None:
    """DEVTYPE= from uevent: wlan, bridge, bond, vlan, wireguard ...; None for plain NICs."""
    for line in (_read(path) or "").splitlines():
        if line.startswith("DEVTYPE="):
            return line.removeprefix("DEVTYPE=")
    return None


# --- active DNS checks ------------------------------------------------------------------


@dataclass(slots=True)
class _Query:
    result: dict[str, object]
    sock: socket.socket
    query_id: int
    name: str
    qtype: int
    sent_at: float


def dns_query(
    server: str, name: str, timeout: float, qtype: int = dns_wire.QTYPE_A, *, port: int = 53
) -> dict[str, object]:
    """One UDP query of `name` to `server` (an IP address, `fe80::1%eth0` allowed):
    {"server", "name", "qtype", "status": ok|nxdomain|servfail|refused|timeout|error,
    "rtt_ms", "answers", "detail"}. Network failures are results, not exceptions."""
    return _run([(server, name)], timeout, qtype, port)[0]


def dns_checks(
    servers: Iterable[str],
    names: Iterable[str],
    timeout: float,
    *,
    qtype: int = dns_wire.QTYPE_A,
    port: int = 53,
) -> str:
    """Every name asked of every server (at most MAX_SERVERS x MAX_NAMES), concurrently,
    within `timeout` in total: JSON {"timeout_s", "checks": [dns_query() results]}."""
    pairs = [(s, n) for s in list(servers)[:MAX_SERVERS] for n in list(names)[:MAX_NAMES]]
    return json.dumps({"timeout_s": timeout, "checks": _run(pairs, timeout, qtype, port)})


def _run(
    pairs: list[tuple[str, str]], timeout: float, qtype: int, port: int
) -> list[dict[str, object]]:
    results: list[dict[str, object]] = []
    with selectors.DefaultSelector() as selector:
        try:
            for server, name in pairs:
                result: dict[str, object] = {
                    "server": server,
                    "name": name,
                    "qtype": qtype,
                    "status": "error",
                    "rtt_ms": 0.0,
                    "answers": 0,
                    "detail": "",
                }
                results.append(result)
                query = _send(result, server, name, qtype, port)
                if query is not None:
                    selector.register(query.sock, selectors.EVENT_READ, query)
            deadline = time.monotonic() + max(timeout, 0.0)
            while selector.get_map() and (remaining := deadline - time.monotonic()) > 0:
                for key, _ in selector.select(remaining):
                    query = key.data
                    if _receive(query):
                        selector.unregister(query.sock)
                        query.sock.close()
            for key in selector.get_map().values():
                key.data.result.update(status="timeout", detail=f"no answer in {timeout:g} s")
        finally:
            for key in list(selector.get_map().values()):
                selector.unregister(key.fileobj)
                key.data.sock.close()
    return results


def _send(
    result: dict[str, object], server: str, name: str, qtype: int, port: int
) -> _Query | None:
    query_id = secrets.randbelow(0x10000)
    try:
        packet = dns_wire.build_query(query_id, name, qtype)
    except ValueError as exc:
        result["detail"] = str(exc)
        return None
    try:
        infos = socket.getaddrinfo(
            server, port, type=socket.SOCK_DGRAM, flags=socket.AI_NUMERICHOST
        )
    except (socket.gaierror, UnicodeError):
        result["detail"] = f"not an IP address: {server!r}"
        return None
    family, _, _, _, address = infos[0]
    sock: socket.socket | None = None
    try:
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.setblocking(False)
        # Connected: the kernel drops datagrams from other sources and reports ICMP errors.
        sock.connect(address)
        sock.send(packet)
    except OSError as exc:
        if sock is not None:
            sock.close()
        result["detail"] = _why(exc)
        return None
    return _Query(result, sock, query_id, name, qtype, time.monotonic())


def _receive(query: _Query) -> bool:
    """Read one datagram; True when the query has its outcome."""
    result = query.result
    try:
        data = query.sock.recv(4096)
    except BlockingIOError:
        return False
    except OSError as exc:
        result["detail"] = _why(exc)
        return True
    result["rtt_ms"] = round((time.monotonic() - query.sent_at) * 1000, 2)
    try:
        rcode, answers = dns_wire.parse_response(data, query.query_id, query.name, query.qtype)
    except dns_wire.IdMismatch:
        return False  # a late answer to someone else's query: keep waiting
    except ParseError as exc:
        result["detail"] = f"bad response: {exc}"
        return True
    result["status"] = _RCODE_STATUS.get(rcode, "error")
    result["answers"] = answers
    name = dns_wire.RCODE_NAMES.get(rcode, "unassigned")
    if result["status"] == "error":
        result["detail"] = f"rcode {rcode} ({name})"
    elif rcode == 0 and not answers:
        result["detail"] = "no records of that type"
    if dns_wire.truncated(data):
        result["detail"] = (str(result["detail"]) + "; truncated").lstrip("; ")
    return True


def _why(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (ICMP port unreachable)"
    return f"{type(exc).__name__}: {exc.strerror or exc}"
