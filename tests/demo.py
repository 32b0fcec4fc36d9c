"""`make demo`: a real collector, a real agent for this machine and simulated hosts, their tickets.

    .venv/bin/python -m tests.demo [--out DIR]

1. starts `rdiag-collector serve` on SQLite, on a free loopback port, plaintext (--insecure);
2. runs, all at once, `rdiag-agent run --once` for this machine and one per simulated host
   (`--source tests/fixtures/hosts/sim-*`: real captures with injected faults, each folder's
   FAULTS.md says what was injected);
3. waits until each has delivered its snapshot (`--once` exits 0 once the collector acked it);
4. stops the collector with SIGTERM, prints the pre-filled tickets and a summary.

The collector serves the L2 console on a free loopback port; the demo adds a user `demo`
(role L2) with a password made for this run, prints the URL and the login, and checks
that the console shows the tickets. With --keep the collector and the helpdesk keep
running after the summary, so the console can be browsed, until Ctrl-C.

Exit 0 only if every ticket the injected faults call for was opened and nothing else was
opened for a simulated host (the healthy one above all); otherwise 1, saying what was
missing and showing the ends of the logs. Collector and agent logs go to DIR/logs/, the
database stays in DIR/collector.db for a closer look (DIR: demo-out/, replaced on each run).
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from collector.store import Host, StoreError, Ticket, TicketState, open_store
from collector.tickets.report import report_of
from tests.helpers.procs import BIN, ROOT, CollectorProc, env, start_collector
from tests.helpers.roundup_tracker import RoundupServer

HOSTS_DIR = ROOT / "tests" / "fixtures" / "hosts"
DEFAULT_OUT = ROOT / "demo-out"
MARKER = ".rdiag-demo"  # only a folder carrying it is wiped and reused
VOLUME_FULL = "disk.volume_nearly_full"
SMART_FAILED = "disk.smart_health_failed"
AGENT_DEADLINE_S = 60.0  # for all agents together; --once gives up on acks a bit earlier
ONCE_TIMEOUT_S = 45.0
WIDTH = 78
DESCRIPTION = "collector + real agents + simulated hosts with injected faults -> tickets"


@dataclass(frozen=True)
class SimHost:
    folder: str  # under tests/fixtures/hosts
    hostname: str
    fault: str  # for the summary; the folder's FAULTS.md has the details
    expect: frozenset[tuple[str, str]]  # (rule id, component)

    @property
    def agent_id(self) -> str:
        return f"sim-{self.hostname}"

    @property
    def path(self) -> Path:
        return HOSTS_DIR / self.folder


SIMULATED: tuple[SimHost, ...] = (
    SimHost(
        "sim-linux-home-full",
        "ws-finance-07",
        "/home 97 % full",
        frozenset({(VOLUME_FULL, "/home")}),
    ),
    SimHost(
        "sim-linux-smart-failed",
        "ws-design-12",
        "drive /dev/sda: SMART FAILED",
        frozenset({(SMART_FAILED, "/dev/sda")}),
    ),
    SimHost(
        "sim-linux-smartctl-timeout",
        "ws-lab-21",
        "smartctl timed out; / 98 % full",
        frozenset({(VOLUME_FULL, "/")}),
    ),
    SimHost(
        "sim-linux-laptop-faults",
        "ws-eng-laptop-12",
        "sda failing, / read-only, sdb link errors, /home 96 %, VirtualBox oops",
        frozenset(
            {
                (SMART_FAILED, "/dev/sda"),
                (VOLUME_FULL, "/home"),
                # The I/O and ext4 errors on sda2 are merged into it: one problem, one ticket.
                ("disk.fs_read_only", "sda2"),
                ("disk.ata_link_errors", "ata2"),  # the md mirror's second SSD
                (
                    "boot.kernel_panic",
                    "BUG: unable to handle kernel paging request in rtR0MemObjLinuxFreePages",
                ),
            }
        ),  # fmt: skip
    ),
    SimHost(
        "sim-macos12-intel-imac",
        "ws-lab-09",
        "macOS: SATA disk SMART Failing",
        frozenset({(SMART_FAILED, "/dev/disk0")}),
    ),
    SimHost(
        "sim-windows11-laptop",
        "NB-SALES-114",
        "Windows: BugCheck 0x9f, disk 153 retries, Code 43",
        # Code 43 is held 10 minutes (drivers.device_failed): one snapshot does not open it.
        frozenset({("boot.bugcheck", "0x0000009f"), ("disk.windows_transport_errors", "")}),
    ),
    SimHost("sim-linux-healthy", "ws-support-03", "none (healthy host)", frozenset()),
)


@dataclass
class AgentRun:
    label: str  # what the summary calls it
    state_dir: Path
    log: Path
    argv: list[str]
    host: SimHost | None = None  # None: this machine
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    seconds: float = 0.0
    returncode: int | None = None
    logfile: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        self.logfile = open(self.log, "wb")  # noqa: SIM115 (closed in finish())
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self.logfile,
            stderr=subprocess.STDOUT,
            env=env(),
            cwd=ROOT,
        )

    def finish(self, deadline: float) -> None:
        assert self.proc is not None
        try:
            self.returncode = self.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            self.returncode = None  # did not finish in time
        self.seconds = time.monotonic() - self.started
        if self.logfile is not None:
            self.logfile.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self.logfile is not None and not self.logfile.closed:
            self.logfile.close()

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def outcome(self) -> str:
        if self.returncode == 0:
            return f"delivered in {self.seconds:.1f} s"
        if self.returncode is None:
            return f"FAILED: no answer within {AGENT_DEADLINE_S:g} s (killed)"
        return f"FAILED: exit status {self.returncode}"


class DemoError(Exception):
    """Something the demo needs did not work; the message says what."""


# --- output ------------------------------------------------------------------------


def section(title: str) -> None:
    print()
    print(title)
    print("-" * len(title))


def tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text("utf-8", errors="replace")
    except FileNotFoundError:
        return "    (no log)"
    kept = text.rstrip("\n").splitlines()[-lines:] or ["(empty)"]
    return "\n".join(f"    {line}" for line in kept)


def shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# --- steps -------------------------------------------------------------------------


def prepare(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise DemoError(f"{out} exists and is not a demo folder: choose another with --out")
        shutil.rmtree(out)
    (out / "logs").mkdir(parents=True)
    (out / MARKER).write_text("made by `python -m tests.demo`; replaced on each run\n")
    # An empty agent config, so a machine's /etc/rdiag/agent.toml does not change the demo.
    (out / "agent.toml").write_text("# rdiag demo: defaults, plus the flags on the command line\n")


def agent_runs(out: Path, address: str) -> list[AgentRun]:
    """One run per simulated host, then this machine's (live probes, its own state dir)."""

    def argv(state_dir: Path, *extra: str) -> list[str]:
        return [
            str(BIN / "rdiag-agent"),
            "--config",
            str(out / "agent.toml"),
            "run",
            "--once",
            "--once-timeout",
            f"{ONCE_TIMEOUT_S:g}",
            "--insecure",
            "--collector",
            address,
            "--state-dir",
            str(state_dir),
            *extra,
        ]

    runs = []
    for host in SIMULATED:
        state = out / "agents" / host.folder
        runs.append(
            AgentRun(
                host.folder,
                state,
                out / "logs" / f"agent-{host.folder}.log",
                argv(state, "--source", str(host.path), "--agent-id", host.agent_id),
                host=host,
            )
        )
    this = out / "agents" / "this-host"
    runs.append(AgentRun("this machine", this, out / "logs" / "agent-this-host.log", argv(this)))
    return runs


