"""Real network faults: a real agent in a network namespace whose DNS server and gateway fail.

Root only, with iproute2 (`ip`) and iputils `ping`: the module makes a network namespace joined
to the root namespace by a veth pair on 198.18.N.0/24 (RFC 2544 benchmarking space, so no real
network is shadowed). Inside it:

- /etc/resolv.conf (bind-mounted by `ip netns exec` from /etc/netns/NS/resolv.conf) names one
  DNS server, the root-side veth address. The test itself holds UDP port 53 there and never
  answers: a server that is reachable (ARP, routing fine) but silent, so every query times
  out (the test also reads the queries to prove the agent asked it over the veth).
- the default route points at 198.18.N.254, which nobody holds: no ARP entry, no ping reply.

A real `rdiag-agent run` (live source: it reads the namespace's view of this host) streams
every 5 s to a real `rdiag-collector serve` listening on the root-side veth address. The
shipped rule cross.fleet_dns_outage (per host: a DNS server failing for 1 minute) must open a
ticket for that server. network.gateway_unreachable needs 5 minutes of failed pings, too long
for a test: the collector runs a copy of the shipped rule pack in which only that rule's
`persist` is cut to 20 s; its condition, component and ticket text are the shipped ones.

Takes about 70 s (the DNS rule's real minute plus one cycle and start-up). Everything it
creates (namespace, veth, /etc/netns/NS) is removed in a finally, whatever fails.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from collector.store import Ticket, TicketState, open_store
from tests.helpers.procs import BIN, ROOT, env, start_collector

pytestmark = [pytest.mark.slow, pytest.mark.live_host]

INTERVAL = "5s"
DNS_NAME = "intranet.corp.example.com"
DNS_PERSIST_S = 60  # rules/cross/fleet_dns_outage.yaml persist: {duration: 1m}
GATEWAY_PERSIST_S = 20  # cut from 5m in this test's copy of the rule pack
SHIPPED_GATEWAY_PERSIST = "persist: {duration: 5m}"
DEADLINE_S = 150  # generous for a shared 2-core box; it normally takes ~70 s
NETWORK_RULES = (  # every rule that could speak about this host's DNS or gateway
    "cross.fleet_dns_outage",
    "network.dns_timeouts",
    "network.dns_not_configured",
    "network.gateway_unreachable",
)


@dataclass(frozen=True)
class Netns:
    name: str
    root_if: str  # veth end in the root namespace, holds root_ip
    ns_if: str  # veth end inside the namespace, holds ns_ip
    root_ip: str  # the collector and the silent DNS server listen here
    ns_ip: str
    gateway: str  # the namespace's default gateway: nobody holds it


def ip(*args: str, ns: str = "") -> subprocess.CompletedProcess[str]:
    argv = ["ip", *(("netns", "exec", ns, "ip") if ns else ()), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def must(done: subprocess.CompletedProcess[str]) -> None:
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(done.args)}: exit {done.returncode}: {done.stderr.strip()}")


def skip_unless_possible() -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("network namespaces are Linux only")
    if os.geteuid() != 0:
        pytest.skip("needs root to create a network namespace and a veth pair")
    for tool, package in (("ip", "iproute2"), ("ping", "iputils-ping")):
        if shutil.which(tool) is None:
            pytest.skip(f"no `{tool}` binary (Debian: apt-get install {package})")


@pytest.fixture(scope="module")
def netns() -> Iterator[Netns]:
    skip_unless_possible()
    n = os.getpid() % 250 + 1
    name = f"rdiag-e2e-{os.getpid()}"
    net = Netns(
        name=name,
        root_if=f"rdg{os.getpid() % 100000}a",  # interface names: at most 15 characters
        ns_if=f"rdg{os.getpid() % 100000}b",
        root_ip=f"198.18.{n}.1",
        ns_ip=f"198.18.{n}.2",
        gateway=f"198.18.{n}.254",
    )
    etc_netns = Path("/etc/netns")
    made_etc_netns = not etc_netns.exists()
    added = ip("netns", "add", name)
    if added.returncode != 0:
        pytest.skip(f"cannot create a network namespace: `ip netns add`: {added.stderr.strip()}")
    try:
        veth = ip("link", "add", net.root_if, "type", "veth", "peer", "name", net.ns_if,
                  "netns", name)  # fmt: skip
        if veth.returncode != 0:
            pytest.skip(f"cannot create a veth pair: `ip link add`: {veth.stderr.strip()}")
        must(ip("addr", "add", f"{net.root_ip}/24", "dev", net.root_if))
        must(ip("link", "set", net.root_if, "up"))
        must(ip("addr", "add", f"{net.ns_ip}/24", "dev", net.ns_if, ns=name))
        must(ip("link", "set", net.ns_if, "up", ns=name))
        must(ip("link", "set", "lo", "up", ns=name))
        must(ip("route", "add", "default", "via", net.gateway, "dev", net.ns_if, ns=name))
        (etc_netns / name).mkdir(parents=True)
        (etc_netns / name / "resolv.conf").write_text(f"nameserver {net.root_ip}\n")
        yield net
    finally:
        # Deleting the namespace destroys the veth end inside it and with it the pair; the
        # explicit delete covers a failure before the peer was moved in.
        ip("netns", "del", name)
        ip("link", "del", net.root_if)
        shutil.rmtree(etc_netns / name, ignore_errors=True)
        if made_etc_netns:
            try:
                etc_netns.rmdir()
            except OSError as exc:
                if exc.errno != errno.ENOTEMPTY:  # someone else's namespace config since
                    raise


@dataclass(frozen=True)
class Outcome:
    net: Netns
    tickets: list[Ticket]
    questions: list[str]  # the names the agent asked the silent server
    started_ms: int  # wall clock when the agent was started


def silent_dns_server(address: str) -> socket.socket:
    """UDP :53 that takes every query and answers none (the kernel queues them for us)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    try:
        sock.bind((address, 53))
    except OSError as exc:
        sock.close()
        # A DNS server of this machine listening on every address (0.0.0.0:53) holds it.
        pytest.skip(f"cannot take UDP {address}:53 for the silent DNS server: {exc}")
    sock.setblocking(False)
    return sock


