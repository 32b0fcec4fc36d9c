import asyncio
import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from agent.parsers import ParseError
from agent.probes import ProbeOutput
from agent.probes.base import DEFAULT_CONTEXT, ProbeContext
from agent.records import HostInventory, ProbeError, Snapshot, Volume
from agent.runner import collect, make_executor
from agent.sources import ScenarioSource, Source, SourceTimeout, Unavailable
from agent.specs import Spec

SOURCE = ScenarioSource("linux", {})
VOLUME = Volume("/", "/dev/vda", "ext4", 100, 40, 60)


class FakeProbe:
    def __init__(self, name: str, collect: Callable[[], ProbeOutput]) -> None:
        self.name = name
        self._collect = collect

    def specs(self, os: str) -> tuple[Spec, ...]:
        return ()

    def collect(self, source: Source, context: ProbeContext = DEFAULT_CONTEXT) -> ProbeOutput:
        return self._collect()


def _raise(exc: Exception) -> Callable[[], ProbeOutput]:
    def collect() -> ProbeOutput:
        raise exc

    return collect


def _good() -> ProbeOutput:
    # Burn a little CPU so the thread's CPU time is measurable.
    deadline = time.thread_time() + 0.05
    while time.thread_time() < deadline:
        pass
    return ProbeOutput(
        inventory=HostInventory(hostname="h", os_family="linux"),
        volumes=(VOLUME,),
        errors=(ProbeError("good", "unavailable", "one part missing"),),
    )


def _hang(release: threading.Event) -> Callable[[], ProbeOutput]:
    def collect() -> ProbeOutput:
        release.wait(10)
        return ProbeOutput()

    return collect


def _flag(ran: threading.Event) -> Callable[[], ProbeOutput]:
    def collect() -> ProbeOutput:
        ran.set()
        return ProbeOutput()

    return collect


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()  # let the hung worker thread end


def _run(
    probes: list[FakeProbe], executor: ThreadPoolExecutor | None, timeout_s: float = 0.5
) -> Snapshot:
    return asyncio.run(
        collect(
            SOURCE,
            probes,
            timeout_s=timeout_s,
            clock_ms=lambda: 1234,
            agent_version="9.9.9",
            executor=executor,
        )
    ).snapshot


def test_failures_are_isolated_and_the_call_returns_in_about_the_timeout(release):
    probes = [
        FakeProbe("raises", _raise(RuntimeError("boom"))),
        FakeProbe("hangs", _hang(release)),
        FakeProbe("good", _good),
        FakeProbe("unavailable", _raise(Unavailable("smartctl not found"))),
        FakeProbe("parse", _raise(ParseError("os-release line 3: expected KEY=value"))),
        FakeProbe("killed", _raise(SourceTimeout("timeout: sleep did not finish"))),
        FakeProbe("socket", _raise(TimeoutError())),
    ]
    executor = make_executor(len(probes))
    try:
        t0 = time.monotonic()
        snapshot = _run(probes, executor, timeout_s=0.5)
        elapsed = time.monotonic() - t0
    finally:
        release.set()
        executor.shutdown(wait=True)
    assert 0.5 <= elapsed < 1.5
    assert snapshot.taken_at_ms == 1234
    assert snapshot.inventory == HostInventory(
        hostname="h", os_family="linux", agent_version="9.9.9"
    )
    assert snapshot.volumes == (VOLUME,)
    assert snapshot.errors == (
        ProbeError("raises", "error", "RuntimeError: boom"),
        ProbeError("hangs", "timeout", "did not finish within 0.5 s"),
        ProbeError("good", "unavailable", "one part missing"),
        ProbeError("unavailable", "unavailable", "smartctl not found"),
        ProbeError("parse", "parse", "os-release line 3: expected KEY=value"),
        ProbeError("killed", "timeout", "timeout: sleep did not finish"),
        ProbeError("socket", "timeout", "TimeoutError"),
    )
    timings = {t.probe: t for t in snapshot.timings}
    assert list(timings) == [p.name for p in probes]
    assert timings["hangs"].wall_seconds >= 0.5
    assert timings["good"].cpu_seconds >= 0.04
    assert timings["good"].wall_seconds >= timings["good"].cpu_seconds * 0.5


def test_when_every_worker_is_stuck_probes_time_out_instead_of_queueing(release):
    ran = threading.Event()
    probes = [
        FakeProbe("hangs", _hang(release)),
        FakeProbe("queued", _flag(ran)),
    ]
    executor = make_executor(1)
    try:
        snapshot = _run(probes, executor, timeout_s=0.3)
    finally:
        release.set()
        executor.shutdown(wait=True)
    assert [(e.probe, e.kind) for e in snapshot.errors] == [
        ("hangs", "timeout"),
        ("queued", "timeout"),
    ]
    assert "every probe worker is busy" in snapshot.errors[1].message
    assert not ran.is_set()  # cancelled in the queue: it does not run late either


def test_no_probes_no_inventory():
    executor = make_executor(1)
    snapshot = _run([], executor)
    executor.shutdown()
    assert snapshot.inventory is None
    assert snapshot.errors == ()
    assert snapshot.timings == ()


def test_default_executor_is_shared_and_bounded():
    from agent import runner

    first = runner.default_executor()
    assert first is runner.default_executor()
    assert first._max_workers == runner.DEFAULT_WORKERS
    snapshot = _run([FakeProbe("good", _good)], None)
    assert snapshot.volumes == (VOLUME,)


def test_probe_output_carries_every_snapshot_field() -> None:
    """The runner merges ProbeOutput into Snapshot by field name: a field added to one and
    not the other would be dropped without a word."""
    out = {f.name for f in dataclasses.fields(ProbeOutput)} - {"events", "crashes"}
    snap = {f.name for f in dataclasses.fields(Snapshot)} - {"taken_at_ms", "timings"}
    assert out == snap
