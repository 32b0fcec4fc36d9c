"""rules/**/*.yaml → Rule, validated, with file:line errors.

A rule file is operator input: it is parsed with YAML's safe loader, every key is checked,
conditions are type-checked and compiled (collector/engine/lang.py), and every template is
checked against the facts its subject has, so a typo fails at load time with its line, not
at 3 a.m. in a ticket.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from collector.engine import template
from collector.engine.lang import (
    Compiled,
    LangError,
    T,
    check_pattern,
    compile_expression,
    duration_ms,
)
from collector.engine.model import (
    TIERS,
    Evidence,
    Fleet,
    Level,
    OnClear,
    Persist,
    Rule,
    Severity,
    TicketText,
)
from collector.engine.subjects import SUBJECT_NAMES, subject_types

Path_ = tuple[str | int, ...]


class RuleError(ValueError):
    """A rule file problem, as 'file:line: message'."""


@dataclass(frozen=True, slots=True)
class LoadResult:
    rules: tuple[Rule, ...]
    errors: tuple[str, ...]
    files: int = 0


def yaml_lines(node: yaml.Node, path: Path_ = ()) -> dict[Path_, int]:
    """Line (1-based) of every key path in the document."""
    out: dict[Path_, int] = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = (*path, str(key.value))
            out[sub] = key.start_mark.line + 1
            out.update({k: v for k, v in yaml_lines(value, sub).items() if k != sub})
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out.update(yaml_lines(item, (*path, i)))
    return out


def read_yaml(text: str, file: Path) -> tuple[Any, dict[Path_, int]]:
    """Safe-load a document with the line of every key; RuleError on bad YAML."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise RuleError(f"{file}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    return data, (yaml_lines(node) if node is not None else {})


class Reader:
    """Typed access to a YAML mapping that names the file:line of anything wrong."""

    def __init__(self, file: Path, lines: dict[Path_, int]) -> None:
        self.file = file
        self.lines = lines

    def line(self, path: Path_) -> int:
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)

    def fail(self, path: Path_, message: str) -> RuleError:
        key = ".".join(str(p) for p in path)
        where = f"{self.file}:{self.line(path)}"
        return RuleError(f"{where}: {key}: {message}" if key else f"{where}: {message}")

    def get(
        self, data: Mapping[str, Any], path: Path_, key: str, kind: type, default: Any = ...
    ) -> Any:
        if key not in data:
            if default is ...:
                raise self.fail(path, f"missing required key '{key}'")
            return default
        value = data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return value
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail((*path, key), f"expected {kind.__name__}, got {value!r}")
        return value

    def keys(self, data: Mapping[str, Any], path: Path_, known: set[str]) -> None:
        unknown = sorted(set(data) - known)
        if unknown:
            raise self.fail((*path, unknown[0]), f"unknown key; known: {', '.join(sorted(known))}")

    def choice(self, data: Mapping[str, Any], key: str, enum_: type[Any]) -> Any:
        raw = self.get(data, (), key, str)
        try:
            return enum_(raw)
        except ValueError:
            known = ", ".join(e.value for e in enum_)
            raise self.fail((key,), f"expected one of {known}, got {raw!r}") from None

    def duration(self, data: Mapping[str, Any], path: Path_, key: str, default: int) -> int:
        if key not in data:
            return default
        try:
            return duration_ms(str(data[key]))
        except ValueError as exc:
            raise self.fail((*path, key), str(exc)) from None

    def str_list(self, data: Mapping[str, Any], path: Path_, key: str) -> tuple[str, ...]:
        value = data.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail((*path, key), "expected a list of strings")
        return tuple(value)


RULE_KEYS = {
    "id", "version", "title", "domain", "os", "severity", "impact", "urgency", "reason",
    "tier", "category", "for_each", "match", "event_fields", "quiet", "when", "persist",
    "clear", "clear_persist", "component", "evidence", "ticket", "absorbs", "absorb_within",
    "fleet", "on_clear",
}  # fmt: skip
TICKET_KEYS = {"summary", "symptoms", "cause", "remediation", "kb"}
EVIDENCE_KEYS = {"fields", "series", "events", "window", "limit"}
FLEET_KEYS = {"group_by", "min_hosts", "within", "summary"}
DOMAINS = ("disk", "network", "drivers", "boot", "cross")
OS_NAMES = ("linux", "windows", "darwin")
_ID = re.compile(r"^[a-z]+\.[a-z0-9_]+$")


def _persist(r: Reader, data: Mapping[str, Any], key: str) -> Persist:
    if key not in data:
        return Persist()
    raw = data[key]
    if not isinstance(raw, dict) or len(raw) != 1 or not set(raw) <= {"cycles", "duration"}:
        raise r.fail((key,), "expected {cycles: N} or {duration: 30m}")
    if "cycles" in raw:
        cycles = raw["cycles"]
        if not isinstance(cycles, int) or isinstance(cycles, bool) or not 1 <= cycles <= 1000:
            raise r.fail((key, "cycles"), f"expected a whole number 1..1000, got {cycles!r}")
        return Persist(cycles=cycles)
    return Persist(duration_ms=r.duration(raw, (key,), "duration", 0))