def qname(packet: bytes) -> str:
    """The question's name of a DNS query (labels from byte 12; queries use no pointers)."""
    labels, i = [], 12
    while i < len(packet) and packet[i]:
        labels.append(packet[i + 1 : i + 1 + packet[i]].decode("ascii", "replace"))
        i += 1 + packet[i]
    return ".".join(labels)


def drain(sock: socket.socket) -> list[str]:
    names = []
    while True:
        try:
            names.append(qname(sock.recv(4096)))
        except BlockingIOError:
            return names


def rule_pack(folder: Path) -> Path:
    """The shipped rules, with only the gateway rule's persist cut to GATEWAY_PERSIST_S."""
    shutil.copytree(ROOT / "rules", folder)
    rule = folder / "network" / "gateway_unreachable.yaml"
    text = rule.read_text()
    assert text.count(SHIPPED_GATEWAY_PERSIST) == 1, f"{rule}: persist changed, update the test"
    rule.write_text(
        text.replace(SHIPPED_GATEWAY_PERSIST, f"persist: {{duration: {GATEWAY_PERSIST_S}s}}")
    )
    return folder


def network_tickets(url: str, agent_id: str) -> list[Ticket]:
    with open_store(url) as store:
        tickets = store.list_tickets(agent_id=agent_id)
    return sorted((t for t in tickets if t.rule_id in NETWORK_RULES), key=lambda t: t.rule_id)


