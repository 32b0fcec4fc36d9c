"""Rule test cases (`<rule>.test.yaml`): timelines of records run through the real engine.

A case is what a support engineer would check by hand: "these SMART readings, 12 hours
apart, must open a ticket; these must not". Raw inputs go through the agent's own parsers
(kernel log lines, Get-WinEvent JSON, smartctl JSON, a capture folder through the real
probes), so a rule is tested against what production would feed it. Every case runs with
the whole rule pack loaded, so correlation between rules applies as in production.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.records import Event, HostInventory, Severity, SmartDevice, Snapshot
from collector.engine.evaluate import Engine, RuleSet
from collector.engine.history import HostHistory
from collector.engine.lang import duration_ms
from collector.engine.load import Path_, Reader, RuleError, read_yaml
from collector.engine.model import Change, Finding, Rule
from collector.engine.subjects import host_facts

T0_MS = 1_764_547_200_000  # 2025-12-01T00:00:00Z: cases are deterministic, never "now"
CASE_KEYS = {"name", "expect", "component", "os", "host", "steps", "hosts", "absorbed"}
STEP_KEYS = {
    "at", "expect", "events", "kernel", "smartctl_json", "windows_events", "capture",
    "volume", "smart", "disk_io", "raid", "interface", "gateway", "dns_check", "dns_config",
    "time_sync", "device", "driver", "boot",
}  # fmt: skip
# Step key → the Snapshot field it fills.
_SNAPSHOT_FIELDS = {
    "volume": "volumes", "smart": "smart", "disk_io": "disk_io", "raid": "raid",
    "interface": "interfaces", "gateway": "gateway_checks", "dns_check": "dns_checks",
    "dns_config": "dns", "time_sync": "time_sync", "device": "devices", "driver": "drivers",
    "boot": "boot",
}  # fmt: skip
_SINGLE = {"dns", "time_sync", "boot"}
CASE_EXPECT = ("fire", "silent", "incident")
STEP_EXPECT = ("fire", "silent", "active", "cleared")


@dataclass(frozen=True, slots=True)
class CaseResult:
    file: Path
    line: int
    rule_id: str
    name: str
    expect: str
    passed: bool
    message: str = ""
    # The findings the case's rule opened: the ticket tests render each one.
    opened: tuple[Finding, ...] = ()

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class _Run:
    findings: list[Finding] = field(default_factory=list)
    incidents: int = 0


def run_file(path: Path, rules: RuleSet) -> list[CaseResult]:
    """Every case of one test file; a malformed file is one failed result naming file:line."""
    try:
        data, lines = read_yaml(path.read_text(encoding="utf-8"), path)
    except RuleError as exc:
        return [CaseResult(path, 1, "", "(file)", "", False, str(exc))]
    except OSError as exc:
        return [CaseResult(path, 1, "", "(file)", "", False, f"{path}:1: cannot read: {exc}")]
    r = Reader(path, lines)
    try:
        if not isinstance(data, dict):
            raise r.fail((), "expected a mapping with `cases:`")
        r.keys(data, (), {"rule", "cases"})
        rule_id = r.get(data, (), "rule", str, "")
        if not rule_id:
            stem = path.name.removesuffix(".test.yaml")
            rule_id = f"{path.parent.name}.{stem}"
        if rule_id not in rules.by_id:
            raise r.fail(("rule",), f"no loaded rule {rule_id!r} (is its file valid?)")
        cases = r.get(data, (), "cases", list)
        if not cases:
            raise r.fail(("cases",), "expected at least one case")
    except RuleError as exc:
        return [CaseResult(path, 1, "", "(file)", "", False, str(exc))]
    rule = rules.by_id[rule_id]
    results = []
    for i, case in enumerate(cases):
        where: Path_ = ("cases", i)
        name = case.get("name", f"case {i + 1}") if isinstance(case, dict) else f"case {i + 1}"
        expect = case.get("expect", "") if isinstance(case, dict) else ""
        opened: list[Finding] = []
        try:
            message = _run_case(r, where, case, rule, rules, path.parent, opened)
        except RuleError as exc:
            message = str(exc)
        except Exception as exc:  # a parser or probe failing on the case's input
            message = f"{r.fail(where, '').args[0]} {type(exc).__name__}: {exc}"
        results.append(CaseResult(path, r.line(where), rule_id, str(name), str(expect),
                                  not message, message, tuple(opened)))  # fmt: skip
    return results


def _run_case(
    r: Reader,
    where: Path_,
    case: Any,
    rule: Rule,
    rules: RuleSet,
    base: Path,
    keep: list[Finding],
) -> str:
    if not isinstance(case, dict):
        raise r.fail(where, "expected a mapping with name, expect and steps")
    r.keys(case, where, CASE_KEYS)
    expect = r.get(case, where, "expect", str)
    if expect not in CASE_EXPECT:
        raise r.fail((*where, "expect"), f"expected one of {', '.join(CASE_EXPECT)}")
    os_family = r.get(case, where, "os", str, rule.os[0])
    overrides = r.get(case, where, "host", dict, {})
    n_hosts = r.get(case, where, "hosts", int, 1)
    if not 1 <= n_hosts <= 500:
        raise r.fail((*where, "hosts"), "expected 1..500")
    steps = r.get(case, where, "steps", list)
    if not steps:
        raise r.fail((*where, "steps"), "expected at least one step")
    engine = Engine(rules)
    run = _Run()
    hosts = []
    for h in range(n_hosts):
        agent_id = f"ws-{h + 1:02d}" if n_hosts > 1 else "ws-01"
        try:
            inv = HostInventory(hostname=agent_id, os_family=os_family, **overrides)
        except TypeError as exc:
            raise r.fail((*where, "host"), f"not an inventory field: {exc}") from None
        hist = HostHistory(agent_id)
        hist.host_facts = host_facts(inv, agent_id, None)
        hosts.append((hist, inv))
    failures: list[str] = []
    for s, step in enumerate(steps):
        swhere: Path_ = (*where, "steps", s)
        if not isinstance(step, dict):
            raise r.fail(swhere, "expected a mapping")
        r.keys(step, swhere, STEP_KEYS)
        at = T0_MS + _offset(r, step, swhere, "at")
        snapshot, events = _inputs(r, step, swhere, at, base)
        before = len(run.findings)
        for hist, inv in hosts:
            for event in sorted(events, key=lambda e: e.time_ms):
                run.findings += engine.on_event(hist, event)
            if snapshot is not None:
                snap = dataclasses.replace(snapshot, inventory=snapshot.inventory or inv)
                run.findings += engine.on_snapshot(hist, inv, snap)
        run.incidents += sum(1 for u in engine.fleet.flush() if u.rule_id == rule.id and u.new)
        for hist, _ in hosts:
            hist.flush()
        step_expect = r.get(step, swhere, "expect", str, "")
        if step_expect:
            if step_expect not in STEP_EXPECT:
                raise r.fail((*swhere, "expect"), f"expected one of {', '.join(STEP_EXPECT)}")
            got = _step_state(rule, run.findings[before:], [h for h, _ in hosts])
            if step_expect not in got:
                failures.append(
                    f"step {s + 1} ({r.fail(swhere, '').args[0].split(': ')[0]}): "
                    f"expected {step_expect}, got {', '.join(sorted(got)) or 'nothing'}"
                )
    opened = [f for f in run.findings if f.rule.id == rule.id and f.change == Change.OPENED]
    keep += opened
    if expect == "fire" and not opened:
        failures.append(f"expected {rule.id} to fire; it did not{_why(run, rule)}")
    elif expect == "silent" and opened:
        failures.append(
            f"expected silence; {rule.id} opened a finding on {opened[0].component or 'the host'}"
        )
    elif expect == "incident" and not run.incidents:
        failures.append(
            f"expected a fleet incident of {rule.id} across {n_hosts} hosts; none opened"
        )
    component = r.get(case, where, "component", str, None)
    if component is not None and opened and component not in {f.component for f in opened}:
        failures.append(
            f"expected component {component!r}, got {sorted({f.component for f in opened})}"
        )
    for other in r.str_list(case, where, "absorbed"):
        own = [
            f
            for f in run.findings
            if f.rule.id == other and f.change == Change.OPENED and not f.held
        ]
        if own:
            failures.append(f"expected {other} to be absorbed; it opened its own finding")
        if other not in rules.by_id:
            raise r.fail((*where, "absorbed"), f"no loaded rule {other!r}")
    if failures:
        return f"{r.fail(where, '').args[0].split(': ')[0]}: " + "; ".join(failures)
    return ""


def _why(run: _Run, rule: Rule) -> str:
    others = sorted({f.rule.id for f in run.findings if f.change == Change.OPENED})
    return f" (rules that did: {', '.join(others)})" if others else ""


def _step_state(rule: Rule, new: Sequence[Finding], hists: Sequence[HostHistory]) -> set[str]:
    got = set()
    mine = [f for f in new if f.rule.id == rule.id]
    if any(f.change == Change.OPENED for f in mine):
        got.add("fire")
    else:
        got.add("silent")
    if any(f.change == Change.CLEARED for f in mine):
        got.add("cleared")
    if any(s.rule_id == rule.id and s.phase == "active" for h in hists for s in h.states.values()):
        got.add("active")
    return got


def _offset(r: Reader, data: Mapping[str, Any], where: Path_, key: str) -> int:
    raw = data.get(key, "0s")
    text = str(raw).strip()
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("+-")
    if text in ("0", "0s", "0m", "0h", "0d"):
        return 0
    try:
        return sign * duration_ms(text)
    except ValueError as exc:
        raise r.fail((*where, key), str(exc)) from None


def _inputs(
    r: Reader, step: Mapping[str, Any], where: Path_, at: int, base: Path
) -> tuple[Snapshot | None, list[Event]]:
    values: dict[str, Any] = {}
    events: list[Event] = []
    if "capture" in step:
        snap, captured = _capture(base / str(step["capture"]), at)
        values = {f.name: getattr(snap, f.name) for f in dataclasses.fields(Snapshot)}
        events += captured
    for key, fname in _SNAPSHOT_FIELDS.items():
        if key not in step:
            continue
        hint = typing.get_type_hints(Snapshot)[fname]
        try:
            values[fname] = _build(hint, step[key])
        except (TypeError, ValueError) as exc:
            raise r.fail((*where, key), f"not a valid {key} record: {exc}") from None
    if "smartctl_json" in step:
        from agent.parsers import smartctl_json

        text = str(step["smartctl_json"])
        path = base / text
        device = smartctl_json.parse(path.read_text() if "{" not in text else text)
        values["smart"] = (*values.get("smart", ()), device)
    for i, raw in enumerate(step.get("events", []) or []):
        ewhere: Path_ = (*where, "events", i)
        if not isinstance(raw, dict) or "kind" not in raw:
            raise r.fail(ewhere, "expected {kind: ..., severity: ..., fields: {...}, at: ...}")
        r.keys(raw, ewhere, {"kind", "severity", "fields", "message", "at", "source"})
        try:
            severity = Severity[str(raw.get("severity", "error")).upper()]
        except KeyError:
            raise r.fail(
                (*ewhere, "severity"), "expected info, warning, error or critical"
            ) from None
        fields = {str(k): str(v) for k, v in (raw.get("fields") or {}).items()}
        events.append(
            Event(
                at + _offset(r, raw, ewhere, "at"),
                str(raw.get("source", "test")),
                str(raw["kind"]),
                severity,
                str(raw.get("message", raw["kind"])),
                fields,
            )
        )
    if "kernel" in step:
        from agent.parsers import kernel_log

        lines = step["kernel"]
        if not isinstance(lines, list):
            raise r.fail((*where, "kernel"), "expected a list of kernel log messages")
        text = "\n".join(f"[    1.000000] {line}" for line in lines)
        parsed = kernel_log.parse_dmesg(text, at - 1000)
        if not parsed.value:
            raise r.fail((*where, "kernel"), "no line matched a kernel-log signature")
        events += [dataclasses.replace(e, time_ms=at) for e in parsed.value]
    if "windows_events" in step:
        from agent.parsers import win_events_json

        raw_events = step["windows_events"]
        text = raw_events if isinstance(raw_events, str) else json.dumps(raw_events)
        parsed_w = win_events_json.parse(text)
        if not parsed_w.value:
            raise r.fail((*where, "windows_events"), "no object matched a Windows event signature")
        events += list(parsed_w.value)
    if not values:
        return None, events
    values.pop("taken_at_ms", None)
    return Snapshot(taken_at_ms=at, **values), events


def _capture(folder: Path, at: int) -> tuple[Snapshot, list[Event]]:
    from agent.probes import PROBES
    from agent.runner import collect
    from agent.sources import DirectorySource

    collected = asyncio.run(
        collect(
            DirectorySource(folder),
            PROBES,
            timeout_s=60.0,
            clock_ms=lambda: at,
            agent_version="rules-test",
        )  # fmt: skip
    )
    events = [e for group in collected.events.values() for e in group]
    return collected.snapshot, events


def _build(hint: Any, raw: Any) -> Any:
    """YAML data → the record the hint names (nested records and tuples too)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is tuple:
        items = raw if isinstance(raw, list) else [raw]
        return tuple(_build(args[0], item) for item in items)
    if origin is not None and type(None) in args:  # X | None
        return None if raw is None else _build(next(a for a in args if a is not type(None)), raw)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if not isinstance(raw, dict):
            raise TypeError(f"expected a mapping for {hint.__name__}, got {raw!r}")
        hints = typing.get_type_hints(hint)
        known = {f.name for f in dataclasses.fields(hint)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise TypeError(f"{hint.__name__} has no field {unknown[0]!r}")
        kwargs = {k: _build(hints[k], v) for k, v in raw.items()}
        if hint is SmartDevice and "health_passed" in raw and "health_known" not in raw:
            kwargs["health_known"] = True
        return hint(**kwargs)
    if hint is float and isinstance(raw, int):
        return float(raw)
    if hint in (int, float, str, bool) and not isinstance(raw, hint):
        raise TypeError(f"expected {hint.__name__}, got {raw!r}")
    return raw