def _expression(r: Reader, text: Any, key: str, facts: Mapping[str, T], subject: str) -> Compiled:
    if isinstance(text, bool):  # `when: true` (an event rule whose match is enough)
        text = str(text)
    if not isinstance(text, str):
        raise r.fail((key,), f"expected a condition as text, got {text!r}")
    try:
        return compile_expression(text, facts, subject, str(r.file))
    except LangError as exc:
        source = " ".join(text.split())
        pointer = f"\n    {source}\n    {' ' * exc.col}^" if source else ""
        raise r.fail((key,), f"{exc}{pointer}") from None


def parse_rule(text: str, file: Path) -> Rule:
    data, lines = read_yaml(text, file)
    if not isinstance(data, dict):
        raise RuleError(f"{file}:1: expected a mapping with the rule's keys")
    r = Reader(file, lines)
    r.keys(data, (), RULE_KEYS)
    rule_id = r.get(data, (), "id", str)
    domain = r.get(data, (), "domain", str)
    if domain not in DOMAINS:
        raise r.fail(("domain",), f"expected one of {', '.join(DOMAINS)}, got {domain!r}")
    if not _ID.match(rule_id) or rule_id != f"{domain}.{file.stem}":
        raise r.fail(
            ("id",), f"expected {domain}.{file.stem} (<domain>.<file name>), got {rule_id!r}"
        )
    subject = r.get(data, (), "for_each", str)
    if subject not in SUBJECT_NAMES:
        raise r.fail(("for_each",), f"expected one of {', '.join(SUBJECT_NAMES)}, got {subject!r}")
    facts = subject_types(subject)
    match = r.str_list(data, (), "match")
    event_fields = r.str_list(data, (), "event_fields")
    if subject == "event":
        if not match:
            raise r.fail(("for_each",), "an event rule needs match: (a kind, disk.* or a list)")
        for pattern in match:
            try:
                check_pattern(pattern)
            except LangError as exc:
                raise r.fail(("match",), str(exc)) from None
    elif match or event_fields or "quiet" in data:
        raise r.fail(("match",), "match, event_fields and quiet are for `for_each: event` rules")
    when = _expression(r, data.get("when"), "when", facts, subject)
    clear = _expression(r, data["clear"], "clear", facts, subject) if "clear" in data else None
    if subject == "event" and ("persist" in data or "clear" in data):
        raise r.fail(("persist",), "event rules fire on the event and clear after `quiet:`")
    tier = r.get(data, (), "tier", str)
    if tier not in TIERS:
        raise r.fail(("tier",), f"expected L1, L2 or L3, got {tier!r}")
    os_list = r.get(data, (), "os", list, list(OS_NAMES))
    for i, name in enumerate(os_list):
        if name not in OS_NAMES:
            raise r.fail(("os", i), f"expected one of {', '.join(OS_NAMES)}, got {name!r}")

    templated = {**facts, **{f: T.STR for f in event_fields}}
    texts: dict[Path_, str] = {}
    t = r.get(data, (), "ticket", dict)
    r.keys(t, ("ticket",), TICKET_KEYS)
    steps = r.get(t, ("ticket",), "remediation", dict)
    remediation: dict[str, tuple[str, ...]] = {}
    for step_tier, items in steps.items():
        where: Path_ = ("ticket", "remediation", step_tier)
        if step_tier not in TIERS:
            raise r.fail(where, "expected tiers L1, L2, L3 as keys")
        if not isinstance(items, list) or not items or not all(isinstance(s, str) for s in items):
            raise r.fail(where, "expected a non-empty list of steps")
        remediation[step_tier] = tuple(items)
        texts |= {(*where, i): s for i, s in enumerate(items)}
    if tier not in remediation:
        raise r.fail(("ticket", "remediation"), f"the rule's own tier {tier} needs steps")
    ticket = TicketText(
        summary=r.get(t, ("ticket",), "summary", str),
        symptoms=r.get(t, ("ticket",), "symptoms", str),
        cause=r.get(t, ("ticket",), "cause", str),
        remediation=remediation,
        kb=r.get(t, ("ticket",), "kb", str, ""),
    )
    if ticket.kb and not ticket.kb.startswith(("https://", "http://")):
        raise r.fail(("ticket", "kb"), "expected an http(s) URL")
    component = r.get(data, (), "component", str, "")
    texts |= {("component",): component, ("ticket", "summary"): ticket.summary}
    texts |= {("ticket", "symptoms"): ticket.symptoms, ("ticket", "cause"): ticket.cause}

    evidence = Evidence()
    if "evidence" in data:
        e = r.get(data, (), "evidence", dict)
        r.keys(e, ("evidence",), EVIDENCE_KEYS)
        ev_fields = r.str_list(e, ("evidence",), "fields")
        for i, name in enumerate(ev_fields):
            if name not in templated:
                raise r.fail(("evidence", "fields", i), f"unknown field {name!r} for {subject}")
        series = r.str_list(e, ("evidence",), "series")
        for i, name in enumerate(series):
            if facts.get(name) != T.NUM or subject in ("event", "host"):
                raise r.fail(
                    ("evidence", "series", i), f"{name!r} is not a numeric field of {subject}"
                )
        kinds = r.str_list(e, ("evidence",), "events")
        for i, pattern in enumerate(kinds):
            try:
                check_pattern(pattern)
            except LangError as exc:
                raise r.fail(("evidence", "events", i), str(exc)) from None
        limit = r.get(e, ("evidence",), "limit", int, 20)
        if not 1 <= limit <= 200:
            raise r.fail(("evidence", "limit"), "expected 1..200")
        evidence = Evidence(
            ev_fields, series, kinds, r.duration(e, ("evidence",), "window", 86_400_000), limit
        )

    fleet = None
    if "fleet" in data:
        f = r.get(data, (), "fleet", dict)
        r.keys(f, ("fleet",), FLEET_KEYS)
        min_hosts = r.get(f, ("fleet",), "min_hosts", int)
        if not 2 <= min_hosts <= 100_000:
            raise r.fail(("fleet", "min_hosts"), "expected 2 or more")
        fleet = Fleet(
            group_by=r.get(f, ("fleet",), "group_by", str),
            min_hosts=min_hosts,
            within_ms=r.duration(f, ("fleet",), "within", 3_600_000),
            summary=r.get(f, ("fleet",), "summary", str),
        )
        texts[("fleet", "group_by")] = fleet.group_by
        if not template.fields_of(fleet.group_by):
            raise r.fail(("fleet", "group_by"), "expected a template such as {dns_server}")

    available = set(templated)
    for path, text_ in texts.items():
        try:
            template.check(text_, available, "template")
        except template.TemplateError as exc:
            raise r.fail(path, str(exc)) from None
    if fleet is not None:
        try:
            template.check(fleet.summary, available | {"hosts", "group"}, "template")
        except template.TemplateError as exc:
            raise r.fail(("fleet", "summary"), str(exc)) from None

    absorbs = r.str_list(data, (), "absorbs")
    return Rule(
        id=rule_id,
        version=r.get(data, (), "version", int),
        title=r.get(data, (), "title", str),
        domain=domain,
        os=tuple(str(o) for o in os_list),
        severity=r.choice(data, "severity", Severity),
        impact=r.choice(data, "impact", Level),
        urgency=r.choice(data, "urgency", Level),
        reason=r.get(data, (), "reason", str),
        tier=tier,
        category=r.get(data, (), "category", str),
        subject=subject,
        when=when,
        component=component,
        ticket=ticket,
        source=f"{file}:{r.line(())}",
        persist=_persist(r, data, "persist"),
        clear=clear,
        clear_persist=_persist(r, data, "clear_persist"),
        match=match,
        event_fields=event_fields,
        quiet_ms=r.duration(data, (), "quiet", 86_400_000),
        evidence=evidence,
        absorbs=absorbs,
        absorb_within_ms=r.duration(data, (), "absorb_within", 30 * 60_000),
        fleet=fleet,
        on_clear=r.choice(data, "on_clear", OnClear) if "on_clear" in data else OnClear.NOTE,
        text=text,
    )