def run_agents(runs: Sequence[AgentRun]) -> None:
    """Start them all, then watch until each has exited (or the deadline has passed)."""
    for run in runs:
        run.start()
    deadline = time.monotonic() + AGENT_DEADLINE_S
    waiting = list(runs)
    while waiting and time.monotonic() < deadline:
        for run in [r for r in waiting if r.proc is not None and r.proc.poll() is not None]:
            run.finish(deadline)
            waiting.remove(run)
        time.sleep(0.05)
    for run in waiting:  # still running at the deadline: killed, and reported as such
        run.finish(time.monotonic())


@dataclass(frozen=True)
class Verdict:
    host: SimHost
    got: frozenset[tuple[str, str]]
    problems: tuple[str, ...]


def judge(
    host: SimHost, tickets: Sequence[Ticket], known: Host | None, delivered: set[int]
) -> Verdict:
    """Compare what the collector opened for a simulated host with what its faults call for."""
    # A merged ticket is carried by another (its root cause, a fleet incident): not counted.
    tickets = [t for t in tickets if t.state is not TicketState.MERGED]
    got = frozenset((t.rule_id, t.component) for t in tickets)
    problems: list[str] = []
    if known is None:
        problems.append(f"the collector has no host {host.agent_id}")
    elif known.inventory.hostname != host.hostname:
        problems.append(f"stored as host {known.inventory.hostname!r}, not {host.hostname!r}")
    for t in tickets:
        if t.hostname != host.hostname:
            problems.append(f"ticket #{t.id} names host {t.hostname!r}, not {host.hostname!r}")
        # One snapshot was sent, so a snapshot rule's ticket is seen once; an event rule's
        # counts the matching events, which a capture may hold several of.
        if t.occurrences != 1 and t.evidence.get("subject") != "event":
            problems.append(f"ticket #{t.id} counted {t.occurrences} times for one snapshot")
        if t.id not in delivered:
            problems.append(f"ticket #{t.id} was not delivered to the helpdesk")
    if len(got) != len(tickets):
        problems.append("the same problem has more than one ticket")
    for rule, component in sorted(host.expect - got):
        problems.append(f"missing ticket: {rule} on {component}")
    for rule, component in sorted(got - host.expect):
        what = "false alarm" if not host.expect else "unexpected ticket"
        problems.append(f"{what}: {rule} on {component}")
    return Verdict(host, got, tuple(problems))


