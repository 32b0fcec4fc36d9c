"""The rdiag pytest plugin: a real collector and simulated fleets as fixtures.

Installed with rdiag (entry point `pytest11: rdiag`), so any project's pytest has it:

    def test_a_failing_drive_ends_as_one_l2_ticket(simulated_fleet):
        fleet = simulated_fleet("scenarios/disk-failing-drive.yaml")
        fleet.assert_expected()              # the scenario's own expect: block
        ticket = fleet.assert_ticket("disk.smart_health_failed", host="ws-eng-001",
                                     priority="P1", tier="L2")
        assert "Reallocated" in ticket.description
        fleet.assert_no_ticket("network.*")

Fixtures:

* `collector` — a real `rdiag-collector serve` on a free loopback port (plaintext), its
  SQLite database and log in the test's temporary folder, stopped with SIGTERM at the end
  of the test (its log is shown when a test fails). It starts when first used; the
  simulated fleet starts it with the scenario's collector settings.
* `simulated_fleet(scenario, **options)` — runs a scenario file's fleet against that
  collector (`rdiag-agent simulate`, in-process) and returns a FleetRun: the run's figures,
  the verify report, the tickets and incidents, and assertions on them.

A failing assertion names what it looked for and lists what the collector has instead.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pytest

if TYPE_CHECKING:
    from collector.sim.process import CollectorProc
    from collector.sim.run import RunResult
    from collector.sim.scenario import Scenario
    from collector.sim.verify import VerifyReport
    from collector.store import Incident, SqlStore, Ticket


class RdiagCollector:
    """A collector process for one test; started on first use."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.db = folder / "collector.db"
        self.log = folder / "collector.log"
        self.config = ""
        self._proc: CollectorProc | None = None
        self._store: SqlStore | None = None

    @property
    def started(self) -> bool:
        return self._proc is not None

    def start(self, config: str = '[store]\nclock = "observed"\n') -> None:
        """Start with this TOML configuration (default: the observed clock of simulations)."""
        from collector.sim.process import start_collector

        if self._proc is not None:
            if config != self.config:
                raise RuntimeError(
                    "this test's collector already runs with other settings; a test runs "
                    "scenarios that share their collector settings (or use two tests)"
                )
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self.config = config
        self._proc = start_collector(self.db, self.log, config=config)

    @property
    def address(self) -> str:
        if self._proc is None:
            self.start()
        assert self._proc is not None
        return self._proc.address

    @property
    def url(self) -> str:
        return f"sqlite:///{self.db}"

    @property
    def store(self) -> SqlStore:
        """The collector's database, opened read-side (SQLite WAL: readers do not block it)."""
        from collector.store import open_store

        if self._store is None:
            self._store = open_store(self.url)
        return self._store

    def tickets(self, **filters: Any) -> list[Ticket]:
        """store.list_tickets(**filters): state=, agent_id=, priority=, tier=, kind=."""
        from collector.store import TicketState

        filters.setdefault("limit", 100_000)
        if isinstance(filters.get("state"), str):
            filters["state"] = TicketState(filters["state"])
        return self.store.list_tickets(**filters)

    def incidents(self) -> list[Incident]:
        return self.store.list_incidents(limit=100_000)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._proc is not None:
            proc, self._proc = self._proc, None
            proc.stop()


