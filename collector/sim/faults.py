"""Fault kinds: what a fault does to a simulated host's raw outputs, over simulated time.

A fault never builds records: it edits the text the agent's probes read (the JSON of
disk_usage, the lines of smartctl -x, the Get-WinEvent output), or writes kernel messages
the agent's kernel-log parser reads, so a simulated fault goes through the same parsers
as a real one and a parser bug shows up in a simulation too.

Each kind declares its parameters (checked when the scenario loads, with the line of a
bad one), the operating systems it applies to, and three methods:

  state(t)     what it looks like at t (seconds since the run started), as a hashable
               key; the simulator re-runs the probes only when some fault's key changed,
               and re-stamps the previous snapshot otherwise (fleet-scale runs are cheap);
  apply(...)   edit the raw outputs for time t (only called while the fault is active);
  kernel(...)  Linux kernel messages logged in (t0, t1], as (t, message).

Kinds live in the faults_*.py modules by family and register themselves here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, ClassVar

from collector.engine.lang import duration_ms
from collector.sim.scenario import Fault, Selector, SimHostSpec

Files = MutableMapping[str, str]  # spec name -> raw output


@dataclass(frozen=True, slots=True)
class Param:
    kind: str  # str | int | float | bool | size | duration | rate | list
    doc: str
    required: bool = True
    default: Any = None


@dataclass(frozen=True, slots=True)
class HostView:
    """What a fault may know of the host it acts on."""

    spec: SimHostSpec
    os: str
    boot_time_ms: int  # of the capture (Linux kernel message offsets count from it)
    start_ms: int  # the run's t = 0, in ms since the epoch


class FaultKind:
    """Base: one instance per fault of the scenario (its parameters parsed)."""

    name: ClassVar[str]
    doc: ClassVar[str]
    oses: ClassVar[tuple[str, ...]] = ("linux", "windows", "darwin")
    params: ClassVar[Mapping[str, Param]] = {}

    def __init__(self, fault: Fault) -> None:
        self.fault = fault
        self.p = {k: parse_param(spec, fault.params.get(k, spec.default))
                  for k, spec in self.params.items()}  # fmt: skip

    def active(self, t: float) -> bool:
        f = self.fault
        return t >= f.start_s and (f.end_s is None or t < f.end_s)

    def elapsed(self, t: float) -> float:
        """Seconds since the fault started (0 before)."""
        return max(0.0, t - self.fault.start_s)

    def state(self, t: float, host: HostView) -> Hashable:
        """Default: on or off. Kinds whose output changes while active say how."""
        return self.active(t)

    def apply(self, files: Files, host: HostView, t: float) -> None:
        """Edit the raw outputs for time t; called only while active."""

    def kernel(self, host: HostView, t0: float, t1: float) -> Iterable[tuple[float, str]]:
        """Kernel messages logged in (t0, t1] (Linux)."""
        return ()


KINDS: dict[str, type[FaultKind]] = {}


def register(cls: type[FaultKind]) -> type[FaultKind]:
    KINDS[cls.name] = cls
    return cls


def _load_kinds() -> None:
    # The families register on import; imported here, not at the top, because they
    # import this module.
    from collector.sim import faults_boot, faults_disk, faults_drivers, faults_net  # noqa: F401


_loaded = False


def kinds() -> dict[str, type[FaultKind]]:
    global _loaded
    if not _loaded:  # not `if not KINDS`: a test may have imported one family already
        _load_kinds()
        _loaded = True
    return KINDS


def build(fault: Fault) -> FaultKind:
    return kinds()[fault.kind](fault)


def check_params(kind: str, params: Mapping[str, Any], oses: set[str]) -> tuple[str, str] | None:
    """(key, problem) for a fault of the scenario, or None when it is well-formed."""
    known = kinds()
    if kind not in known:
        return "kind", f"unknown fault kind {kind!r}; known: {', '.join(sorted(known))}"
    cls = known[kind]
    unknown = sorted(set(params) - set(cls.params))
    if unknown:
        allowed = ", ".join(sorted(cls.params)) or "none"
        return unknown[0], f"not a parameter of {kind}; its parameters: {allowed}"
    for key, spec in cls.params.items():
        if key not in params:
            if spec.required:
                return "", f"{kind} needs '{key}' ({spec.doc})"
            continue
        try:
            parse_param(spec, params[key])
        except ValueError as exc:
            return key, str(exc)
    try:  # what a kind checks beyond each parameter's type (its __init__ parses them)
        cls(Fault(kind, Selector("*", "*"), 0.0, None, dict(params), 0))
    except ValueError as exc:
        return "", str(exc)
    wrong = sorted(oses - set(cls.oses))
    if wrong:
        return "hosts", f"{kind} applies to {', '.join(cls.oses)} hosts, not {', '.join(wrong)}"
    return None


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?i?B)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
               "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}  # fmt: skip


def parse_size(text: str) -> int:
    m = _SIZE.match(text)
    unit = (m.group(2) or "").lower() if m else ""
    if not m or unit not in _SIZE_UNITS:
        raise ValueError(f"expected a size such as 500MB or 2GiB, got {text!r}")
    return int(float(m.group(1)) * _SIZE_UNITS[unit])


def parse_rate(text: str) -> float:
    """'2GB/h' → bytes per second."""
    size, _, per = text.partition("/")
    if not per:
        raise ValueError(f"expected a rate such as 2GB/h, got {text!r}")
    seconds = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}.get(per.strip().lower())
    if seconds is None:
        raise ValueError(f"expected /s, /min, /h or /d in {text!r}")
    return parse_size(size) / seconds


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "str": str,
    "size": lambda v: parse_size(str(v)),
    "rate": lambda v: parse_rate(str(v)),
    "duration": lambda v: duration_ms(str(v)) / 1000,
}


def parse_param(spec: Param, value: Any) -> Any:
    if value is None:
        return None
    if spec.kind == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"expected a whole number, got {value!r}")
        return value
    if spec.kind == "float":
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        return float(value)
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value
    if spec.kind == "list":
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ValueError(f"expected a list of strings, got {value!r}")
        return tuple(items)
    return _PARSERS[spec.kind](value)
