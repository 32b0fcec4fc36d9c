"""`rdiag-collector tickets …` and `rdiag-collector silences …`: the ticket queue from a
terminal, for engineers and for scripts (every listing has --json)."""

from __future__ import annotations

import argparse
import csv
import getpass
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent.common.config import _DURATION_UNITS, _parse_quantity
from collector.store import Resolution, SqlStore, Ticket, TicketError, TicketState
from collector.tickets.files import stamp
from collector.tickets.policy import PRIORITIES
from collector.tickets.report import report_of

FORMATS = ("markdown", "html", "json")


def add_parsers(sub: Any) -> None:
    tickets = sub.add_parser("tickets", help="list, show, export and work tickets")
    tsub = tickets.add_subparsers(dest="action", required=True, metavar="ACTION")

    def filters(p: argparse.ArgumentParser) -> None:
        p.add_argument("--state", choices=[s.value for s in TicketState])
        p.add_argument("--priority", choices=PRIORITIES)
        p.add_argument("--tier", choices=("L1", "L2", "L3"))
        p.add_argument("--host", help="agent id or hostname")
        p.add_argument("--kind", choices=("host", "fleet", "storm", "problem"))
        p.add_argument("--limit", type=int, default=100)

    tl = tsub.add_parser("list", help="one line per ticket, newest first")
    filters(tl)
    tl.add_argument("--json", action="store_true", help="JSON instead of a table")
    ts = tsub.add_parser("show", help="one ticket's full report (all matching when no id)")
    ts.add_argument("id", type=int, nargs="?")
    ts.add_argument("--format", choices=FORMATS, default="markdown")
    ts.add_argument("--json", action="store_true", help="the same as --format json")
    filters(ts)
    te = tsub.add_parser("export", help="tickets as JSON lines, CSV, Markdown or HTML")
    filters(te)
    te.add_argument("--format", choices=("jsonl", "csv", "markdown", "html"), default="jsonl")
    te.add_argument("--output", "-o", type=Path, help="file to write (default: stdout)")

    who = {"default": None, "help": "your name in the ticket's notes (default: login name)"}
    ta = tsub.add_parser("ack", help="acknowledge: you own it (a storm: let new tickets in)")
    ta.add_argument("id", type=int)
    ta.add_argument("--by", **who)
    tas = tsub.add_parser("assign", help="assign to a person")
    tas.add_argument("id", type=int)
    tas.add_argument("assignee")
    tas.add_argument("--by", **who)
    tc = tsub.add_parser("comment", help="add a note (delivered to the helpdesks too)")
    tc.add_argument("id", type=int)
    tc.add_argument("text")
    tc.add_argument("--by", **who)
    tr = tsub.add_parser("resolve", help="resolve: fixed, wont_fix or duplicate")
    tr.add_argument("id", type=int)
    tr.add_argument("--as", dest="resolution", default="fixed",
                    choices=[r.value for r in Resolution if r is not Resolution.AUTO])  # fmt: skip
    tr.add_argument("--note", default="")
    tr.add_argument("--by", **who)
    to = tsub.add_parser("reopen", help="reopen a resolved ticket")
    to.add_argument("id", type=int)
    to.add_argument("--by", **who)
    tre = tsub.add_parser("release", help="deliver the tickets a storm holds")
    tre.add_argument("id", type=int, help="the storm ticket")
    tre.add_argument("--by", **who)
    td = tsub.add_parser("deliveries", help="the outbox: each operation per helpdesk")
    td.add_argument("--ticket", type=int)
    td.add_argument("--sink")
    td.add_argument("--limit", type=int, default=50)
    td.add_argument("--json", action="store_true")
    trd = tsub.add_parser("redeliver", help="retry deliveries that failed for good")
    trd.add_argument("--ticket", type=int)
    trd.add_argument("--sink")
    tp = tsub.add_parser("push", help="send a newly configured helpdesk the open tickets it lacks")
    tp.add_argument("--sink", required=True, help="a sink the collector has run with")

    silences = sub.add_parser("silences", help="maintenance silences: no new tickets")
    ssub = silences.add_subparsers(dest="action", required=True, metavar="ACTION")
    sa = ssub.add_parser("add", help="silence a host, a site or a rule (glob) for a while")
    sa.add_argument("scope", choices=("host", "site", "rule"))
    sa.add_argument("value", help="hostname or agent id, site name, or rule id glob")
    sa.add_argument("--for", dest="duration", required=True, help="how long: 2h, 3d")
    sa.add_argument("--reason", required=True)
    sa.add_argument("--by", **who)
    sl = ssub.add_parser("list", help="active silences (--all: expired too)")
    sl.add_argument("--all", action="store_true")
    sl.add_argument("--json", action="store_true")
    sr = ssub.add_parser("remove", help="end a silence now")
    sr.add_argument("id", type=int)


