"""A host's diagnostic report: the console's host page and its exports (HTML, Markdown, JSON).

What an L2 engineer opens a host for, in order: what the machine is, whether its agent
is healthy, what the rules found and which tickets are open, then its history over the
window as plots (disk usage with the fill forecast, disk latency and errors, SMART,
network, boots and crashes) with the latest values beside them.

standalone_html wraps any fragment (this one, or a ticket report's) into one complete
HTML file with its styles inline and no reference to anything outside it, so an export
opens the same on a laptop without network, in a mail attachment, or on paper.
"""

from __future__ import annotations

import dataclasses
import html
from dataclasses import dataclass
from typing import Any

from collector.store import AgentHealth, Host, SqlStore, StoredFinding, Ticket
from collector.web.plots import PALETTE, human_bytes, stamp
from collector.web.timeline import DAY_MS, HostTimeline, Section, host_timeline

DEFAULT_WINDOW_MS = 7 * DAY_MS
MAX_TICKETS = 100
MAX_FINDINGS = 200


@dataclass(frozen=True, slots=True)
class HostReport:
    host: Host
    health: AgentHealth | None
    findings: tuple[StoredFinding, ...]
    tickets: tuple[Ticket, ...]
    timeline: HostTimeline
    now_ms: int
    window_ms: int
    snapshots_stored: int = 0  # in the window, before sampling for the plots
    events_stored: int = 0

    @property
    def hostname(self) -> str:
        return self.host.inventory.hostname or self.host.agent_id

    # -- the parts -------------------------------------------------------------------

    def facts(self) -> list[tuple[str, str]]:
        inv, h = self.host.inventory, self.host
        os_text = " ".join(x for x in (inv.os_name or inv.os_family, inv.os_version) if x)
        if inv.os_version and inv.os_version in inv.os_name:
            os_text = inv.os_name
        rows = [
            ("Hostname", inv.hostname or "(not reported yet)"),
            ("Agent id", h.agent_id),
            ("Operating system", os_text or "-"),
            ("Kernel", inv.kernel or "-"),
            ("Architecture", inv.arch or "-"),
            ("Vendor", inv.vendor or "-"),
            ("CPU", f"{inv.cpu_model or '-'}" + (f" ({inv.cpu_cores} cores)" if inv.cpu_cores
                                                  else "")),
            ("Memory", human_bytes(inv.memory_bytes) if inv.memory_bytes else "-"),
        ]  # fmt: skip
        for d in inv.disks:
            desc = ", ".join(x for x in (human_bytes(d.size_bytes) if d.size_bytes else "",
                                         d.model, d.transport,
                                         "rotational" if d.rotational else "") if x)  # fmt: skip
            rows.append((f"Disk {d.name}", desc or "-"))
        if inv.nics:
            rows.append(("Network interfaces", ", ".join(inv.nics)))
        if inv.boot_time_unix:
            rows.append(("Booted", stamp(inv.boot_time_unix * 1000)))
        rows += [
            ("Agent version", inv.agent_version or "-"),
            ("Machine id", inv.machine_id or "-"),
            ("First seen", stamp(h.first_seen_ms)),
            ("Last seen", f"{stamp(h.last_seen_ms)} ({_ago(self.now_ms - h.last_seen_ms)})"),
            ("Agent health", self.health_text()),
        ]
        return rows

    def health_text(self) -> str:
        a = self.health
        if a is None:
            return "not reported yet"
        dropped = ", ".join(f"{k} {v:,}" for k, v in sorted(a.dropped.items()) if v)
        return (
            f"spool {a.spool_records:,} records ({human_bytes(a.spool_bytes)}) at "
            f"{stamp(a.time_ms)}; " + (f"dropped: {dropped}" if dropped else "nothing dropped")
        )

    def window_text(self) -> str:
        t = self.timeline
        sampled = (
            f" (sampled from {self.snapshots_stored:,})"
            if self.snapshots_stored > t.snapshots
            else ""
        )
        text = (
            f"{stamp(t.start_ms)} to {stamp(t.end_ms)}: {t.snapshots:,} snapshots{sampled} "
            f"and {t.events:,} events"
        )
        if self.events_stored > t.events:
            text += f" (the newest of {self.events_stored:,})"
        if t.skipped:
            text += f"; {t.skipped} stored record(s) could not be read and are left out"
        return text + "."

    def _findings_sorted(self) -> list[StoredFinding]:
        # Active before cleared, newest first within each.
        return sorted(self.findings, key=lambda f: (f.state.phase != "active", -f.state.opened_ms))

    # -- renderings ------------------------------------------------------------------

    def data(self) -> dict[str, Any]:
        """Everything in the report as plain JSON values, the plots' points included."""
        t = self.timeline
        return {
            "agent_id": self.host.agent_id,
            "hostname": self.host.inventory.hostname,
            "generated_at_ms": self.now_ms,
            "window": {"start_ms": t.start_ms, "end_ms": t.end_ms, "window_ms": self.window_ms},
            "inventory": dataclasses.asdict(self.host.inventory),
            "first_seen_ms": self.host.first_seen_ms,
            "last_seen_ms": self.host.last_seen_ms,
            "agent_health": None if self.health is None else {
                "time_ms": self.health.time_ms, "spool_records": self.health.spool_records,
                "spool_bytes": self.health.spool_bytes, "dropped": dict(self.health.dropped)},
            "findings": [{"agent_id": f.agent_id, **dataclasses.asdict(f.state)}
                         for f in self._findings_sorted()],
            "tickets": [{"id": x.id, "priority": x.priority, "state": x.state.value,
                         "summary": x.summary, "rule_id": x.rule_id, "component": x.component,
                         "kind": x.kind, "tier": x.tier, "occurrences": x.occurrences,
                         "created_at_ms": x.created_at_ms, "last_seen_ms": x.last_seen_ms}
                        for x in self.tickets],
            "timeline": {
                "snapshots": t.snapshots, "snapshots_stored": self.snapshots_stored,
                "events": t.events, "events_stored": self.events_stored, "skipped": t.skipped,
                "forecasts": [dataclasses.asdict(f) for f in t.forecasts],
                "sections": [_section_data(s) for s in t.sections],
            },
        }  # fmt: skip

    def markdown(self) -> str:
        out = [f"# Host {_md(self.hostname)}", ""]
        out += ["| | |", "|---|---|", *(f"| {k} | {_md(v)} |" for k, v in self.facts()), ""]
        out += ["## Findings", ""]
        findings = self._findings_sorted()
        if findings:
            out += ["| Rule | Component | State | Since | Occurrences | Summary |",
                    "|---|---|---|---|---|---|"]  # fmt: skip
            out += [f"| {_md(f.state.rule_id)} | {_md(f.state.component or '-')} | "
                    f"{f.state.phase} | {stamp(f.state.opened_ms)} | {f.state.occurrences} | "
                    f"{_md(f.state.summary)} |" for f in findings]  # fmt: skip
        else:
            out.append("No findings.")
        out += ["", "## Tickets", ""]
        if self.tickets:
            out += ["| # | Priority | State | Summary | Last seen |", "|---|---|---|---|---|"]
            out += [f"| #{x.id} | {x.priority} | {x.state.value} | {_md(x.summary)} | "
                    f"{stamp(x.last_seen_ms)} |" for x in self.tickets]  # fmt: skip
        else:
            out.append("No tickets.")
        out += ["", "## Timeline", "", self.window_text(), ""]
        for s in self.timeline.sections:
            out += [f"### {_md(s.title)}", ""]
            if s.empty:
                out += [s.empty, ""]
                continue
            if s.rows:
                out += ["| | |", "|---|---|", *(f"| {_md(k)} | {_md(v)} |" for k, v in s.rows)]
                out.append("")
            if s.charts:
                names = "; ".join(_md(c.title) for c in s.charts)
                out += [f"Plots (in the HTML export): {names}.", ""]
        out += [f"_Exported from rdiag at {stamp(self.now_ms)}. The JSON export holds every "
                "plotted point._", ""]  # fmt: skip
        return "\n".join(out)

    def html_fragment(self, *, with_tickets: bool = False) -> str:
        """An <article> for the console's host page (which lists the tickets itself;
        with_tickets adds them, as the export does)."""
        e = _esc
        out = ['<article class="rdiag-host" aria-labelledby="hr-title">',
               f'<h1 id="hr-title">{e(self.hostname)}</h1>',
               '<section aria-labelledby="hr-facts">', '<h2 id="hr-facts">Host</h2>',
               '<table class="facts">', "<caption>Inventory and agent</caption>"]  # fmt: skip
        out += [f'<tr><th scope="row">{e(k)}</th><td>{e(v)}</td></tr>' for k, v in self.facts()]
        out += ["</table>", "</section>"]
        out += ['<section aria-labelledby="hr-findings">', '<h2 id="hr-findings">Findings</h2>']
        findings = self._findings_sorted()
        if findings:
            out += ['<table class="findings">', "<caption>Rule findings on this host</caption>",
                    "<thead><tr>", *(f'<th scope="col">{h}</th>' for h in
                                     ("Rule", "Component", "State", "Since", "Last fired",
                                      "Occurrences", "Summary")),
                    "</tr></thead>", "<tbody>"]  # fmt: skip
            for f in findings:
                st = f.state
                cls = "bad" if st.phase == "active" else "muted"
                out.append(
                    f"<tr><td>{e(st.rule_id)}</td><td>{e(st.component or '-')}</td>"
                    f'<td><span class="badge {cls}">{e(st.phase)}</span></td>'
                    f"<td>{e(stamp(st.opened_ms))}</td><td>{e(stamp(st.last_fire_ms))}</td>"
                    f"<td>{st.occurrences}</td><td>{e(st.summary)}</td></tr>"
                )
            out += ["</tbody>", "</table>"]
        else:
            out.append("<p>No findings.</p>")
        out.append("</section>")
        if with_tickets:
            out += self._html_tickets()
        out += ['<section aria-labelledby="hr-timeline">', '<h2 id="hr-timeline">Timeline</h2>',
                f'<p class="muted">{e(self.window_text())}</p>']  # fmt: skip
        for s in self.timeline.sections:
            out += _html_section(s)
        out += ["</section>", "</article>"]
        return "\n".join(out)

    def _html_tickets(self) -> list[str]:
        e = _esc
        out = ['<section aria-labelledby="hr-tickets">', '<h2 id="hr-tickets">Tickets</h2>']
        if not self.tickets:
            return [*out, "<p>No tickets.</p>", "</section>"]
        out += ['<table class="tickets">', "<caption>Tickets of this host</caption>",
                "<thead><tr>", *(f'<th scope="col">{h}</th>' for h in
                                 ("#", "Priority", "State", "Summary", "Last seen")),
                "</tr></thead>", "<tbody>"]  # fmt: skip
        out += [f'<tr><td>#{x.id}</td><td><span class="prio {e(x.priority)}">{e(x.priority)}'
                f"</span></td><td>{e(x.state.value)}</td><td>{e(x.summary)}</td>"
                f"<td>{e(stamp(x.last_seen_ms))}</td></tr>" for x in self.tickets]  # fmt: skip
        return [*out, "</tbody>", "</table>", "</section>"]

    def html(self) -> str:
        """The whole report as one self-contained, printable HTML file."""
        return standalone_html(f"Host {self.hostname}", self.html_fragment(with_tickets=True),
                               generated_ms=self.now_ms)  # fmt: skip


