"""Pure evaluation: (rules, host, snapshot) → findings. No I/O, no clock."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from agent.records import HostInventory, Snapshot
from collector.engine import template
from collector.engine.facts import host_facts, records_of
from collector.engine.model import Condition, Finding, Op, Rule

_OPS: Mapping[Op, Callable[[Any, Any], bool]] = {
    Op.EQ: operator.eq,
    Op.NE: operator.ne,
    Op.GT: operator.gt,
    Op.GE: operator.ge,
    Op.LT: operator.lt,
    Op.LE: operator.le,
}


def _holds(cond: Condition, facts: Mapping[str, Any]) -> bool:
    value = facts[cond.field]
    try:
        return _OPS[cond.op](value, cond.value)
    except TypeError:
        return False  # a string compared with a number never matches


def evaluate(
    rules: Iterable[Rule], agent_id: str, host: HostInventory | None, snapshot: Snapshot
) -> list[Finding]:
    hfacts = host_facts(host, agent_id)
    os_family = hfacts.get("os_family") or ""
    findings: list[Finding] = []
    by_kind: dict[str, list[dict[str, Any]]] = {}  # each record's facts, made once per snapshot
    for rule in rules:
        if os_family and os_family not in rule.os:
            continue
        if rule.record not in by_kind:
            by_kind[rule.record] = records_of(rule.record, snapshot)
        for facts in by_kind[rule.record]:
            if all(_holds(c, facts) for c in rule.when):
                merged = {**hfacts, **facts}
                findings.append(
                    Finding(
                        rule=rule,
                        component=template.render(rule.component, merged),
                        facts=merged,
                        observed_at_ms=snapshot.taken_at_ms,
                    )
                )
    return findings
