"""A real `rdiag-collector serve` process for the benchmarks.

tests/helpers/procs.start_collector is the model, but it only takes a SQLite path and
cannot pass --config (a top-level flag, before `serve`). The benchmarks need both: the
agent benchmark tells agents to collect every second (agents.interval, sent in Welcome,
overrides the agent's own --interval), and the ingest benchmark runs on PostgreSQL too.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.bench.report import BIN, BenchError, child_env, stop_process


@dataclass
class Collector:
    proc: subprocess.Popen[str]
    address: str
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> int:
        try:
            return stop_process(self.proc)
        finally:
            if self.proc.stdout is not None:
                self.proc.stdout.close()

    def __enter__(self) -> Collector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_collector(
    store_url: str, log: Path, *, config: str = "", timeout: float = 60
) -> Collector:
    """Start a plaintext collector on a free loopback port; config is TOML text."""
    argv = [str(BIN / "rdiag-collector")]
    if config:
        path = log.with_suffix(".toml")
        path.write_text(config)
        argv += ["--config", str(path)]
    argv += ["--store", store_url, "serve", "--insecure", "--listen", "127.0.0.1:0"]
    with open(log, "a") as err:
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=err, text=True, env=child_env()
        )
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.search(r"listening on (\S+)", line)
        if m:
            return Collector(proc, m.group(1), log)
    stop_process(proc, grace=5)
    proc.stdout.close()
    tail = log.read_text(errors="replace").strip().splitlines()[-5:]
    raise BenchError("collector did not start: " + " | ".join(tail))
