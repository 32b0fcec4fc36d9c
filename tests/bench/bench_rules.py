"""The rule engine's cost: one condition, the whole pack per snapshot and per event, and the
per-host history it keeps.

In a fresh child process, so nothing else of the benchmark run is counted:

* one compiled condition (`used_pct >= 95 and not read_only`) and one with a history
  window (`count(...) >= 3` over 200 stored events), per evaluation;
* the whole shipped pack over real snapshots: the capture of this build VM (a quiet host)
  and sim-linux-laptop-faults (a host with a dozen faults), run through the agent's probes
  once, then evaluated as consecutive 60-second cycles of one host with its history;
* the whole pack per kernel event (an I/O error, matched by several event rules);
* the history one host keeps after a simulated day of 60 s cycles with an event a minute
  (points, events, states) and its Python heap size.

The condition-language choice quotes figures measured on this machine for CEL (issue 4):
the Rust-backed binding about 19 µs per evaluation with context conversion, pure-Python
cel-python about 550 µs.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.bench.report import BenchError, Outcome, Row, child_env, judged

NAME = "rules"
PER_SNAPSHOT_TARGET_US = 200.0  # 5,000 snapshots/s per core: the ingest's long-term target

CHILD = r"""
import asyncio, json, sys, time, tracemalloc
from pathlib import Path
from dataclasses import replace
from agent.probes import PROBES
from agent.runner import collect
from agent.sources import DirectorySource
from agent.records import Event, Severity
from collector.engine.evaluate import Engine, RuleSet
from collector.engine.history import HostHistory
from collector.engine.lang import compile_expression
from collector.engine.load import default_rules_dir, load_rules
from collector.engine.subjects import subject_types

ROOT = Path(sys.argv[1])
loaded = load_rules(default_rules_dir())
assert not loaded.errors, loaded.errors
rules = RuleSet(loaded.rules)
out = {"rules": len(loaded.rules)}

def per_call(fn, n):
    fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6

# one condition
c = compile_expression("used_pct >= 95 and not read_only", subject_types("volume"), "volume")
facts = {"used_pct": 96.5, "read_only": False}
out["condition_us"] = per_call(lambda: c.fn(facts, None), 200_000)
# the same text through eval() each time, what a naive engine would do
src = compile("used_pct >= 95 and not read_only", "<rule>", "eval")
out["eval_us"] = per_call(lambda: eval(src, {"__builtins__": {}}, facts), 200_000)

# a windowed condition over 200 stored events
engine = Engine(rules)
hist = HostHistory("bench")
for i in range(200):
    engine.on_event(hist, Event(i * 1000, "kernel", "disk.io_error", Severity.ERROR, f"e{i}",
                                {"device": "sda" if i % 2 else "sdb"}))
from collector.engine.evaluate import Context
w = compile_expression("count('disk.io_error', '10m', device=field('device')) >= 3",
                       subject_types("event"), "event")
ctx = Context(hist, 200_000, "event")
efacts = {"__fields": {"device": "sda"}}
out["window_us"] = per_call(lambda: w.fn(efacts, ctx), 20_000)

# the pack over real snapshots
for label, folder in (("quiet", "linux-debian12-vm"), ("faults", "sim-linux-laptop-faults")):
    got = asyncio.run(collect(DirectorySource(ROOT / "tests/fixtures/hosts" / folder), PROBES,
                              timeout_s=60, clock_ms=lambda: 0, agent_version="bench"))
    snap = got.snapshot
    engine, hist = Engine(rules), HostHistory("bench")
    n = 2000
    snaps = [replace(snap, taken_at_ms=1_764_550_800_000 + i * 60_000) for i in range(n + 50)]
    for s in snaps[:50]:
        engine.on_snapshot(hist, snap.inventory, s)
    hist.flush()
    t0 = time.perf_counter()
    for s in snaps[50:]:
        engine.on_snapshot(hist, snap.inventory, s)
        hist.flush()
    out[f"snapshot_{label}_us"] = (time.perf_counter() - t0) / n * 1e6
    out[f"records_{label}"] = (len(snap.volumes) + len(snap.smart) + len(snap.interfaces)
        + len(snap.devices) + len(snap.disk_io) + len(snap.dns_checks) + len(snap.gateway_checks))

# the pack per event
engine, hist = Engine(rules), HostHistory("bench")
hist.host_facts = {"os_family": "linux", "hostname": "bench", "agent_id": "bench"}
evs = [Event(1_764_550_800_000 + i * 60_000, "kernel", "disk.io_error", Severity.ERROR,
             f"blk_update_request: I/O error, dev sda, sector {i}", {"device": "sda"})
       for i in range(5000)]
t0 = time.perf_counter()
for e in evs:
    engine.on_event(hist, e)
    hist.flush()
out["event_us"] = (time.perf_counter() - t0) / len(evs) * 1e6

# one host's history after a day: 1440 cycles, an I/O error a minute
tracemalloc.start()
before = tracemalloc.get_traced_memory()[0]
engine, hist = Engine(rules), HostHistory("bench")
got = asyncio.run(collect(DirectorySource(ROOT / "tests/fixtures/hosts/sim-linux-laptop-faults"),
                          PROBES, timeout_s=60, clock_ms=lambda: 0, agent_version="bench"))
for i in range(1440):
    t = 1_764_550_800_000 + i * 60_000
    engine.on_snapshot(hist, got.snapshot.inventory, replace(got.snapshot, taken_at_ms=t))
    engine.on_event(hist, Event(t + 1, "kernel", "disk.io_error", Severity.ERROR, f"e{i}",
                                {"device": "sda"}))
    hist.flush()
out["history_points"] = hist.point_count()
out["history_events"] = hist.event_count()
out["history_states"] = len(hist.states)
out["history_kib"] = (tracemalloc.get_traced_memory()[0] - before) / 1024
print(json.dumps(out))
"""


def run() -> Outcome:
    from tests.bench.report import ROOT

    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT)],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=900,
        check=False,
    )
    if proc.returncode != 0:
        raise BenchError(f"rules child failed ({proc.returncode}): {proc.stderr[-800:]}")
    d = json.loads(proc.stdout.strip().splitlines()[-1])
    n = d["rules"]
    rows = [
        Row(NAME, "one compiled condition (used_pct >= 95 and not read_only)", d["condition_us"],
            "µs", note=f"the same text through eval() each time: {d['eval_us']:.2f} µs; "
            "CEL on this machine (issue 4): ~19 µs Rust binding, ~550 µs cel-python"),
        Row(NAME, "a windowed condition: count(kind, 10m, device=...) over 200 events",
            d["window_us"], "µs"),
        judged(NAME, f"whole pack ({n} rules) per snapshot, quiet host (build VM capture)",
               d["snapshot_quiet_us"], "µs", at_most=PER_SNAPSHOT_TARGET_US,
               note=f"{d['records_quiet']} subject records; history kept and flushed"),
        judged(NAME, f"whole pack ({n} rules) per snapshot, host with faults (laptop-faults)",
               d["snapshot_faults_us"], "µs", at_most=PER_SNAPSHOT_TARGET_US,
               note=f"{d['records_faults']} subject records, active findings repeating"),
        Row(NAME, "whole pack per kernel event (disk.io_error)", d["event_us"], "µs"),
        Row(NAME, "one host's history after a day of 60 s cycles, an event a minute",
            d["history_kib"], "KiB", note=f"{d['history_points']} points, "
            f"{d['history_events']} events, {d['history_states']} rule states"),
    ]  # fmt: skip
    return Outcome(rows, d)