def describe(pairs: frozenset[tuple[str, str]]) -> str:
    if not pairs:
        return "none"

    def short(comp: str) -> str:  # a crash title names the component: keep the table readable
        return comp if len(comp) <= 32 else comp[:31] + "…"

    return ", ".join(f"{rule.rpartition('.')[2]} {short(comp)}" for rule, comp in sorted(pairs))


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class Results:
    verdicts: tuple[Verdict, ...]
    hosts: tuple[Host, ...]
    this_machine: tuple[Host, ...]  # normally one; none if its agent did not get through
    this_tickets: tuple[Ticket, ...]
    delivered: int = 0  # tickets the helpdesk has


def read_store(url: str) -> tuple[list[Host], list[Ticket], dict[int, str], set[int]]:
    """Hosts, tickets, each ticket's report as an engineer reads it in a terminal, and the
    tickets the helpdesk has."""
    try:
        store = open_store(url)
    except StoreError as exc:
        raise DemoError(str(exc)) from None
    try:
        tickets = store.list_tickets(limit=1000)
        texts: dict[int, str] = {}
        delivered: set[int] = set()
        for t in tickets:
            text = report_of(store, t).markdown(machine=False)
            refs = store.ticket_refs(t.id)
            if refs:
                delivered.add(t.id)
                text += "".join(f"\nIn the helpdesk ({r.sink}): issue {r.external_id}, {r.url}"
                                for r in refs)  # fmt: skip
            texts[t.id] = text
        return store.list_hosts(), tickets, texts, delivered
    except StoreError as exc:
        raise DemoError(str(exc)) from None
    finally:
        store.close()


def report(url: str) -> Results:
    """Print every ticket, grouped by host (simulated hosts first); judge the simulated ones."""
    hosts, tickets, texts, delivered = read_store(url)
    by_agent = {h.agent_id: h for h in hosts}
    simulated_ids = {h.agent_id for h in SIMULATED}
    section(f"Pre-filled tickets ({len(tickets)})")
    verdicts = []
    for host in SIMULATED:
        mine = sorted((t for t in tickets if t.agent_id == host.agent_id), key=lambda t: t.id)
        verdicts.append(judge(host, mine, by_agent.get(host.agent_id), delivered))
        print(f"\n>> {host.hostname} (simulated: {host.folder}): {plural(len(mine), 'ticket')}")
        for t in mine:
            print(texts[t.id])
    this_hosts = tuple(h for h in hosts if h.agent_id not in simulated_ids)
    this_ids = {h.agent_id for h in this_hosts}
    this_tickets = sorted((t for t in tickets if t.agent_id in this_ids), key=lambda t: t.id)
    names = ", ".join(h.inventory.hostname for h in this_hosts) or "?"
    print(f"\n>> {names} (this machine): {plural(len(this_tickets), 'ticket')}")
    for t in this_tickets:
        print(texts[t.id])
    return Results(tuple(verdicts), tuple(hosts), this_hosts, tuple(this_tickets),
                   len(delivered))  # fmt: skip


