"""What every benchmark shares: the machine, result rows, the table, results.json."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil

from tests.helpers import procs

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MIB = 1024 * 1024


@dataclass(frozen=True)
class Machine:
    date: str  # UTC, ISO 8601
    cpu_model: str
    logical_cores: int
    physical_cores: int
    ram_gib: float
    os: str
    python: str
    load_avg_1m: float  # at the start: the box is shared, so say how busy it was

    def line(self) -> str:
        return (
            f"{self.date}  {self.cpu_model}, {self.logical_cores} cores "
            f"({self.physical_cores} physical), {self.ram_gib:.1f} GiB RAM, {self.os}, "
            f"Python {self.python}, load {self.load_avg_1m:.2f}"
        )


def machine() -> Machine:
    import cpuinfo

    model = str(cpuinfo.get_cpu_info().get("brand_raw") or platform.processor() or "unknown")
    return Machine(
        date=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        cpu_model=model,
        logical_cores=psutil.cpu_count(logical=True) or 0,
        physical_cores=psutil.cpu_count(logical=False) or 0,
        ram_gib=psutil.virtual_memory().total / 1024**3,
        os=f"{platform.system()} {platform.release()}",
        python=platform.python_version(),
        load_avg_1m=os.getloadavg()[0],
    )


@dataclass(frozen=True)
class Row:
    """One figure. status: pass | fail (against target) | info (no target) | skip."""

    benchmark: str
    name: str
    value: float | None
    unit: str
    target: str = ""
    status: str = "info"
    note: str = ""

    def shown(self) -> str:
        if self.value is None:
            return "-"
        if abs(self.value) >= 100:
            return f"{self.value:,.0f}"
        return f"{self.value:.2f}" if abs(self.value) < 10 else f"{self.value:.1f}"


def judged(
    benchmark: str,
    name: str,
    value: float,
    unit: str,
    *,
    at_most: float | None = None,
    at_least: float | None = None,
    note: str = "",
) -> Row:
    """A row with its pass/fail against a bound."""
    if at_most is not None:
        target, ok = f"<= {at_most:g} {unit}", value <= at_most
    elif at_least is not None:
        target, ok = f">= {at_least:,g} {unit}", value >= at_least
    else:
        return Row(benchmark, name, value, unit, note=note)
    return Row(benchmark, name, value, unit, target, "pass" if ok else "fail", note)


@dataclass
class Outcome:
    """What a benchmark hands back: its rows, raw details for results.json, extra text."""

    rows: list[Row]
    details: dict[str, object]
    text: str = ""  # printed after the section's table (e.g. a side-by-side comparison)


def table(rows: Sequence[Row]) -> str:
    head = ("benchmark", "figure", "value", "unit", "target", "result")
    body = [(r.benchmark, r.name, r.shown(), r.unit, r.target, r.status.upper()) for r in rows]
    widths = [max(len(str(c)) for c in col) for col in zip(head, *body, strict=True)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(head, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for r, cells in zip(rows, body, strict=True):
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)))
        if r.note:
            lines.append(" " * (widths[0] + 2) + f"  ({r.note})")
    return "\n".join(lines)


def section(title: str, m: Machine, outcome: Outcome) -> str:
    extra = f"\n{outcome.text}" if outcome.text else ""
    return f"\n== {title}\n{m.line()}\n{table(outcome.rows)}\n{extra}"


def markdown(m: Machine, rows: Sequence[Row]) -> str:
    """The Performance table for README.md."""
    lines = [
        f"Measured {m.date[:10]} on {m.cpu_model}, {m.logical_cores} cores, "
        f"{m.ram_gib:.0f} GiB RAM, {m.os}, Python {m.python} (`make bench`).",
        "",
        "| Benchmark | Figure | Value | Target | Result |",
        "|---|---|---:|---|---|",
    ]
    for r in rows:
        value = "-" if r.value is None else f"{r.shown()} {r.unit}"
        lines.append(f"| {r.benchmark} | {r.name} | {value} | {r.target or '-'} | {r.status} |")
    return "\n".join(lines) + "\n"


def write_json(path: Path, m: Machine, rows: Iterable[Row], extra: dict[str, object]) -> None:
    doc = {"machine": asdict(m), "results": [asdict(r) for r in rows], "details": extra}
    write_text(path, json.dumps(doc, indent=2) + "\n")


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def child_env(**extra: str) -> dict[str, str]:
    """The environment for the processes a benchmark starts: no stray RDIAG_* settings."""
    return procs.env() | extra


def stop_process(proc: subprocess.Popen[str] | subprocess.Popen[bytes], grace: float = 20) -> int:
    """SIGTERM, then SIGKILL after grace seconds; returns the exit status."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return proc.returncode


def wait_until(what: str, check: Callable[[], bool], timeout: float, every: float = 0.1) -> None:
    """Poll check() until true; raise naming what did not happen within timeout."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise BenchError(f"{what} did not happen within {timeout:g} s")
        time.sleep(every)


class BenchError(Exception):
    """A benchmark could not run; the message says what went wrong."""
