"""Finding + rule text → TicketDraft. Text lives in the rule file, not here."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

from collector.engine import template
from collector.engine.model import TIERS, Change, Finding, OnClear, Persist
from collector.engine.subjects import human_bytes
from collector.store import TicketDraft
from collector.tickets import redact
from collector.tickets.policy import TicketPolicy

DEFAULT_POLICY = TicketPolicy()

HOST_FIELDS = ("hostname", "os_name", "os_version", "kernel", "arch", "vendor", "cpu_model",
               "memory_bytes", "machine_id", "agent_version", "site", "subnet")  # fmt: skip


def dedup_key(agent_id: str, rule_id: str, component: str) -> str:
    """Stable identity of a problem: host + rule + component, nothing volatile."""
    digest = hashlib.sha256(f"{agent_id}\0{rule_id}\0{component}".encode()).hexdigest()
    return f"rdiag-{digest[:20]}"


def _host_value(key: str, value: object) -> object:
    return human_bytes(value) if key == "memory_bytes" and isinstance(value, int) else value


def _persist_text(p: Persist) -> str:
    cycles, duration_ms = p.cycles, p.duration_ms
    if duration_ms:
        return f"for {duration_ms // 60_000} min"
    return f"in {cycles} consecutive readings" if cycles > 1 else "on a single reading"


def _span(ms: int) -> str:
    hours = ms // 3_600_000
    return f"{hours // 24} days" if hours >= 48 and hours % 24 == 0 else f"{hours} h"


def _checked(finding: Finding) -> list[str]:
    """What rdiag already looked at, so L1 does not repeat it (ticketing.md §3.5, item 8)."""
    rule, ev = finding.rule, finding.evidence
    out = [
        f"The agent's {rule.subject} data for {finding.component or 'this host'} was read "
        f"and the rule's condition (under Evidence) held {_persist_text(rule.persist)}."
    ]
    window = _span(rule.evidence.window_ms)
    for name, points in (ev.get("series") or {}).items():
        n = len(points)
        out.append(f"The history of {name} over the last {window} was examined "
                   f"({n} reading{'s' if n != 1 else ''}).")  # fmt: skip
    patterns = list(dict.fromkeys([*rule.evidence.events,
                                   *(rule.match if rule.subject == "event" else ())]))  # fmt: skip
    if patterns:
        n = len(ev.get("events") or [])
        found = f"{n} found, attached as events.log" if n else "none found"
        out.append(f"The host's event history of the last {window} was searched for "
                   f"{', '.join(patterns)}: {found}.")  # fmt: skip
    if rule.absorbs:
        out.append("Related findings this one explains were folded into it: "
                   + ", ".join(rule.absorbs) + ".")  # fmt: skip
    if rule.clear is not None:
        held = _persist_text(rule.clear_persist)
        out.append(f"It counts as cleared when `{rule.clear.source}` holds {held}.")
    return out


def draft(
    finding: Finding, previous: TicketDraft | None = None, policy: TicketPolicy | None = None
) -> TicketDraft:
    """The ticket draft of a finding. `previous`, the draft of the same finding made
    earlier by this collector, lends its text: a repeat only brings new evidence (the
    store keeps an open ticket's text), and rendering the text is most of the cost."""
    rule, facts = finding.rule, finding.facts
    agent_id = finding.agent_id
    policy = policy or DEFAULT_POLICY
    clear = finding.change == Change.CLEARED
    # Not redacted here: the store redacts the evidence as it saves it (the one door every
    # draft passes); the rendered texts below are redacted as they are rendered.
    evidence: dict[str, Any] = {
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
        return replace(
            previous, evidence=evidence, observed_at_ms=finding.observed_at_ms, clear=clear
        )

    def render(text: str) -> str:
        return redact.text(template.render(text, facts))

    # Each text rendered once (and redacted as it is rendered): the report's parts, and the
    # plain Markdown description kept beside them.
    symptoms, cause = render(rule.ticket.symptoms), render(rule.ticket.cause)
    steps_by_tier = {
        tier: [render(step) for step in rule.ticket.remediation.get(tier, ())]
        for tier in TIERS
        if rule.ticket.remediation.get(tier)
    }
    steps: list[str] = []
    for tier, items in steps_by_tier.items():
        steps.append(f"*{tier}:*")
        steps += [f"{i}. {step}" for i, step in enumerate(items, 1)]
    host = {k: _host_value(k, facts[k]) for k in HOST_FIELDS if facts.get(k)}
    host_lines = [f"- {k.removesuffix('_bytes').replace('_', ' ')}: {v}" for k, v in host.items()]
    values: dict[str, Any] = dict(finding.evidence.get("values", {}))
    # The values are the only part not rendered (and redacted) from the rule's text.
    evidence_lines = [f"- {k}: {redact.text(str(v))}" for k, v in values.items()]
    description = "\n".join(
        [
            f"**Symptoms.** {symptoms}",
            "",
            f"**Probable cause.** {cause}",
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
    content = {
        "title": rule.title,
        "domain": rule.domain,
        "symptoms": symptoms,
        "cause": cause,
        "steps": steps_by_tier,
        "kb": rule.ticket.kb,
        "reason": rule.reason,
        "host": host,
        "checked": _checked(finding),
        "on_clear": rule.on_clear.value,
    }
    return TicketDraft(
        dedup_key=dedup_key(agent_id, rule.id, finding.component),
        agent_id=agent_id,
        hostname=str(facts.get("hostname") or agent_id),
        rule_id=rule.id,
        rule_version=rule.version,
        component=finding.component,
        severity=rule.severity.value,
        priority=policy.priority(rule.impact.value, rule.urgency.value),
        tier=rule.tier,
        category=rule.category,
        summary=render(rule.ticket.summary),
        description=description,
        evidence=evidence,
        observed_at_ms=finding.observed_at_ms,
        absorbs=rule.absorbs if finding.absorbed_since_ms else (),
        absorb_since_ms=finding.absorbed_since_ms,
        clear=clear,
        auto_resolve=rule.on_clear == OnClear.RESOLVE,
        impact=rule.impact.value,
        urgency=rule.urgency.value,
        site=str(facts.get("site") or ""),
        content=content,
    )
