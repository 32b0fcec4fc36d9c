"""Store records as the API's JSON, and the console's context: what a request may read.

One conversion per record, used by the API and by the pages' JSON exports, so the two
never disagree about a field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from collector.engine.evaluate import Engine
from collector.store import Host, Incident, Silence, SqlStore, StoredFinding, Ticket
from collector.store.clock import wall_clock_ms
from collector.store.model import AgentHealth, DeliveryStatus, HostRow, TicketNote


@dataclass(frozen=True, slots=True)
class RuleInfo:
    id: str
    version: int
    title: str
    domain: str
    severity: str
    priority: str
    tier: str
    source: str
    hits: int  # findings opened since this collector started
    errors: int  # evaluation errors since this collector started


@dataclass(frozen=True, slots=True)
class RulesView:
    folder: str
    rules: tuple[RuleInfo, ...]
    load_errors: tuple[str, ...]
    reloads: int
    failed_reloads: int


@dataclass
class Console:
    """What the console reads and acts on; the collector builds one (collector/app.py)."""

    store: SqlStore
    clock: Callable[[], int]  # the store's: ticket and snapshot times (a simulation's own)
    rules: Callable[[], RulesView]
    # Hosts' last_seen is when their batch arrived: "not seen recently" is wall-clock time.
    wall_clock: Callable[[], int] = wall_clock_ms
    stale_after_ms: int = 15 * 60_000
    session_ttl_ms: int = 12 * 3_600_000
    secure_cookies: bool = False
    reload_rules: Callable[[], bool] | None = None
    live_poll_s: float = 1.0


def rules_view(engine: Engine, folder: str, load_errors: tuple[str, ...], reloads: int,
               failed_reloads: int) -> RulesView:  # fmt: skip
    rules = tuple(
        RuleInfo(r.id, r.version, r.title, r.domain, r.severity.value, r.priority, r.tier,
                 _relative(r.source, folder), engine.hits.get(r.id, 0),
                 engine.errors.counts.get(r.id, 0))
        for r in engine.rules.rules
    )  # fmt: skip
    return RulesView(folder, rules, load_errors, reloads, failed_reloads)


def _relative(source: str, folder: str) -> str:
    # "file:line" under the rules folder reads shorter without the folder's own path.
    prefix = folder.rstrip("/") + "/"
    return source[len(prefix) :] if source.startswith(prefix) else source


def when(ms: int) -> str:
    """An ISO 8601 UTC time for people and JSON; empty for 0 (never)."""
    if not ms:
        return ""
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):  # a silence "for 100000000d" from the CLI
        return f"{ms} ms"


def ticket_json(t: Ticket) -> dict[str, Any]:
    return {
        "id": t.id, "kind": t.kind, "state": t.state.value, "summary": t.summary,
        "priority": t.priority, "tier": t.tier, "severity": t.severity,
        "impact": t.impact, "urgency": t.urgency, "category": t.category,
        "rule_id": t.rule_id, "rule_version": t.rule_version, "component": t.component,
        "agent_id": t.agent_id, "hostname": t.hostname, "site": t.site,
        "occurrences": t.occurrences, "created_at": when(t.created_at_ms),
        "updated_at": when(t.updated_at_ms), "first_seen": when(t.first_seen_ms),
        "last_seen": when(t.last_seen_ms), "acknowledged_at": when(t.acknowledged_ms),
        "assignee": t.assignee, "resolution": t.resolution, "resolved_at": when(t.resolved_ms),
        "respond_by": when(t.sla_respond_ms), "resolve_by": when(t.sla_resolve_ms),
        "incident_id": t.incident_id, "merged_into": t.merged_into, "problem_id": t.problem_id,
        "storm_id": t.storm_id, "previous_id": t.previous_id, "reopen_count": t.reopen_count,
    }  # fmt: skip


def host_row_json(h: HostRow, stale_before_ms: int) -> dict[str, Any]:
    return {
        "agent_id": h.agent_id, "hostname": h.hostname, "os": h.os_name, "vendor": h.vendor,
        "last_seen": when(h.last_seen_ms), "stale": h.last_seen_ms < stale_before_ms,
        "open_tickets": h.open_tickets, "worst_priority": h.worst_priority or None,
    }  # fmt: skip


def host_json(h: Host, health: AgentHealth | None) -> dict[str, Any]:
    inv = h.inventory
    return {
        "agent_id": h.agent_id, "hostname": inv.hostname, "os_family": inv.os_family,
        "os_name": inv.os_name, "os_version": inv.os_version, "kernel": inv.kernel,
        "arch": inv.arch, "cpu_model": inv.cpu_model, "cpu_cores": inv.cpu_cores,
        "memory_bytes": inv.memory_bytes, "vendor": inv.vendor, "machine_id": inv.machine_id,
        "agent_version": inv.agent_version, "first_seen": when(h.first_seen_ms),
        "last_seen": when(h.last_seen_ms),
        "agent_health": None if health is None else {
            "time": when(health.time_ms), "spool_records": health.spool_records,
            "spool_bytes": health.spool_bytes, "dropped": dict(health.dropped)},
    }  # fmt: skip


def finding_json(f: StoredFinding) -> dict[str, Any]:
    s = f.state
    return {
        "agent_id": f.agent_id, "rule_id": s.rule_id, "component": s.component,
        "phase": s.phase, "summary": s.summary, "occurrences": s.occurrences,
        "opened_at": when(s.opened_ms), "last_fired_at": when(s.last_fire_ms),
        "cleared_at": when(s.cleared_ms), "held": s.held,
    }  # fmt: skip


def incident_json(i: Incident, *, with_hosts: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": i.id, "rule_id": i.rule_id, "group": i.group, "state": i.state,
        "summary": i.summary, "opened_at": when(i.opened_ms), "updated_at": when(i.updated_ms),
        "last_seen": when(i.last_seen_ms), "host_count": len(i.hosts),
    }  # fmt: skip
    if with_hosts:
        out["hosts"] = [{"agent_id": a, "hostname": h, "last_fired": when(t)}
                        for a, h, t in i.hosts]  # fmt: skip
    return out


def silence_json(s: Silence) -> dict[str, Any]:
    return {"id": s.id, "scope": s.scope, "value": s.value, "reason": s.reason,
            "created_by": s.created_by, "created_at": when(s.created_ms),
            "expires_at": when(s.expires_ms), "hits": s.hits}  # fmt: skip


def note_json(n: TicketNote) -> dict[str, Any]:
    return {"id": n.id, "time": when(n.time_ms), "kind": n.kind, "body": n.body}


def delivery_json(d: DeliveryStatus) -> dict[str, Any]:
    return {"op_id": d.op_id, "op": d.op, "sink": d.sink, "state": d.state,
            "attempts": d.attempts, "next_attempt": when(d.next_attempt_ms),
            "last_error": d.last_error, "updated_at": when(d.updated_ms)}  # fmt: skip


def rule_json(r: RuleInfo) -> dict[str, Any]:
    return {"id": r.id, "version": r.version, "title": r.title, "domain": r.domain,
            "severity": r.severity, "priority": r.priority, "tier": r.tier,
            "source": r.source, "hits_since_start": r.hits,
            "errors_since_start": r.errors}  # fmt: skip