def rule_files(folder: Path) -> list[Path]:
    return sorted(f for f in folder.rglob("*.yaml") if not f.name.endswith(".test.yaml"))


def load_rules(folder: Path) -> LoadResult:
    """Every *.yaml under folder except *.test.yaml; errors are collected, not raised."""
    rules: list[Rule] = []
    errors: list[str] = []
    seen: dict[str, str] = {}
    if not folder.is_dir():
        return LoadResult((), (f"{folder}: rules folder not found",))
    files = rule_files(folder)
    for file in files:
        try:
            rule = parse_rule(file.read_text(encoding="utf-8"), file)
        except RuleError as exc:
            errors.append(str(exc))
            continue
        except OSError as exc:
            errors.append(f"{file}:1: cannot read: {exc.strerror or exc}")
            continue
        except UnicodeDecodeError as exc:
            errors.append(f"{file}:1: not UTF-8 text (byte {exc.start}: {exc.reason})")
            continue
        if rule.id in seen:
            errors.append(
                f"{rule.source}: id: duplicate rule id {rule.id!r} (also in {seen[rule.id]})"
            )
            continue
        seen[rule.id] = rule.source
        rules.append(rule)
    for rule in rules:
        for other in rule.absorbs:
            if other not in seen:
                errors.append(f"{rule.source}: absorbs: unknown rule id {other!r}")
    return LoadResult(tuple(rules), tuple(errors), len(files))


def default_rules_dir() -> Path:
    """The rules/ folder shipped beside the collector package."""
    return Path(__file__).resolve().parents[2] / "rules"