def summary(results: Results) -> None:
    section("Summary")
    rows = [("HOST", "INJECTED FAULT", "EXPECTED TICKETS", "GOT", "RESULT")]
    for v in results.verdicts:
        rows.append((v.host.hostname, v.host.fault, describe(v.host.expect), describe(v.got),
                     "ok" if not v.problems else "WRONG"))  # fmt: skip
    for h in results.this_machine:
        got = describe(frozenset((t.rule_id, t.component) for t in results.this_tickets))
        rows.append((h.inventory.hostname, "(this machine: real probes)", "(not checked)", got, ""))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    problems = {v.host.hostname: v.problems for v in results.verdicts}
    for row in rows:
        cells = [cell.ljust(w) for cell, w in zip(row, widths, strict=False)] + [row[4]]
        print(("  " + "  ".join(cells)).rstrip())
        for problem in problems.get(row[0], ()):
            print(f"  {'':{widths[0]}}  -> {problem}")
    print()
    names = ", ".join(h.inventory.hostname for h in results.hosts)
    print(f"  hosts seen by the collector: {len(results.hosts)} ({names})")
    expected = sum(len(v.host.expect) for v in results.verdicts)
    opened = sum(len(v.host.expect & v.got) for v in results.verdicts)
    healthy = [v for v in results.verdicts if not v.host.expect]
    false_alarms = sum(len(v.got) for v in healthy)
    must_not = plural(len(healthy), "host")
    print(f"  expected tickets opened: {opened} of {expected}; "
          f"unexpected tickets on the {must_not} that must open none: {false_alarms}")  # fmt: skip
    print(f"  delivered to the helpdesk (a real Roundup tracker, through the outbox): "
          f"{plural(results.delivered, 'ticket')}")  # fmt: skip


DELIVERY_DEADLINE_S = 30.0


def collector_config(tracker: RoundupServer) -> str:
    """The demo collector delivers to the tracker; it waits 1 s (not 30) to group a burst."""
    return f"""
[tickets]
group_wait = "1s"

[outbox]
interval = "0.5s"

[sinks.roundup]
url = "{tracker.base_url}"
user = "{tracker.user}"
password = "{tracker.password}"
"""


def wait_for_delivery(url: str) -> None:
    """Until the outbox has nothing waiting or retrying (or the deadline passes: the
    verdicts then name the tickets the helpdesk does not have)."""
    deadline = time.monotonic() + DELIVERY_DEADLINE_S
    while time.monotonic() < deadline:
        try:
            store = open_store(url)
        except StoreError as exc:
            raise DemoError(str(exc)) from None
        try:
            busy = [d for d in store.deliveries(limit=10_000) if d.state in ("waiting", "retrying")]
        finally:
            store.close()
        if not busy:
            return
        time.sleep(0.5)


DEMO_USER = "demo"


def add_demo_user(db: Path) -> str:
    """A console user for this run, added with the real CLI; returns its password."""
    import secrets

    password = secrets.token_urlsafe(9)
    done = subprocess.run(
        [str(BIN / "rdiag-collector"), "--store", f"sqlite:///{db}", "users", "add", DEMO_USER,
         "--role", "L2", "--password-stdin"],
        input=password + "\n", capture_output=True, text=True, env=env(), timeout=60,
    )  # fmt: skip
    if done.returncode != 0:
        raise DemoError(f"could not add the console's demo user: {done.stderr.strip()}")
    return password


def console_tickets(url: str, password: str) -> int:
    """Log in to the console as the demo user; how many tickets its API lists."""
    import re

    import httpx

    with httpx.Client(base_url=url, timeout=30, follow_redirects=True) as client:
        form = client.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        if token is None:
            raise DemoError(f"the console's login page at {url} has no form")
        page = client.post("/login", data={"username": DEMO_USER, "password": password,
                                           "csrf": token.group(1), "next": "/"})  # fmt: skip
        if page.status_code != 200 or "Fleet overview" not in page.text:
            raise DemoError(f"could not log in to the console at {url} ({page.status_code})")
        listed = client.get("/api/v1/tickets", params={"limit": 1})
        return int(listed.json()["total"])


def stored_tickets(url: str) -> int:
    store = open_store(url)
    try:
        return store.page_tickets(limit=1)[1]
    finally:
        store.close()


def keep_serving(collector: CollectorProc, password: str) -> None:
    print()
    print(f"The console stays up at {collector.console_url}")
    print(f"  log in as {DEMO_USER} / {password}; Ctrl-C stops the collector and the helpdesk.")
    try:
        while collector.proc.poll() is None:
            time.sleep(1)
    except KeyboardInterrupt:
        print()


