"""rules/**/*.yaml → Rule, validated, with file:line errors.

A rule file is operator input: it is parsed with YAML's safe loader, every
key is checked, and every template is checked against the fields its record
type has, so a typo fails at load time with its line, not at 3 a.m. in a ticket.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from collector.engine import template
from collector.engine.facts import HOST_FIELDS, RECORD_FIELDS
from collector.engine.model import Condition, Op, Rule, Severity, TicketTemplate

Path_ = tuple[str | int, ...]


class RuleError(ValueError):
    """A rule file problem, as 'file:line: message'."""


@dataclass(frozen=True, slots=True)
class LoadResult:
    rules: tuple[Rule, ...]
    errors: tuple[str, ...]


def _lines(node: yaml.Node, path: Path_ = ()) -> dict[Path_, int]:
    """Line (1-based) of every key path in the document."""
    out: dict[Path_, int] = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = (*path, str(key.value))
            out[sub] = key.start_mark.line + 1
            out.update({k: v for k, v in _lines(value, sub).items() if k != sub})
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out.update(_lines(item, (*path, i)))
    return out


class _Reader:
    def __init__(self, file: Path, lines: dict[Path_, int]) -> None:
        self.file = file
        self.lines = lines

    def fail(self, path: Path_, message: str) -> RuleError:
        while path and path not in self.lines:
            path = path[:-1]
        key = ".".join(str(p) for p in path)
        where = f"{self.file}:{self.lines.get(path, 1)}"
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


RULE_KEYS = {
    "id", "version", "title", "domain", "os", "severity", "tier", "category",
    "record", "when", "component", "ticket",
}  # fmt: skip
TICKET_KEYS = {"summary", "symptom", "cause", "remediation"}


def parse_rule(text: str, file: Path) -> Rule:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise RuleError(f"{file}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if node is None or not isinstance(data, dict):
        raise RuleError(f"{file}:1: expected a mapping with the rule's keys")
    r = _Reader(file, _lines(node))
    unknown = sorted(set(data) - RULE_KEYS)
    if unknown:
        raise r.fail((unknown[0],), f"unknown key; known keys: {', '.join(sorted(RULE_KEYS))}")
    rule_id = r.get(data, (), "id", str)
    record = r.get(data, (), "record", str)
    if record not in RECORD_FIELDS:
        raise r.fail(("record",), f"expected one of {sorted(RECORD_FIELDS)}, got {record!r}")
    fields = RECORD_FIELDS[record]
    conditions = []
    for i, raw in enumerate(r.get(data, (), "when", list)):
        where: Path_ = ("when", i)
        if not isinstance(raw, dict) or set(raw) != {"field", "op", "value"}:
            raise r.fail(where, "expected {field: ..., op: ..., value: ...}")
        if raw["field"] not in fields:
            raise r.fail((*where, "field"), f"unknown field {raw['field']!r} for {record}")
        try:
            op = Op(raw["op"])
        except ValueError:
            raise r.fail((*where, "op"), f"expected one of {[o.value for o in Op]}") from None
        if not isinstance(raw["value"], int | float | str | bool):
            raise r.fail((*where, "value"), "expected a number, string or boolean")
        conditions.append(Condition(raw["field"], op, raw["value"]))
    if not conditions:
        raise r.fail(("when",), "expected at least one condition")
    try:
        severity = Severity(r.get(data, (), "severity", str))
    except ValueError:
        raise r.fail(("severity",), f"expected one of {[s.value for s in Severity]}") from None
    tier = r.get(data, (), "tier", str)
    if tier not in ("L1", "L2", "L3"):
        raise r.fail(("tier",), f"expected L1, L2 or L3, got {tier!r}")
    t = r.get(data, (), "ticket", dict)
    unknown = sorted(set(t) - TICKET_KEYS)
    if unknown:
        raise r.fail(("ticket", unknown[0]), f"unknown key; known: {sorted(TICKET_KEYS)}")
    remediation = r.get(t, ("ticket",), "remediation", list)
    if not remediation or not all(isinstance(s, str) for s in remediation):
        raise r.fail(("ticket", "remediation"), "expected a non-empty list of steps")
    tmpl = TicketTemplate(
        summary=r.get(t, ("ticket",), "summary", str),
        symptom=r.get(t, ("ticket",), "symptom", str),
        cause=r.get(t, ("ticket",), "cause", str),
        remediation=tuple(remediation),
    )
    available = fields | HOST_FIELDS
    component = r.get(data, (), "component", str)
    texts: dict[Path_, str] = {("component",): component, ("ticket", "summary"): tmpl.summary}
    texts |= {("ticket", "symptom"): tmpl.symptom, ("ticket", "cause"): tmpl.cause}
    texts |= {("ticket", "remediation", i): s for i, s in enumerate(tmpl.remediation)}
    for path, text in texts.items():
        try:
            template.check(text, available, "template")
        except template.TemplateError as exc:
            raise r.fail(path, str(exc)) from None
    os_list = r.get(data, (), "os", list, ["linux", "windows", "darwin"])
    return Rule(
        id=rule_id,
        version=r.get(data, (), "version", int),
        title=r.get(data, (), "title", str),
        domain=r.get(data, (), "domain", str),
        os=tuple(str(o) for o in os_list),
        severity=severity,
        tier=tier,
        category=r.get(data, (), "category", str),
        record=record,
        when=tuple(conditions),
        component=component,
        ticket=tmpl,
        source=f"{file}:{r.lines.get((), 1)}",
    )


def load_rules(folder: Path) -> LoadResult:
    """Every *.yaml under folder except *.test.yaml; errors are collected, not raised."""
    rules: list[Rule] = []
    errors: list[str] = []
    seen: dict[str, str] = {}
    if not folder.is_dir():
        return LoadResult((), (f"{folder}: rules folder not found",))
    for file in sorted(folder.rglob("*.yaml")):
        if file.name.endswith(".test.yaml"):
            continue
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
    return LoadResult(tuple(rules), tuple(errors))


def default_rules_dir() -> Path:
    """The rules/ folder shipped beside the collector package."""
    return Path(__file__).resolve().parents[2] / "rules"
