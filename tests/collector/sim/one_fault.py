"""One host of a one-fault scenario: its raw outputs at t, read by the agent's real probes."""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path

from agent.records import Event
from collector.sim.faults import FaultKind, HostView, build
from collector.sim.fleet import Capture, OverlaySource, kernel_events
from collector.sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[3]
HOSTS = ROOT / "tests" / "fixtures" / "hosts"
START_MS = 1_800_000_000_000  # after every capture's events, as a run started now is


class OneFault:
    def __init__(self, tmp_path: Path, capture: Path, fault: str) -> None:
        path = tmp_path / "s.yaml"
        path.write_text(
            f"name: t\nduration: 30d\ninterval: 60s\n"
            f"fleet:\n  - {{profile: p, count: 1, capture: {capture}, hostname: 'h-{{n}}'}}\n"
            f"faults:\n  - {fault}\n"
        )
        scenario = load_scenario(path)
        self.capture = Capture(capture)
        self.kind: FaultKind = build(scenario.faults[0])
        self.view = HostView(
            scenario.hosts()[0], self.capture.os, self.capture.boot_time_ms, START_MS
        )

    def files(self, t: float) -> dict[str, str]:
        files = dict(self.capture.files)
        if self.kind.active(t):
            self.kind.apply(files, self.view, t)
        return files

    def state(self, t: float) -> Hashable:
        return self.kind.state(t, self.view)

    def source(self, t: float) -> OverlaySource:
        return OverlaySource(self.capture, self.files(t))

    def kernel(self, t0: float, t1: float) -> tuple[Event, ...]:
        """The kernel lines logged in (t0, t1], as the simulator hands them to the parser."""
        return kernel_events(self.view, self.kind.kernel(self.view, t0, t1))
