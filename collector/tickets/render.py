"""Finding + rule templates → TicketDraft. Text lives in the rule file, not here."""

from __future__ import annotations

import hashlib

from collector.engine import template
from collector.engine.facts import human_bytes
from collector.engine.model import Finding
from collector.store import TicketDraft

EVIDENCE_FIELDS = {
    "volume": ("mount", "device", "fstype", "total_bytes", "used_bytes", "free_bytes", "used_pct",
               "inodes_total", "inodes_free", "read_only"),
    "smart": ("device", "protocol", "model", "serial", "firmware", "health", "temperature_c",
              "power_on_hours", "reallocated_sectors", "pending_sectors", "offline_uncorrectable",
              "nvme_critical_warning", "nvme_percentage_used", "smartctl_exit_status"),
}  # fmt: skip
HOST_FIELDS = ("hostname", "os_name", "os_version", "kernel", "arch", "cpu_model", "memory_bytes",
               "machine_id", "agent_version")  # fmt: skip


def dedup_key(agent_id: str, rule_id: str, component: str) -> str:
    """Stable identity of a problem: host + rule + component, nothing volatile."""
    digest = hashlib.sha256(f"{agent_id}\0{rule_id}\0{component}".encode()).hexdigest()
    return f"rdiag-{digest[:20]}"


def _host_value(key: str, value: object) -> object:
    return human_bytes(value) if key == "memory_bytes" and isinstance(value, int) else value


def _shown(value: object) -> object:
    # Percentages are computed at full precision for the rules; people read two decimals.
    return round(value, 2) if isinstance(value, float) else value


def draft(finding: Finding, agent_id: str) -> TicketDraft:
    rule, facts = finding.rule, finding.facts
    steps = [template.render(s, facts) for s in rule.ticket.remediation]
    host_lines = [f"- {k.removesuffix('_bytes').replace('_', ' ')}: {_host_value(k, facts[k])}"
                  for k in HOST_FIELDS if facts.get(k)]  # fmt: skip
    description = "\n".join(
        [
            f"**Symptom.** {template.render(rule.ticket.symptom, facts)}",
            "",
            f"**Probable cause.** {template.render(rule.ticket.cause, facts)}",
            "",
            "**What to do.**",
            *[f"{i}. {s}" for i, s in enumerate(steps, 1)],
            "",
            "**Host.**",
            *host_lines,
            "",
            f"Rule `{rule.id}` v{rule.version}, severity {rule.severity.value}, "
            f"routed to {rule.tier} ({rule.category}).",
        ]
    )
    evidence = {
        "record": rule.record,
        "observed_at_ms": finding.observed_at_ms,
        "values": {k: _shown(facts[k]) for k in EVIDENCE_FIELDS[rule.record] if k in facts},
        "conditions": [f"{c.field} {c.op.value} {c.value!r}" for c in rule.when],
    }
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
        summary=template.render(rule.ticket.summary, facts),
        description=description,
        evidence=evidence,
        observed_at_ms=finding.observed_at_ms,
    )