def roundup_version() -> str:
    from importlib.metadata import version

    return version("roundup")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.demo", description=DESCRIPTION)
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="work folder (default: demo-out/)"
    )
    parser.add_argument(
        "--keep", action="store_true",
        help="keep the collector, its console and the helpdesk running until Ctrl-C",
    )  # fmt: skip
    parser.add_argument("--console", metavar="HOST:PORT", default="127.0.0.1:0",
                        help="the console's address (default: a free loopback port)")  # fmt: skip
    args = parser.parse_args(argv)
    # Ticket texts carry °C and the like; a terminal that cannot show them gets "?".
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="replace")
    out: Path = args.out.resolve()
    t0 = time.monotonic()
    collector: CollectorProc | None = None
    tracker: RoundupServer | None = None
    collector_log = out / "logs" / "collector.log"
    runs: list[AgentRun] = []
    failures: list[str] = []
    suspects: list[Path] = [collector_log]  # logs whose ends are shown on failure
    print("rdiag demo: agents -> gRPC -> collector -> SQLite -> rules -> pre-filled tickets")
    print("=" * WIDTH)
    try:
        prepare(out)
        db = out / "collector.db"
        tracker = RoundupServer(out / "helpdesk")
        tracker.start()
        print(f"  helpdesk   a Roundup {roundup_version()} tracker at {tracker.base_url}/ "
              f"(user {tracker.admin[0]}, password {tracker.admin[1]})")  # fmt: skip
        collector = start_collector(db, collector_log, config=collector_config(tracker),
                                    console=True, extra=("--console", args.console))  # fmt: skip
        print(f"  collector  rdiag-collector serve on {collector.address}, SQLite {shown(db)}, "
              "plaintext (--insecure), tickets to the helpdesk through the outbox")  # fmt: skip
        password = add_demo_user(db)
        print(f"  console    {collector.console_url} (user {DEMO_USER}, password {password})")
        runs = agent_runs(out, collector.address)
        print(f"  agents     {len(SIMULATED)} simulated hosts (tests/fixtures/hosts/sim-*) and "
              "this machine,\n             all at once, each `rdiag-agent run --once`")  # fmt: skip

        section("Agents")
        run_agents(runs)
        for run in runs:
            who = run.host.hostname if run.host is not None else "live probes"
            print(f"  {run.label:28} {who:15} {run.outcome}")
            if not run.ok:
                failures.append(f"agent {run.label}: {run.outcome}")
                suspects.append(run.log)

        wait_for_delivery(f"sqlite:///{db}")
        shown_tickets = console_tickets(collector.console_url, password)
        if not args.keep:
            status = collector.stop()
            collector = None
            if status != 0:
                failures.append(f"the collector exited with status {status} on SIGTERM")

        results = report(f"sqlite:///{db}")
        summary(results)
        stored = stored_tickets(f"sqlite:///{db}")
        if shown_tickets != stored:
            failures.append(f"the console lists {shown_tickets} tickets, the store has {stored}")
        for v in results.verdicts:
            failures += [f"{v.host.hostname}: {p}" for p in v.problems]
            if v.problems:
                suspects.append(out / "logs" / f"agent-{v.host.folder}.log")
    except DemoError as exc:
        failures.append(str(exc))
    except RuntimeError as exc:  # start_collector: the collector did not come up
        failures.append(str(exc).splitlines()[0])
    except OSError as exc:  # a folder not writable, a program not installed
        failures.append(f"{exc.filename or 'demo'}: {exc.strerror or exc}")
    except KeyboardInterrupt:
        failures.append("interrupted")
    else:
        if args.keep and collector is not None and not failures:
            keep_serving(collector, password)
    finally:
        for run in runs:
            run.kill()
        if collector is not None:
            try:
                collector.stop()
            except subprocess.TimeoutExpired:
                failures.append("the collector did not stop on SIGTERM within 20 s (killed)")
        if tracker is not None:
            tracker.close()

    took = time.monotonic() - t0
    print()
    if failures:
        print(f"DEMO FAILED after {took:.1f} s:")
        for f in failures:
            print(f"  - {f}")
        for log in (p for p in dict.fromkeys(suspects) if p.exists()):
            print(f"\n  last lines of {shown(log)}:")
            print(tail(log))
        return 1
    print(f"DEMO OK in {took:.1f} s. Logs and the database stay in {shown(out)}/, e.g.")
    if not args.keep:
        print("  make demo KEEP=1  keeps the collector and its console running to browse them;")
    print(f"  {shown(BIN / 'rdiag-collector')} --store sqlite:///{shown(out / 'collector.db')} "
          "tickets list")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
