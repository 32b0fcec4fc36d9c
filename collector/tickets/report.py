"""A ticket's diagnostic report: what an L2 engineer reads, in Markdown, HTML and JSON.

Built from the stored ticket (its text parts were rendered from the rule when it opened),
its notes, files and related tickets. The order follows ticketing.md §3.5: what is wrong
and how urgent first, then evidence, cause, what was checked, what to do, and last a
machine-readable block with all of it.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from collector.engine.subjects import human_bytes
from collector.store import SqlStore
from collector.store.model import Ticket, TicketFile, TicketNote, TicketRef
from collector.tickets.files import stamp
from collector.tickets.policy import PRIORITY_NAMES, TicketPolicy

LEVEL_NUMBER = {"high": 1, "medium": 2, "low": 3}
MAX_LOG_LINES = 12
MAX_TIMELINE_ROWS = 8


@dataclass(frozen=True, slots=True)
class Report:
    ticket: Ticket
    notes: Sequence[TicketNote]
    files: Sequence[TicketFile]
    related: Sequence[Ticket]
    refs: Sequence[TicketRef]
    policy: TicketPolicy
    held: Sequence[Ticket] = ()  # a storm's held tickets

    # -- the parts -----------------------------------------------------------------

    @property
    def content(self) -> Mapping[str, Any]:
        return self.ticket.content

    def lifecycle(self) -> str:
        t, p = self.ticket, self.policy
        if t.kind == "storm":
            return ("New tickets are held while this storm is open and unacknowledged; "
                    "acknowledge it to let new tickets through, release it to deliver the "
                    "held ones.")  # fmt: skip
        if t.auto_resolve:
            return (
                f"Resolves itself once the condition has stayed clear for "
                f"{_age(p.hold_down_ms)}; a recurrence within {_age(p.reopen_window_ms)} "
                f"of resolution reopens it, a later one opens a new ticket linked to this one."
            )
        return (
            "Will not resolve itself (a hardware, boot or crash finding needs a person to "
            "confirm the fix): a note is added when the condition clears. A recurrence "
            f"within {_age(p.reopen_window_ms)} of resolution reopens it."
        )

    def facts(self) -> list[tuple[str, str]]:
        t = self.ticket
        rows = [
            ("Priority", f"{t.priority} {PRIORITY_NAMES.get(t.priority, '')}".strip()),
            ("Impact / urgency", f"{t.impact or '-'} / {t.urgency or '-'}"
             + (f": {self.content['reason']}" if self.content.get("reason") else "")),
            ("Category", t.category),
            ("Tier", f"{t.tier} ({self.policy.group(t.tier)})"),
            ("State", t.state.value + (f" ({t.resolution})" if t.resolution else "")),
            ("Respond by", stamp(t.sla_respond_ms) if t.sla_respond_ms else "-"),
            ("Resolve by", stamp(t.sla_resolve_ms) if t.sla_resolve_ms else "-"),
            ("Host", t.hostname + (f" (agent {t.agent_id})" if t.agent_id else "")),
            ("Component", t.component or "-"),
            ("Seen", f"{t.occurrences} time(s), first {stamp(t.first_seen_ms)}, "
                     f"last {stamp(t.last_seen_ms)}"),
            ("Rule", f"{t.rule_id} v{t.rule_version}"),
            ("Dedup key", t.dedup_key),
        ]  # fmt: skip
        if t.site:
            rows.insert(8, ("Site", t.site))
        if t.acknowledged_ms:
            met = "within" if t.acknowledged_ms <= t.sla_respond_ms else "after"
            rows.append(("Acknowledged", f"{stamp(t.acknowledged_ms)}, {met} the response target"))
        if t.assignee:
            rows.append(("Assignee", t.assignee))
        return rows

    def related_lines(self) -> list[str]:
        t = self.ticket
        out = []
        for r in self.related:
            why = (
                "earlier occurrence" if r.dedup_key == t.dedup_key
                else "problem record" if r.id == t.problem_id
                else "storm holding it" if r.id == t.storm_id
                else "root cause" if r.id == t.merged_into
                else "fleet incident" if r.kind == "fleet"
                else "open on the same host"
            )  # fmt: skip
            out.append(f"#{r.id} {r.summary} [{r.state.value}, {why}]")
        return out

    def data(self) -> dict[str, Any]:
        """The machine-readable block (and the JSON export)."""
        t = self.ticket
        return {
            "id": t.id,
            "kind": t.kind,
            "dedup_key": t.dedup_key,
            "summary": t.summary,
            "state": t.state.value,
            "resolution": t.resolution,
            "priority": t.priority,
            "impact": t.impact,
            "urgency": t.urgency,
            "severity": t.severity,
            "tier": t.tier,
            "assignment_group": self.policy.group(t.tier),
            "category": t.category,
            "rule": {"id": t.rule_id, "version": t.rule_version},
            "host": {"agent_id": t.agent_id, "hostname": t.hostname, "site": t.site,
                     **dict(self.content.get("host") or {})},
            "component": t.component,
            "occurrences": t.occurrences,
            "first_seen_ms": t.first_seen_ms,
            "last_seen_ms": t.last_seen_ms,
            "created_at_ms": t.created_at_ms,
            "sla": {"respond_by_ms": t.sla_respond_ms, "resolve_by_ms": t.sla_resolve_ms},
            "recurrence": t.recurrence,
            "reopen_count": t.reopen_count,
            "previous_id": t.previous_id,
            "problem_id": t.problem_id,
            "related": [r.id for r in self.related],
            "auto_resolve": t.auto_resolve,
            "evidence": dict(t.evidence),
            "files": [{"name": f.name, "media_type": f.media_type, "sha256": f.sha256,
                       "size": f.size} for f in self.files],
            "external": [{"sink": r.sink, "id": r.external_id, "url": r.url} for r in self.refs],
        }  # fmt: skip

    # -- renderings ------------------------------------------------------------------

    def markdown(self, *, with_notes: bool = True, machine: bool = True) -> str:
        t, c = self.ticket, self.content
        out = [f"# #{t.id} {t.summary}", ""]
        out += ["| | |", "|---|---|", *(f"| {k} | {_md_cell(v)} |" for k, v in self.facts()), ""]
        if c.get("symptoms"):
            out += ["## Symptoms", "", str(c["symptoms"]), ""]
        if t.kind in ("fleet", "storm"):
            out += self._md_members()
        out += self._md_evidence()
        if c.get("cause"):
            out += ["## Probable cause", "", str(c["cause"]), ""]
        if c.get("checked"):
            out += ["## Already checked", "", *(f"- {x}" for x in c["checked"]), ""]
        steps: Mapping[str, Sequence[str]] = c.get("steps") or {}
        if steps:
            out += ["## What to do", ""]
            for tier, items in steps.items():
                out.append(f"**{tier}** ({self.policy.group(tier)})")
                out += [f"{i}. {s}" for i, s in enumerate(items, 1)]
                out.append("")
        if c.get("kb"):
            out += [f"Knowledge base: {c['kb']}", ""]
        related = self.related_lines()
        if related:
            out += ["## Related tickets", "", *(f"- {r}" for r in related), ""]
        out += ["## Lifecycle", "", self.lifecycle(), ""]
        if with_notes and self.notes:
            out += ["## Notes", ""]
            out += [f"- {stamp(n.time_ms)} ({n.kind}) {n.body}" for n in self.notes]
            out.append("")
        if machine:
            out += ["## Machine-readable", "", "```json", _dump(self.data()), "```", ""]
        return "\n".join(out)

    def text(self) -> str:
        return self.markdown().replace("**", "")

    def html(self, *, with_notes: bool = True) -> str:
        """An HTML fragment: headings, a facts table, evidence tables and inline SVG
        sparklines for the timelines (the console embeds it; export wraps it)."""
        t, c = self.ticket, self.content
        e = html.escape
        out = [f'<article class="rdiag-ticket" id="ticket-{t.id}">',
               f"<h1>#{t.id} {e(t.summary)}</h1>", '<table class="facts">']  # fmt: skip
        out += [f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in self.facts()]
        out.append("</table>")
        if c.get("symptoms"):
            out += ["<h2>Symptoms</h2>", f"<p>{e(str(c['symptoms']))}</p>"]
        if t.kind == "storm" and self.held:
            out += ["<h2>Held tickets</h2>", "<ul>"]
            out += [f"<li>{e(x)}</li>" for x in self.held_lines()]
            out.append("</ul>")
        if t.kind == "fleet":
            hosts = t.evidence.get("hosts") or []
            if hosts:
                out += ["<h2>Affected hosts</h2>", "<ul>"]
                out += [f"<li>{e(str(h.get('hostname')))}</li>" for h in hosts]
                out.append("</ul>")
        values: Mapping[str, Any] = t.evidence.get("values") or {}
        out.append("<h2>Evidence</h2>")
        if values:
            out.append('<table class="values">')
            out += [
                f"<tr><th>{e(k)}</th><td>{e(_reading(k, v))}</td></tr>" for k, v in values.items()
            ]
            out.append("</table>")
        if t.evidence.get("condition"):
            out.append(f"<p>Condition: <code>{e(str(t.evidence['condition']))}</code></p>")
        for name, points in (t.evidence.get("series") or {}).items():
            if len(points) >= 2:
                out.append(f"<figure><figcaption>{e(name)}</figcaption>{_sparkline(points)}"
                           f"</figure>")  # fmt: skip
        events = t.evidence.get("events") or []
        if events:
            out.append("<h3>Log excerpt</h3><pre>")
            out += [e(_event_line(ev)) for ev in events[-MAX_LOG_LINES:]]
            out.append("</pre>")
        if self.files:
            out += ["<h3>Attached files</h3>", "<ul>"]
            out += [f"<li>{e(f.name)} ({f.size} bytes, sha256 <code>{f.sha256}</code>)</li>"
                    for f in self.files]  # fmt: skip
            out.append("</ul>")
        if c.get("cause"):
            out += ["<h2>Probable cause</h2>", f"<p>{e(str(c['cause']))}</p>"]
        if c.get("checked"):
            out += ["<h2>Already checked</h2>", "<ul>"]
            out += [f"<li>{e(str(x))}</li>" for x in c["checked"]]
            out.append("</ul>")
        steps: Mapping[str, Sequence[str]] = c.get("steps") or {}
        if steps:
            out.append("<h2>What to do</h2>")
            for tier, items in steps.items():
                out.append(f"<h3>{e(tier)} ({e(self.policy.group(tier))})</h3><ol>")
                out += [f"<li>{e(s)}</li>" for s in items]
                out.append("</ol>")
        if c.get("kb"):
            kb = e(str(c["kb"]))
            out.append(f'<p>Knowledge base: <a href="{kb}">{kb}</a></p>')
        related = self.related_lines()
        if related:
            out += ["<h2>Related tickets</h2>", "<ul>", *(f"<li>{e(r)}</li>" for r in related),
                    "</ul>"]  # fmt: skip
        out += ["<h2>Lifecycle</h2>", f"<p>{e(self.lifecycle())}</p>"]
        if with_notes and self.notes:
            out += ["<h2>Notes</h2>", "<ul>"]
            out += [f"<li><time>{stamp(n.time_ms)}</time> ({e(n.kind)}) {e(n.body)}</li>"
                    for n in self.notes]  # fmt: skip
            out.append("</ul>")
        out += ['<h2>Machine-readable</h2>', f'<pre class="json">{e(_dump(self.data()))}</pre>',
                "</article>"]  # fmt: skip
        return "\n".join(out)

    def held_lines(self) -> list[str]:
        """A storm's held tickets, grouped by rule: what a person decides on."""
        by_rule: dict[str, list[str]] = {}
        for t in self.held:
            by_rule.setdefault(t.rule_id, []).append(t.hostname)
        out = []
        for rule, names in sorted(by_rule.items(), key=lambda kv: -len(kv[1])):
            shown = ", ".join(names[:10]) + (
                f" and {len(names) - 10} more" if len(names) > 10 else ""
            )
            out.append(f"{rule}: {len(names)} host(s): {shown}")
        return out

    def _md_members(self) -> list[str]:
        if self.ticket.kind == "storm":
            held = self.held_lines()
            return ["## Held tickets", "", *(f"- {x}" for x in held), ""] if held else []
        hosts = self.ticket.evidence.get("hosts") or []
        if not hosts:
            return []
        names = ", ".join(str(h.get("hostname")) for h in hosts[:50])
        more = f" and {len(hosts) - 50} more" if len(hosts) > 50 else ""
        return ["## Affected hosts", "", f"{len(hosts)} hosts: {names}{more}", ""]

    def _md_evidence(self) -> list[str]:
        ev = self.ticket.evidence
        out = ["## Evidence", ""]
        values: Mapping[str, Any] = ev.get("values") or {}
        if values:
            out += ["| Value | Reading |", "|---|---|"]
            out += [f"| {k} | {_md_cell(_reading(k, v))} |" for k, v in values.items()]
            out.append("")
        if ev.get("condition"):
            out += [f"Condition: `{ev['condition']}`", ""]
        for name, points in (ev.get("series") or {}).items():
            if len(points) < 2:
                continue  # one reading is in the values above; a timeline needs two
            shown = _pick(points, MAX_TIMELINE_ROWS)
            out += [f"Timeline of {name} ({len(points)} readings, all in the attached CSV):",
                    "", "| Time | Value |", "|---|---|",
                    *(f"| {stamp(tm)} | {_reading(name, v)} |" for tm, v in shown), ""]  # fmt: skip
        events = ev.get("events") or []
        if events:
            shown_events = events[-MAX_LOG_LINES:]
            out += [f"Log excerpt (last {len(shown_events)} of {len(events)}):", "", "```",
                    *(_event_line(e) for e in shown_events), "```", ""]  # fmt: skip
        if self.files:
            out += ["Attached files:", ""]
            out += [f"- {f.name} ({f.size} bytes, sha256 {f.sha256})" for f in self.files]
            out.append("")
        return out


