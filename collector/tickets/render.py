"""Finding + rule text → TicketDraft. Text lives in the rule file, not here."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

from collector.engine import template
from collector.engine.model import TIERS, Finding
from collector.engine.subjects import human_bytes
from collector.store import TicketDraft

HOST_FIELDS = ("hostname", "os_name", "os_version", "kernel", "arch", "vendor", "cpu_model",
               "memory_bytes", "machine_id", "agent_version", "site", "subnet")  # fmt: skip


def dedup_key(agent_id: str, rule_id: str, component: str) -> str:
    """Stable identity of a problem: host + rule + component, nothing volatile."""
    digest = hashlib.sha256(f"{agent_id}\0{rule_id}\0{component}".encode()).hexdigest()
    return f"rdiag-{digest[:20]}"


def _host_value(key: str, value: object) -> object:
    return human_bytes(value) if key == "memory_bytes" and isinstance(value, int) else value


def draft(finding: Finding, previous: TicketDraft | None = None) -> TicketDraft:
    """The ticket draft of a finding. `previous`, the draft of the same finding made
    earlier by this collector, lends its text: a repeat only brings new evidence (the
    store keeps an open ticket's text), and rendering the text is most of the cost."""
    rule, facts = finding.rule, finding.facts
    agent_id = finding.agent_id
    evidence = {
        "subject": rule.subject,
        "observed_at_ms": finding.observed_at_ms,
        "impact": rule.impact.value,
        "urgency": rule.urgency.value,
        "reason": rule.reason,
        **finding.evidence,
    }
    if (
        previous is not None
        and previous.rule_id == rule.id
        and previous.rule_version == rule.version
        and previous.component == finding.component
    ):
        return replace(previous, evidence=evidence, observed_at_ms=finding.observed_at_ms)

    def render(text: str) -> str:
        return template.render(text, facts)

    steps: list[str] = []
    for tier in TIERS:
        items = rule.ticket.remediation.get(tier, ())
        if items:
            steps.append(f"*{tier}:*")
            steps += [f"{i}. {render(step)}" for i, step in enumerate(items, 1)]
    host_lines = [f"- {k.removesuffix('_bytes').replace('_', ' ')}: {_host_value(k, facts[k])}"
                  for k in HOST_FIELDS if facts.get(k)]  # fmt: skip
    values: dict[str, Any] = dict(finding.evidence.get("values", {}))
    evidence_lines = [f"- {k}: {v}" for k, v in values.items()]
    description = "\n".join(
        [
            f"**Symptoms.** {render(rule.ticket.symptoms)}",
            "",
            f"**Probable cause.** {render(rule.ticket.cause)}",
            "",
            "**What to do.**",
            *steps,
            *(["", f"Knowledge base: {rule.ticket.kb}"] if rule.ticket.kb else []),
            "",
            "**Evidence.**",
            *evidence_lines,
            f"- condition: `{rule.when.source}`",
            "",
            "**Host.**",
            *host_lines,
            "",
            f"Impact {rule.impact.value}, urgency {rule.urgency.value}: {rule.reason}",
            f"Rule `{rule.id}` v{rule.version}, severity {rule.severity.value}, "
            f"routed to {rule.tier} ({rule.category}).",
        ]
    )
    return TicketDraft(
        dedup_key=dedup_key(agent_id, rule.id, finding.component),
        agent_id=agent_id,
        hostname=str(facts.get("hostname") or agent_id),
        rule_id=rule.id,
        rule_version=rule.version,
        component=finding.component,
        severity=rule.severity.value,
        priority=rule.priority,
        tier=rule.tier,
        category=rule.category,
        summary=render(rule.ticket.summary),
        description=description,
        evidence=evidence,
        observed_at_ms=finding.observed_at_ms,
        absorbs=rule.absorbs if finding.absorbed_since_ms else (),
        absorb_since_ms=finding.absorbed_since_ms,
    )
