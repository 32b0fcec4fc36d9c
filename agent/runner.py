"""Run the probes into one Snapshot: each in a worker thread, each under its own timeout.

A probe's failure is recorded, never raised: the snapshot always goes out with what the
other probes found, plus a ProbeError and a ProbeTiming per probe.

| what happened                          | ProbeError.kind                   |
|----------------------------------------|-----------------------------------|
| no answer, SourceTimeout, TimeoutError | timeout                           |
| Unavailable                            | unavailable                       |
| ParseError                             | parse                             |
| any other exception                    | error: "<ExceptionType>: <msg>"   |

The limit: a Python thread stuck in a kernel call (statvfs on a dead NFS server, a read
from a wedged device) cannot be killed. On timeout we stop waiting and leave the thread to
finish on its own. The executor is small and bounded, so stuck threads cannot pile up:
when every worker is stuck, new probes wait in the executor's queue, time out there, and
are reported as "timeout" (and cancelled, so they never run late) instead of spawning
more threads or queueing forever. ThreadPoolExecutor workers are joined at interpreter
exit, so an agent with a stuck worker must leave with os._exit after its shutdown grace.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from agent.parsers import ParseError
from agent.probes import Probe, ProbeOutput
from agent.probes.base import DEFAULT_CONTEXT, ProbeContext
from agent.records import BootInfo, Event, NetInterface, ProbeError, ProbeTiming, Snapshot
from agent.sources import Source, SourceTimeout, Unavailable

DEFAULT_WORKERS = 4
T = TypeVar("T")

_default_lock = threading.Lock()
_default_executor: ThreadPoolExecutor | None = None


def make_executor(max_workers: int = DEFAULT_WORKERS) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="rdiag-probe")


def default_executor() -> ThreadPoolExecutor:
    """One bounded pool per process, shared by every run (not asyncio's default executor,
    which other code uses and which grows with the CPU count)."""
    global _default_executor
    with _default_lock:
        if _default_executor is None:
            _default_executor = make_executor()
        return _default_executor


@dataclass(frozen=True, slots=True)
class _Done:
    output: ProbeOutput | None
    error: Exception | None
    cpu_seconds: float


@dataclass(frozen=True, slots=True)
class _Result:
    output: ProbeOutput | None
    error: ProbeError | None
    timing: ProbeTiming


@dataclass(frozen=True, slots=True)
class Collected:
    snapshot: Snapshot
    # What probes read from event logs while collecting, by probe name (agent/eventlog.py
    # keeps a cursor per probe).
    events: dict[str, tuple[Event, ...]]


# ProbeOutput fields that are tuples in the Snapshot too: concatenated in probe order.
_TUPLES = tuple(
    f.name
    for f in dataclasses.fields(ProbeOutput)
    if f.name not in {"inventory", "dns", "time_sync", "boot", "kernel_taint", "events", "crashes"}
)


async def collect(
    source: Source,
    probes: Sequence[Probe],
    *,
    timeout_s: float,
    clock_ms: Callable[[], int],
    agent_version: str,
    executor: ThreadPoolExecutor | None = None,
    context: ProbeContext = DEFAULT_CONTEXT,
) -> Collected:
    taken_at_ms = clock_ms()
    pool = executor or default_executor()
    results = await asyncio.gather(*(_run(p, source, pool, timeout_s, context) for p in probes))
    outputs = [r.output for r in results if r.output is not None]
    merged: dict[str, object] = {
        name: tuple(item for o in outputs for item in getattr(o, name)) for name in _TUPLES
    }
    # In probe order: each probe's partial errors, then its own failure.
    merged["errors"] = tuple(
        e
        for r in results
        for e in (*(r.output.errors if r.output else ()), *((r.error,) if r.error else ()))
    )
    inventory = _first_set(o.inventory for o in outputs)
    if inventory is not None:
        interfaces: tuple[NetInterface, ...] = merged["interfaces"]  # type: ignore[assignment]
        nics = inventory.nics or tuple(
            f"{i.name} {i.mac}" for i in interfaces if i.kind in ("ethernet", "wifi") and i.mac
        )
        uptime = taken_at_ms // 1000 - inventory.boot_time_unix if inventory.boot_time_unix else 0
        inventory = dataclasses.replace(
            inventory,
            agent_version=agent_version,
            nics=nics,
            uptime_seconds=inventory.uptime_seconds or max(0, uptime),
        )
    boot = _first_set(o.boot for o in outputs)
    crashes = tuple(c for o in outputs for c in o.crashes)
    if crashes:
        boot = dataclasses.replace(
            boot or BootInfo(), crashes=(*boot.crashes, *crashes) if boot else crashes
        )
    taint = 0
    for o in outputs:
        taint |= o.kernel_taint
    snapshot = Snapshot(
        taken_at_ms=taken_at_ms,
        inventory=inventory,
        dns=_first_set(o.dns for o in outputs),
        time_sync=_first_set(o.time_sync for o in outputs),
        boot=boot,
        kernel_taint=taint,
        timings=tuple(r.timing for r in results),
        **merged,  # type: ignore[arg-type]
    )
    events = {
        p.name: r.output.events
        for p, r in zip(probes, results, strict=True)
        if r.output is not None and r.output.events
    }
    return Collected(snapshot, events)


def _first_set(values: Iterable[T | None]) -> T | None:
    return next((v for v in values if v is not None), None)


async def _run(
    probe: Probe,
    source: Source,
    pool: ThreadPoolExecutor,
    timeout_s: float,
    context: ProbeContext = DEFAULT_CONTEXT,
) -> _Result:
    loop = asyncio.get_running_loop()
    started = threading.Event()
    t0 = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            done = await loop.run_in_executor(pool, _work, probe, source, started, context)
    except TimeoutError:
        wall = time.perf_counter() - t0
        if started.is_set():
            why = f"did not finish within {timeout_s:g} s"
        else:
            why = f"did not start within {timeout_s:g} s: every probe worker is busy"
        error = ProbeError(probe.name, "timeout", why)
        return _Result(None, error, ProbeTiming(probe.name, wall, 0.0))
    timing = ProbeTiming(probe.name, time.perf_counter() - t0, done.cpu_seconds)
    if done.error is not None:
        return _Result(None, _classify(probe.name, done.error), timing)
    return _Result(done.output, None, timing)


def _work(probe: Probe, source: Source, started: threading.Event, context: ProbeContext) -> _Done:
    started.set()
    cpu0 = time.thread_time()  # this thread's CPU only: other probes run concurrently
    try:
        output = probe.collect(source, context)
    except Exception as exc:  # isolate: any probe bug becomes a recorded error
        return _Done(None, exc, time.thread_time() - cpu0)
    return _Done(output, None, time.thread_time() - cpu0)


def _classify(probe: str, exc: Exception) -> ProbeError:
    if isinstance(exc, SourceTimeout | TimeoutError):
        return ProbeError(probe, "timeout", str(exc) or type(exc).__name__)
    if isinstance(exc, Unavailable):
        return ProbeError(probe, "unavailable", str(exc))
    if isinstance(exc, ParseError):
        return ProbeError(probe, "parse", str(exc))
    return ProbeError(probe, "error", f"{type(exc).__name__}: {exc}")