@dataclass
class FleetRun:
    scenario: Scenario
    result: RunResult
    collector: RdiagCollector
    names: dict[str, str] = field(default_factory=dict)  # agent id -> hostname

    def report(self) -> VerifyReport:
        from collector.sim.verify import observe, verify

        return verify(self.scenario, observe(self.collector.store))

    def assert_expected(self) -> VerifyReport:
        """The scenario's expect: block holds (the verify step); the table when it does not."""
        report = self.report()
        if not report.passed:
            pytest.fail(f"scenario {self.scenario.name} did not verify:\n{report.table()}",
                        pytrace=False)  # fmt: skip
        return report

    def tickets(self, rule: str = "*", **filters: Any) -> list[Ticket]:
        """Tickets whose rule matches the pattern (fnmatch), with the store's filters."""
        return [t for t in self.collector.tickets(**filters)
                if fnmatch.fnmatchcase(t.rule_id, rule)]  # fmt: skip

    def _host(self, t: Ticket) -> str:
        return t.hostname or self.names.get(t.agent_id, t.agent_id)

    def _listing(self) -> str:
        rows = [f"  #{t.id} {t.rule_id} host={self._host(t) or '-'} component={t.component!r} "
                f"{t.priority} {t.tier} {t.state.value} {t.kind}"
                for t in self.collector.tickets()]  # fmt: skip
        return "\n".join(rows) or "  (no tickets at all)"

    def assert_ticket(
        self,
        rule: str,
        *,
        host: str | None = None,
        kind: str | None = None,
        component: str | None = None,
        priority: str | None = None,
        tier: str | None = None,
        state: str | None = None,
    ) -> Ticket:
        """The one ticket of the rule (pattern) with these properties; fails, listing every
        ticket, when there is none or more than one."""
        found = [
            t for t in self.tickets(rule)
            if (host is None or host in (self._host(t), t.agent_id))
            and (kind is None or t.kind == kind)
            and (component is None or t.component == component)
            and (priority is None or t.priority == priority)
            and (tier is None or t.tier == tier)
            and (state is None or t.state.value == state)
        ]  # fmt: skip
        if len(found) != 1:
            wanted = ", ".join(f"{k}={v}" for k, v in (("host", host), ("kind", kind),
                               ("component", component), ("priority", priority),
                               ("tier", tier), ("state", state)) if v is not None)  # fmt: skip
            pytest.fail(
                f"expected one {rule} ticket{' with ' + wanted if wanted else ''}, "
                f"found {len(found)}; the collector has:\n{self._listing()}",
                pytrace=False,
            )
        return found[0]

    def assert_no_ticket(self, rule: str = "*", **filters: Any) -> None:
        """No ticket of the rule (pattern) with the store's filters."""
        found = self.tickets(rule, **filters)
        if found:
            pytest.fail(f"expected no {rule} ticket, found {len(found)}:\n{self._listing()}",
                        pytrace=False)  # fmt: skip


class SimulatedFleet(Protocol):
    def __call__(
        self, scenario: str | os.PathLike[str], *, start_ms: int | None = ...
    ) -> FleetRun: ...


@pytest.fixture
def collector(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[RdiagCollector]:
    """A real rdiag-collector on a free loopback port with a temporary SQLite database."""
    handle = RdiagCollector(tmp_path / "rdiag-collector")
    try:
        yield handle
    finally:
        failed = getattr(request.node, "rdiag_failed", False)
        handle.stop()
        if failed and handle.log.exists():
            print(f"\n--- rdiag collector log ({handle.log}), last lines:\n{handle.log_tail()}")


@pytest.fixture
def simulated_fleet(collector: RdiagCollector, tmp_path: Path) -> SimulatedFleet:
    """simulated_fleet(path) runs the scenario against `collector`; returns a FleetRun."""
    from agent.config import CollectorSection
    from collector.sim.run import simulate
    from collector.sim.scenario import load_scenario

    runs = 0

    def run(scenario: str | os.PathLike[str], *, start_ms: int | None = None) -> FleetRun:
        nonlocal runs
        sc = load_scenario(Path(scenario))  # a ScenarioError says file:line
        collector.start(sc.collector_toml())
        runs += 1
        cfg = CollectorSection(address=collector.address, insecure=True)
        state = tmp_path / f"rdiag-spools-{runs}"
        result = asyncio.run(simulate(sc, cfg, state, start_ms=start_ms))
        names = {h.agent_id: h.hostname for h in sc.hosts()}
        return FleetRun(sc, result, collector, names)

    return run


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    # Remember a failure on the item, so the collector fixture can show its log.
    report = yield
    if report.failed:
        item.rdiag_failed = True  # type: ignore[attr-defined]
    return report