def _who(args: argparse.Namespace) -> str:
    if args.by:
        return str(args.by)
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _selected(args: argparse.Namespace, store: SqlStore) -> list[Ticket]:
    return store.list_tickets(
        state=TicketState(args.state) if args.state else None,
        agent_id=args.host,
        priority=args.priority,
        tier=args.tier,
        kind=args.kind,
        limit=args.limit,
    )


def line(t: Ticket) -> str:
    return (f"{t.id:>5} {t.priority:3} {t.tier:4} {t.state.value:8} {t.occurrences:>5}  "
            f"{t.hostname[:20]:20} {t.summary}")  # fmt: skip


HEADER = f"{'ID':>5} {'PRI':3} {'TIER':4} {'STATE':8} {'SEEN':>5}  {'HOST':20} SUMMARY"


def run_tickets(args: argparse.Namespace, store: SqlStore) -> int:
    """Exit status 0, or 1 with a one-line message on stderr for a refused action."""
    try:
        return _run_tickets(args, store)
    except TicketError as exc:
        print(f"rdiag-collector: {exc}", file=sys.stderr)
        return 1


def _run_tickets(args: argparse.Namespace, store: SqlStore) -> int:
    action = args.action
    if action == "list":
        rows = _selected(args, store)
        if args.json:
            json.dump([report_of(store, t).data() for t in rows], sys.stdout, indent=2)
            print()
            return 0
        print(HEADER)
        for t in rows:
            print(line(t))
        print(f"({len(rows)} tickets)")
        return 0
    if action == "show":
        if args.id is not None:
            found = store.get_ticket(args.id)
            if found is None:
                raise TicketError(f"no ticket #{args.id}")
            chosen = [found]
        else:
            chosen = _selected(args, store)
        fmt = "json" if args.json else args.format
        for t in chosen:
            report = report_of(store, t)
            if fmt == "json":
                print(json.dumps({**report.data(), "notes": [
                    {"time": stamp(n.time_ms), "kind": n.kind, "body": n.body}
                    for n in report.notes]}, indent=2, default=str))  # fmt: skip
            elif fmt == "html":
                print(report.html())
            else:
                print(report.markdown())
        return 0
    if action == "export":
        return _export(args, store)
    who = _who(args) if hasattr(args, "by") else "cli"
    if action == "ack":
        t = store.acknowledge(args.id, who)
    elif action == "assign":
        t = store.assign(args.id, args.assignee, who)
    elif action == "comment":
        t = store.comment(args.id, args.text, who)
    elif action == "resolve":
        t = store.resolve_ticket(args.id, who, Resolution(args.resolution), args.note)
    elif action == "reopen":
        t = store.reopen_ticket(args.id, who)
    elif action == "release":
        n = store.release_storm(args.id, who)
        print(f"released {n} held ticket(s) of storm #{args.id}")
        return 0
    elif action == "deliveries":
        return _deliveries(args, store)
    elif action == "push":
        n = store.backfill(args.sink)
        print(f"{n} open tickets queued for {args.sink}")
        return 0
    elif action == "redeliver":
        n = store.redeliver(sink=args.sink, ticket_id=args.ticket)
        print(f"{n} failed deliveries queued again")
        return 0
    else:
        raise TicketError(f"unknown action {action}")
    print(HEADER)
    print(line(t))
    return 0