@pytest.fixture(scope="module")
def outcome(netns: Netns, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    tmp = tmp_path_factory.mktemp("netns")
    dns = silent_dns_server(netns.root_ip)
    rules = rule_pack(tmp / "rules")
    # The collector tells every agent its schedule on connect (it overrides the agent's own
    # --interval): 5 s cycles of the two probes the network rules read.
    config = (
        f'[agents]\ninterval = "{INTERVAL}"\nprobes = ["inventory", "network"]\n'
        f'[rules]\npath = "{rules}"\nreload_interval = "0s"\n'
    )
    col = start_collector(tmp / "collector.db", tmp / "collector.log", host=netns.root_ip,
                          config=config)  # fmt: skip
    agent_toml = tmp / "agent.toml"
    agent_toml.write_text(
        "[collect]\n"
        'probes = ["inventory", "network"]\n'  # the first cycle may run before Welcome
        f'dns_names = ["{DNS_NAME}"]\n'
        'dns_timeout = "1s"\n'
    )
    agent_id = f"e2e-netns-{os.getpid()}"
    agent_log = tmp / "agent.log"
    argv = ["ip", "netns", "exec", netns.name, str(BIN / "rdiag-agent"), "--config",
            str(agent_toml), "run", "--insecure", "--collector", col.address, "--interval",
            INTERVAL, "--state-dir", str(tmp / "state"), "--agent-id", agent_id]  # fmt: skip
    started_ms = int(time.time() * 1000)
    with open(agent_log, "w") as log:
        agent = subprocess.Popen(argv, stdout=log, stderr=log, env=env(), cwd=ROOT)
    try:
        deadline = time.monotonic() + DEADLINE_S
        wanted = {"cross.fleet_dns_outage", "network.gateway_unreachable"}
        while time.monotonic() < deadline and agent.poll() is None:
            tickets = network_tickets(col.url, agent_id)
            if wanted <= {t.rule_id for t in tickets}:
                break
            time.sleep(1)
        tickets = network_tickets(col.url, agent_id)
        assert agent.poll() is None, f"agent exited {agent.returncode}:\n{agent_log.read_text()}"
    finally:
        if agent.poll() is None:
            agent.send_signal(signal.SIGTERM)
            try:
                agent.wait(20)
            except subprocess.TimeoutExpired:
                agent.kill()
                agent.wait(5)
        status = col.stop()
        questions = drain(dns)
        dns.close()
    assert status == 0, f"collector exit status {status}:\n{col.log.read_text()}"
    found = {t.rule_id for t in tickets}
    assert wanted <= found, (
        f"after {DEADLINE_S} s only {sorted(found)}; agent log:\n{agent_log.read_text()}"
        f"\ncollector log:\n{col.log.read_text()}"
    )
    yield Outcome(netns, tickets, questions, started_ms)


def only(tickets: list[Ticket], rule_id: str) -> Ticket:
    (ticket,) = (t for t in tickets if t.rule_id == rule_id)
    return ticket


def test_dns_server_that_never_answers_opens_one_ticket_naming_it(outcome: Outcome) -> None:
    server = outcome.net.root_ip
    # The agent really asked the server through the veth, one query a cycle: ~13 in the
    # minute at 5 s (half that leaves room for a slow box; 60 s cycles would give 2).
    assert len(outcome.questions) >= DNS_PERSIST_S // 10
    assert set(outcome.questions) == {DNS_NAME}

    ticket = only(outcome.tickets, "cross.fleet_dns_outage")
    hostname = socket.gethostname()
    assert (ticket.component, ticket.hostname, ticket.state) == (server, hostname, TicketState.OPEN)
    assert ticket.summary == f"[Network] DNS server {server} not answering on {hostname}"
    assert (ticket.severity, ticket.tier, ticket.category) == ("high", "L1", "Network / DNS")
    values = ticket.evidence["values"]
    assert (values["server"], values["name"], values["status"]) == (server, DNS_NAME, "timeout")
    assert values["detail"] == "no answer in 1 s"
    assert f"the DNS server {server} did not answer" in ticket.description
    # Opened only once the failure had lasted the rule's minute of real time.
    assert ticket.created_at_ms - outcome.started_ms >= DNS_PERSIST_S * 1000
    # The server is configured, so "no DNS server" must not fire; the agent's active check is
    # the Linux side, the DNS-Client event rule (Windows) stays silent.
    assert not [t for t in outcome.tickets if t.rule_id in (
        "network.dns_not_configured", "network.dns_timeouts")]  # fmt: skip


def test_gateway_nobody_holds_opens_one_ticket_naming_it(outcome: Outcome) -> None:
    gateway, interface = outcome.net.gateway, outcome.net.ns_if
    ticket = only(outcome.tickets, "network.gateway_unreachable")
    hostname = socket.gethostname()
    assert (ticket.component, ticket.hostname, ticket.state) == (
        gateway,
        hostname,
        TicketState.OPEN,
    )
    assert ticket.summary == f"[Network] Default gateway {gateway} unreachable on {hostname}"
    values = ticket.evidence["values"]
    # No ARP entry for it, so the agent pinged, and nothing answered.
    assert (values["gateway"], values["interface"]) == (gateway, interface)
    assert (values["method"], values["detail"]) == ("ping", "no reply")
    assert f"could not reach its default gateway {gateway} on interface {interface}" in (
        ticket.description
    )
    assert ticket.created_at_ms - outcome.started_ms >= GATEWAY_PERSIST_S * 1000