def host_report(
    store: SqlStore,
    agent_id: str,
    *,
    now_ms: int,
    window_ms: int = DEFAULT_WINDOW_MS,
    max_points: int = 240,
) -> HostReport | None:
    """The report on agent_id over the window_ms before now_ms; None for an unknown host."""
    if window_ms <= 0:
        raise ValueError(f"window_ms must be positive, not {window_ms}")
    host = store.get_host(agent_id)
    if host is None:
        return None
    start = now_ms - window_ms
    snaps = store.host_snapshots(agent_id, since_ms=start, until_ms=now_ms, max_points=max_points)
    evs = store.host_events(agent_id, since_ms=start, until_ms=now_ms)
    timeline = host_timeline(snaps.records, evs.records, start_ms=start, end_ms=now_ms,
                             now_ms=now_ms, skipped=snaps.skipped + evs.skipped)  # fmt: skip
    # A host seen for a day gets a day's axis, not its data squeezed into the last seventh.
    first = _earliest(timeline)
    if first is not None and first > start + (now_ms - start) // 10:
        start = max(start, first - (now_ms - first) // 20)
        timeline = host_timeline(snaps.records, evs.records, start_ms=start, end_ms=now_ms,
                                 now_ms=now_ms, skipped=snaps.skipped + evs.skipped)  # fmt: skip
    return HostReport(
        host=host,
        health=store.agent_health(agent_id),
        findings=tuple(store.list_findings(agent_id=agent_id, limit=MAX_FINDINGS)),
        tickets=tuple(store.list_tickets(agent_id=agent_id, limit=MAX_TICKETS)),
        timeline=timeline,
        now_ms=now_ms,
        window_ms=window_ms,
        snapshots_stored=snaps.matched,
        events_stored=evs.matched,
    )


def _section_data(s: Section) -> dict[str, Any]:
    return {
        "key": s.key,
        "title": s.title,
        "empty": s.empty,
        "rows": [{"label": k, "value": v} for k, v in s.rows],
        "charts": [
            {"title": c.title, "unit": c.unit,
             "series": [{"name": x.name, "dashed": x.dashed,
                         "points": [[t, v] for t, v in x.points]} for x in c.series]}
            for c in s.charts
        ],
        "marks": [{"time_ms": m.time_ms, "kind": m.kind, "label": m.label} for m in s.marks],
    }  # fmt: skip


def _html_section(s: Section) -> list[str]:
    e = _esc
    hid = f"hr-{s.key}"
    out = [f'<section class="timeline-part" aria-labelledby="{hid}">',
           f'<h3 id="{hid}">{e(s.title)}</h3>']  # fmt: skip
    if s.empty:
        return [*out, f'<p class="empty">{e(s.empty)}</p>', "</section>"]
    for c in s.charts:
        out.append(f'<figure class="plot"><figcaption>{e(c.title)}</figcaption>{c.svg}</figure>')
    if s.rows:
        out += ['<table class="latest">', f"<caption>{e(s.title)}: latest values</caption>"]
        out += [f'<tr><th scope="row">{e(k)}</th><td>{e(v)}</td></tr>' for k, v in s.rows]
        out.append("</table>")
    return [*out, "</section>"]


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _md(text: str) -> str:
    # Markdown passes HTML through: a host's name or a log line must stay text.
    return html.escape(text, quote=False).replace("|", "\\|").replace("\n", " ")


def _ago(ms: int) -> str:
    if ms < 0:
        return "in the future: check the host's clock"
    minutes = ms // 60_000
    if minutes < 2:
        return "just now"
    if minutes < 120:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // 1440} days ago"


# -- the standalone document ----------------------------------------------------------

_SERIES_CSS = "\n".join(f"svg .s{i} {{ stroke: {c}; }}" for i, c in enumerate(PALETTE))

# No url(), no @import, no web font: the file must render without any network.
REPORT_CSS = f"""
:root {{ --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --accent: #0a5bd3;
  --p1: #b00020; --p2: #c2410c; --p3: #8a6d00; --p4: #2d6a4f; --p5: #4b5563; }}
* {{ box-sizing: border-box; }}
body {{ margin: 0 auto; max-width: 1100px; padding: 1.5em 2em 3em; color: var(--fg);
  background: #fff; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }}
h1 {{ font-size: 1.6em; margin: .2em 0 .6em; }}
h2 {{ font-size: 1.25em; margin: 1.4em 0 .5em; border-bottom: 1px solid var(--line); }}
h3 {{ font-size: 1.05em; margin: 1.2em 0 .4em; }}
table {{ border-collapse: collapse; width: 100%; margin: .4em 0 1em; }}
caption {{ text-align: left; color: var(--muted); font-size: .9em; padding: .2em 0; }}
th, td {{ text-align: left; padding: .3em .5em; border-bottom: 1px solid var(--line);
  vertical-align: top; }}
thead th {{ background: #f6f8fa; }}
table.facts th, table.latest th, table.values th {{ width: 16em; font-weight: 600; }}
.muted, .empty {{ color: var(--muted); }}
.badge {{ display: inline-block; border: 1px solid var(--line); border-radius: 10px;
  padding: 0 .5em; font-size: .85em; }}
.badge.bad {{ border-color: var(--p1); color: var(--p1); }}
.prio {{ display: inline-block; min-width: 2.4em; text-align: center; font-weight: 700;
  border-radius: 3px; color: #fff; padding: 0 .3em; background: var(--p5); }}
.prio.P1 {{ background: var(--p1); }} .prio.P2 {{ background: var(--p2); }}
.prio.P3 {{ background: var(--p3); }} .prio.P4 {{ background: var(--p4); }}
figure {{ margin: .6em 0 1em; }}
figcaption {{ font-weight: 600; font-size: .92em; margin-bottom: .2em; }}
svg {{ max-width: 100%; height: auto; }}
{_SERIES_CSS}
pre {{ background: #f6f8fa; padding: .6em; overflow-x: auto; font-size: .85em; }}
code {{ font-size: .92em; }}
footer {{ margin-top: 3em; color: var(--muted); font-size: .85em; }}
@media print {{
  @page {{ margin: 14mm 12mm; }}
  body {{ max-width: none; padding: 0; font-size: 10.5pt; }}
  h2, h3 {{ break-after: avoid; }}
  figure, tr, table.latest, table.facts {{ break-inside: avoid; }}
  pre {{ white-space: pre-wrap; max-height: none; overflow: visible; }}
  a {{ color: inherit; }}
  thead th {{ background: none; }}
}}
"""


def standalone_html(title: str, body_html: str, *, generated_ms: int | None = None) -> str:
    """A complete HTML document around body_html (already escaped markup, such as a report
    fragment): the styles inline, printable, and nothing fetched from anywhere.

    The frame itself is well-formed XML too, so a well-formed fragment gives a document
    an XML parser reads (the tests do)."""
    footer = "Exported from rdiag" + (f" at {stamp(generated_ms)}" if generated_ms else "")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8"/>\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>\n'
        f"<title>{_esc(title)} · rdiag</title>\n"
        f"<style>{REPORT_CSS}</style>\n</head>\n<body>\n<main>\n{body_html}\n</main>\n"
        f"<footer>{_esc(footer)}.</footer>\n</body>\n</html>\n"
    )


def _earliest(timeline: HostTimeline) -> int | None:
    """The time of the first point or mark drawn anywhere on the host's timeline."""
    times = [m.time_ms for sec in timeline.sections for m in sec.marks]
    times += [
        s.points[0][0]
        for sec in timeline.sections
        for c in sec.charts
        for s in c.series
        if s.points
    ]
    return min(times, default=None)