def _deliveries(args: argparse.Namespace, store: SqlStore) -> int:
    rows = store.deliveries(ticket_id=args.ticket, sink=args.sink, limit=args.limit)
    if args.json:
        json.dump([{"op": d.op_id, "ticket": d.ticket_id, "operation": d.op, "sink": d.sink,
                    "state": d.state, "attempts": d.attempts,
                    "next_attempt": stamp(d.next_attempt_ms) if d.next_attempt_ms else None,
                    "last_error": d.last_error} for d in rows], sys.stdout, indent=2)  # fmt: skip
        print()
        return 0
    summary = store.delivery_summary()
    for sink, states in sorted(summary.items()):
        print(f"{sink}: " + ", ".join(f"{n} {s}" for s, n in sorted(states.items())))
    if not summary:
        print("no helpdesk sinks configured: tickets stay in the collector's own store")
    print(f"{'OP':>6} {'TICKET':>6} {'OPERATION':9} {'SINK':12} {'STATE':9} {'TRIES':>5}  ERROR")
    for d in rows:
        print(f"{d.op_id:>6} {d.ticket_id:>6} {d.op:9} {d.sink:12} {d.state:9} "
              f"{d.attempts:>5}  {d.last_error[:80]}")  # fmt: skip
    return 0


def _export(args: argparse.Namespace, store: SqlStore) -> int:
    rows = _selected(args, store)
    out = args.output.open("w", encoding="utf-8", newline="") if args.output else sys.stdout
    try:
        if args.format == "jsonl":
            for t in rows:
                out.write(json.dumps(report_of(store, t).data(), default=str) + "\n")
        elif args.format == "csv":
            w = csv.writer(out)
            w.writerow(CSV_COLUMNS)
            for t in rows:
                w.writerow(_csv_row(t))
        elif args.format == "markdown":
            out.write("\n\n---\n\n".join(report_of(store, t).markdown() for t in rows) + "\n")
        else:
            body = "\n".join(report_of(store, t).html() for t in rows)
            out.write(HTML_PAGE.format(body=body))
    finally:
        if args.output:
            out.close()
    if args.output:
        print(f"{len(rows)} tickets written to {args.output}", file=sys.stderr)
    return 0


HTML_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>rdiag tickets</title>'
    "</head><body>{body}</body></html>\n"
)
CSV_COLUMNS = ("id", "kind", "state", "resolution", "priority", "impact", "urgency", "tier",
               "category", "hostname", "agent_id", "component", "rule_id", "summary",
               "occurrences", "first_seen", "last_seen", "respond_by", "resolve_by",
               "dedup_key")  # fmt: skip


def _csv_row(t: Ticket) -> Sequence[object]:
    return (t.id, t.kind, t.state.value, t.resolution, t.priority, t.impact, t.urgency, t.tier,
            t.category, t.hostname, t.agent_id, t.component, t.rule_id, t.summary,
            t.occurrences, stamp(t.first_seen_ms), stamp(t.last_seen_ms),
            stamp(t.sla_respond_ms), stamp(t.sla_resolve_ms), t.dedup_key)  # fmt: skip


def run_silences(args: argparse.Namespace, store: SqlStore) -> int:
    try:
        if args.action == "add":
            seconds = _parse_quantity(args.duration, _DURATION_UNITS)
            if not seconds:
                raise TicketError(
                    f"--for: expected a duration such as 2h or 3d, got {args.duration!r}"
                )
            s = store.add_silence(
                args.scope, args.value, reason=args.reason, who=_who(args),
                expires_ms=int(time.time() * 1000 + seconds * 1000),
            )  # fmt: skip
            print(f"silence #{s.id}: {s.scope} {s.value} until {stamp(s.expires_ms)}")
            return 0
        if args.action == "remove":
            if not store.remove_silence(args.id):
                raise TicketError(f"no silence #{args.id}")
            print(f"silence #{args.id} removed")
            return 0
        rows = store.list_silences(include_expired=args.all)
        if args.json:
            json.dump([{"id": s.id, "scope": s.scope, "value": s.value, "reason": s.reason,
                        "by": s.created_by, "until": stamp(s.expires_ms), "hits": s.hits}
                       for s in rows], sys.stdout, indent=2)  # fmt: skip
            print()
            return 0
        for s in rows:
            print(f"#{s.id:<4} {s.scope:5} {s.value:24} until {stamp(s.expires_ms)}  "
                  f"{s.hits} held  {s.reason} ({s.created_by})")  # fmt: skip
        print(f"({len(rows)} silences)")
        return 0
    except TicketError as exc:
        print(f"rdiag-collector: {exc}", file=sys.stderr)
        return 1