def _event_line(e: Mapping[str, Any]) -> str:
    when = stamp(e.get("time_ms", 0))
    return f"{when} {e.get('severity', '')} {e.get('kind', '')}: {e.get('message', '')}"


def _pick(points: Sequence[Sequence[float]], n: int) -> list[Sequence[float]]:
    if len(points) <= n:
        return list(points)
    step = (len(points) - 1) / (n - 1)
    return [points[round(i * step)] for i in range(n)]


def _sparkline(points: Sequence[Sequence[float]], width: int = 240, height: int = 48) -> str:
    ts = [float(p[0]) for p in points]
    vs = [float(p[1]) for p in points]
    t0, t1 = min(ts), max(ts)
    v0, v1 = min(vs), max(vs)
    span_t = (t1 - t0) or 1.0
    span_v = (v1 - v0) or 1.0
    xs = [(t - t0) / span_t * (width - 4) + 2 for t in ts]
    ys = [height - 2 - (v - v0) / span_v * (height - 4) for v in vs]
    xy = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
    label = html.escape(f"{_plain(v0)} to {_plain(v1)}")
    return (
        f'<svg class="sparkline" role="img" aria-label="{label}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}"><polyline fill="none" '
        f'stroke="currentColor" stroke-width="1.5" points="{xy}"/></svg>'
    )


def _reading(name: str, v: Any) -> str:
    """A value as a person reads it: sizes in binary units with the exact count kept."""
    if name.endswith("_bytes") and isinstance(v, int | float) and not isinstance(v, bool):
        return f"{human_bytes(int(v))} ({int(v):,} bytes)"
    return _plain(v)


def _plain(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, list | dict):
        return json.dumps(v, default=str)
    return str(v)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _dump(data: Mapping[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True, default=str)


def _age(ms: int) -> str:
    minutes = ms // 60_000
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // 1440} days"


def report_of(store: SqlStore, ticket: Ticket) -> Report:
    return Report(
        ticket=ticket,
        notes=store.ticket_notes(ticket.id),
        files=store.ticket_files(ticket.id),
        related=store.related_tickets(ticket),
        refs=store.ticket_refs(ticket.id),
        policy=store.policy,
        held=store.held_tickets(ticket.id) if ticket.kind == "storm" else (),
    )
