"""VERIFY: what the collector opened against a scenario's `expect:`, as a report.

    observed = observe(store)                    # the only part that reads the store
    report = verify(scenario, observed)          # pure
    print(report.table()); Path("j.xml").write_text(report.junit_xml())
    status = verify_command(scenario, "sqlite:///c.db", junit=Path("j.xml"))  # all of it

One row per expectation, and with `only: true` one per unexpected ticket:

* host and problem tickets: one ticket per selected host (agent id "sim-" + hostname) with
  the rule, kind and component (when given); then priority, tier and state are checked on
  the best of that host's tickets (a recurrence leaves several; one that passes wins).
* fleet and storm tickets: at least one ticket of the rule, kind and component (a fleet
  ticket's component is the incident's group) whose members include the selected hosts.
  A storm ticket's rule is rdiag.storm.
* incidents: one of the rule (and group) whose hosts include the selected hosts.
* state: `open` is open only (a storm's `held` is its own state, and a ticket folded into a
  fleet ticket is `merged`: neither reached the helpdesk as itself); `resolved` is resolved
  or closed; `any` is every state.

A ticket is covered when an expectation matched it (by rule, kind, host and component,
whether or not its priority was right: a wrong one fails that row, not "nothing else"), or
when it was folded into a covered ticket: merged into it (merged_into), merged into the
fleet ticket of its incident (incident_id), or held by its storm (storm_id). Every other
ticket, in any state, is unexpected; with `only: false` they are listed, not failed.
"""

from __future__ import annotations

import json
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from collector.sim.scenario import (
    ExpectedIncident,
    ExpectedTicket,
    Scenario,
    SimHostSpec,
)

if TYPE_CHECKING:
    from collector.store import Incident, SqlStore, Ticket

PER_HOST_KINDS = ("host", "problem")  # one ticket per host; fleet and storm span hosts
READ_LIMIT = 10_000_000  # list_tickets pages by limit only: read everything a run can make
SHOWN = 8  # hosts or tickets named in one message before "+N more"
STATES = {"open": ("open",), "held": ("held",), "resolved": ("resolved", "closed")}


@dataclass(frozen=True, slots=True)
class SeenTicket:
    """What verify needs of a stored ticket."""

    id: int
    rule_id: str
    kind: str  # host | fleet | storm | problem
    agent_id: str  # "" for fleet and storm tickets
    hostname: str
    component: str
    priority: str
    tier: str
    state: str  # open | held | merged | resolved | closed
    hosts: tuple[str, ...] = ()  # fleet: its members' agent ids
    merged_into: int | None = None
    incident_id: int | None = None
    storm_id: int | None = None


@dataclass(frozen=True, slots=True)
class SeenIncident:
    id: int
    rule_id: str
    group: str
    state: str
    hosts: tuple[str, ...]  # agent ids


@dataclass(frozen=True, slots=True)
class Observed:
    tickets: tuple[SeenTicket, ...] = ()
    incidents: tuple[SeenIncident, ...] = ()


def seen_ticket(t: Ticket, members: Iterable[str] = ()) -> SeenTicket:
    hosts = list(members)
    raw = t.evidence.get("hosts") if t.kind == "fleet" else None
    if isinstance(raw, list):
        hosts += [h["agent_id"] for h in raw if isinstance(h, Mapping) and "agent_id" in h]
    return SeenTicket(
        id=t.id, rule_id=t.rule_id, kind=t.kind, agent_id=t.agent_id, hostname=t.hostname,
        component=t.component, priority=t.priority, tier=t.tier, state=str(t.state.value),
        hosts=tuple(sorted(set(hosts))), merged_into=t.merged_into, incident_id=t.incident_id,
        storm_id=t.storm_id,
    )  # fmt: skip


def seen_incident(i: Incident) -> SeenIncident:
    return SeenIncident(i.id, i.rule_id, i.group, i.state, tuple(a for a, _, _ in i.hosts))


def observe(store: SqlStore) -> Observed:
    """Every ticket and incident in the store (a fleet ticket's members: its evidence's
    hosts and its incident's, which keeps hosts that left the last update)."""
    incidents = tuple(seen_incident(i) for i in store.list_incidents(limit=READ_LIMIT))
    members = {i.id: i.hosts for i in incidents}
    tickets = tuple(
        seen_ticket(t, members.get(t.incident_id or 0, ()) if t.kind == "fleet" else ())
        for t in store.list_tickets(limit=READ_LIMIT)
    )
    return Observed(tuple(sorted(tickets, key=lambda t: t.id)), incidents)


def verify_command(
    scenario: Scenario, store_url: str, *, junit: Path | None = None, as_json: bool = False,
    prog: str = "rdiag-collector",
) -> int:  # fmt: skip
    """Read the store, print the table (or JSON), write JUnit XML: `rdiag-collector verify`
    and `rdiag-agent simulate --verify-store`. 0 passed, 1 failed, 2 no store (on stderr)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from collector.store import StoreError, open_store

    def fail(message: str) -> int:
        print(f"{prog}: {message}", file=sys.stderr)
        return 2

    # open_store creates a missing SQLite file: a typo in its path would verify an empty
    # store and report every ticket missing, instead of saying there is no store.
    try:
        url = make_url(store_url)
    except ArgumentError:
        url = None  # open_store says what is wrong with it
    if url is not None and url.get_backend_name() == "sqlite":
        db = url.database or ""
        if db not in ("", ":memory:") and not db.startswith("file:") and not Path(db).is_file():
            return fail(f"store error: {db}: no such SQLite database")
    try:
        with open_store(store_url) as store:
            report = verify(scenario, observe(store))
    except StoreError as exc:
        return fail(f"store error: {exc}")
    if junit is not None:
        try:
            junit.write_text(report.junit_xml(), encoding="utf-8")
        except OSError as exc:
            return fail(f"{junit}: cannot write: {exc.strerror or exc}")
    sys.stdout.write(report.json() + "\n" if as_json else report.table())
    sys.stdout.flush()
    return 0 if report.passed else 1


# --- the report ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    code: str  # missing | missing hosts | wrong priority | wrong tier | wrong state | unexpected
    detail: str


@dataclass(frozen=True, slots=True)
class Row:
    check: str  # "ticket" | "incident" | "unexpected"
    name: str  # unique within the report: the JUnit test case's name
    expected: ExpectedTicket | ExpectedIncident | None
    tickets: tuple[SeenTicket, ...] = ()  # the tickets it matched (unexpected: the ticket first)
    incidents: tuple[SeenIncident, ...] = ()
    problems: tuple[Problem, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def verdict(self) -> str:
        """pass, or the problems' codes: "missing hosts, wrong priority"."""
        return ", ".join(dict.fromkeys(p.code for p in self.problems)) or "pass"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    scenario: str
    path: str
    only: bool
    rows: tuple[Row, ...]  # expectations in file order, then unexpected tickets (only: true)
    uncovered: tuple[SeenTicket, ...]  # tickets no expectation accounts for, in any case
    names: Mapping[str, str]  # agent id -> hostname, for display

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rows)

    @property
    def expectation_rows(self) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if r.check != "unexpected")

    @property
    def unexpected_rows(self) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if r.check == "unexpected")

    def table(self) -> str:
        return _table(self)

    def junit_xml(self) -> str:
        return _junit(self)

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "path": self.path,
            "only": self.only,
            "passed": self.passed,
            "rows": [
                {
                    "check": r.check,
                    "name": r.name,
                    "line": getattr(r.expected, "line", 0),
                    "expected": None if r.expected is None else _expected_json(r.expected),
                    "tickets": [_ticket_json(t, self.names) for t in r.tickets],
                    "incidents": [_incident_json(i, self.names) for i in r.incidents],
                    "verdict": r.verdict,
                    "problems": [{"code": p.code, "detail": p.detail} for p in r.problems],
                }
                for r in self.rows
            ],
            "uncovered": [_ticket_json(t, self.names) for t in self.uncovered],
        }

    def json(self) -> str:
        return json.dumps(self.to_json(), indent=2)


# --- matching --------------------------------------------------------------------------


def verify(scenario: Scenario, observed: Observed) -> VerifyReport:
    hosts = scenario.hosts()
    names = {h.agent_id: h.hostname for h in hosts}
    rows: list[Row] = []
    matched: set[int] = set()
    for e in scenario.expect.tickets:
        row, ids = _ticket_row(e, hosts, observed.tickets, names)
        rows.append(row)
        matched |= ids
    for inc in scenario.expect.incidents:
        rows.append(_incident_row(inc, hosts, observed.incidents, names))
    uncovered = _uncovered(observed.tickets, matched)
    if scenario.expect.only:
        rows += _unexpected_rows(uncovered, observed.tickets, names)
    # A name shared by two rows (the same expectation written twice) gets its line.
    seen: dict[str, int] = {}
    for r in rows:
        seen[r.name] = seen.get(r.name, 0) + 1
    rows = [
        r
        if seen[r.name] == 1 or r.expected is None
        else Row(
            r.check,
            f"{r.name} (line {r.expected.line})",
            r.expected,
            r.tickets,
            r.incidents,
            r.problems,
        )  # fmt: skip
        for r in rows
    ]
    return VerifyReport(
        scenario=scenario.name,
        path=str(scenario.path),
        only=scenario.expect.only,
        rows=tuple(rows),
        uncovered=uncovered,
        names=names,
    )


def _ticket_row(
    e: ExpectedTicket, hosts: tuple[SimHostSpec, ...], tickets: Sequence[SeenTicket],
    names: Mapping[str, str],
) -> tuple[Row, set[int]]:  # fmt: skip
    selected = e.hosts.pick(hosts) if e.hosts is not None else ()
    wanted = {h.agent_id for h in selected}

    def same(t: SeenTicket) -> bool:
        return (
            t.rule_id == e.rule
            and t.kind == e.kind
            and (e.component is None or t.component == e.component)
            and (e.kind not in PER_HOST_KINDS or e.hosts is None or t.agent_id in wanted)
        )

    found = tuple(t for t in tickets if same(t))
    ids = {t.id for t in found}
    name = _ticket_name(e)
    if not found:
        return Row("ticket", name, e, (), (), (Problem("missing", _missing(e)),)), ids
    problems: list[Problem] = []
    if e.kind in PER_HOST_KINDS and e.hosts is not None:
        by_host: dict[str, list[SeenTicket]] = {}
        for t in found:
            by_host.setdefault(t.agent_id, []).append(t)
        absent = [h.hostname for h in selected if h.agent_id not in by_host]
        if absent:
            problems.append(Problem("missing hosts", f"no ticket on {_names(absent)} "
                                    f"({len(absent)} of {len(selected)})"))  # fmt: skip
        best = [_best(e, by_host[h.agent_id], set()) for h in selected if h.agent_id in by_host]
    else:
        one = _best(e, found, wanted)
        best = [one]
        absent = [names.get(a, a) for a in sorted(wanted - set(one.hosts))]
        if absent:
            problems.append(Problem("missing hosts", f"#{one.id} lacks {_names(absent)} "
                                    f"({len(absent)} of {len(wanted)})"))  # fmt: skip
    for code, field, want in (
        ("wrong priority", "priority", e.priority),
        ("wrong tier", "tier", e.tier),
        ("wrong state", "state", e.state),
    ):
        bad = [t for t in best if not _fits(field, getattr(t, field), want)]
        if bad:
            shown = _names([f"#{t.id} {_where(t, names)} {getattr(t, field)}" for t in bad])
            problems.append(Problem(code, f"{shown} (expected {want})"))
    return Row("ticket", name, e, found, (), tuple(problems)), ids


def _fits(field: str, value: str, want: str | None) -> bool:
    if want is None or (field == "state" and want == "any"):
        return True
    if field == "state":
        return value in STATES.get(want, (want,))
    return value == want


def _best(e: ExpectedTicket, found: Sequence[SeenTicket], wanted: set[str]) -> SeenTicket:
    """The ticket closest to the expectation: fewest misses, then the newest."""

    def misses(t: SeenTicket) -> int:
        return (
            len(wanted - set(t.hosts))
            + (not _fits("priority", t.priority, e.priority))
            + (not _fits("tier", t.tier, e.tier))
            + (not _fits("state", t.state, e.state))
        )

    return min(found, key=lambda t: (misses(t), -t.id))


def _incident_row(
    e: ExpectedIncident, hosts: tuple[SimHostSpec, ...], incidents: Sequence[SeenIncident],
    names: Mapping[str, str],
) -> Row:  # fmt: skip
    found = tuple(
        i for i in incidents if i.rule_id == e.rule and (e.group is None or i.group == e.group)
    )
    name = _incident_name(e)
    if not found:
        group = f" sharing {e.group}" if e.group is not None else ""
        return Row("incident", name, e, (), (), (Problem("missing", f"no incident of "
                                                          f"{e.rule}{group}"),))  # fmt: skip
    selected = e.hosts.pick(hosts) if e.hosts is not None else ()
    wanted = [h.agent_id for h in selected]
    best = min(found, key=lambda i: (len(set(wanted) - set(i.hosts)), -i.id))
    absent = [names.get(a, a) for a in wanted if a not in best.hosts]
    problems = (
        (
            Problem(
                "missing hosts",
                f"incident {best.id} ({best.group}) lacks {_names(absent)} "
                f"({len(absent)} of {len(wanted)})",
            ),
        )  # fmt: skip
        if absent
        else ()
    )
    return Row("incident", name, e, (), found, problems)


def _holder(t: SeenTicket, fleet_of: Mapping[int, int]) -> int | None:
    """The ticket this one was folded into, if any."""
    if t.merged_into is not None:
        return t.merged_into
    if t.state == "merged" and t.incident_id is not None:
        return fleet_of.get(t.incident_id)
    return t.storm_id


def _fleet_tickets(tickets: Sequence[SeenTicket]) -> dict[int, int]:
    """incident id -> its fleet ticket (the newest, when a recurrence opened another)."""
    out: dict[int, int] = {}
    for t in sorted(tickets, key=lambda t: t.id):
        if t.kind == "fleet" and t.incident_id is not None:
            out[t.incident_id] = t.id
    return out


def _chain(
    t: SeenTicket, by_id: Mapping[int, SeenTicket], fleet_of: Mapping[int, int]
) -> list[int]:
    """t's id and its holders' up to the last (a guard stops at a cycle a bug could make)."""
    out = [t.id]
    while (up := _holder(t, fleet_of)) is not None and up not in out:
        out.append(up)
        if up not in by_id:
            break
        t = by_id[up]
    return out


def _uncovered(tickets: Sequence[SeenTicket], matched: set[int]) -> tuple[SeenTicket, ...]:
    by_id = {t.id: t for t in tickets}
    fleet_of = _fleet_tickets(tickets)
    return tuple(t for t in tickets if not any(i in matched for i in _chain(t, by_id, fleet_of)))


def _unexpected_rows(
    uncovered: Sequence[SeenTicket], tickets: Sequence[SeenTicket], names: Mapping[str, str]
) -> list[Row]:
    """One row per unexpected ticket, its own folded tickets (merged, held) counted in it:
    a storm holding 500 is one problem, not 501."""
    by_id = {t.id: t for t in tickets}
    fleet_of = _fleet_tickets(tickets)
    ids = {u.id for u in uncovered}
    groups: dict[int, list[SeenTicket]] = {}
    for t in uncovered:
        # The last holder that is itself unexpected (every holder of an uncovered one is).
        top = next(i for i in reversed(_chain(t, by_id, fleet_of)) if i in ids)
        groups.setdefault(top, []).append(t)
    rows = []
    for top, members in groups.items():
        head = by_id[top]
        rest = [m for m in members if m.id != top]
        folded = f" (+{len(rest)} folded into it)" if rest else ""
        text = _describe(head, names)
        rows.append(Row("unexpected", f"unexpected {text}", None, (head, *rest), (),
                        (Problem("unexpected", text + folded),)))  # fmt: skip
    return rows


# --- text ------------------------------------------------------------------------------


def _ticket_name(e: ExpectedTicket) -> str:
    parts = [f"{e.kind} ticket {e.rule}"]
    if e.hosts is not None:
        parts.append(f"on {e.hosts.text}")
    if e.component is not None:
        parts.append(f"component {e.component}")
    return " ".join(parts)


def _incident_name(e: ExpectedIncident) -> str:
    parts = [f"incident {e.rule}"]
    if e.group is not None:
        parts.append(f"sharing {e.group}")
    if e.hosts is not None:
        parts.append(f"with {e.hosts.text}")
    return " ".join(parts)


def _missing(e: ExpectedTicket) -> str:
    where = f" on {e.hosts.text}" if e.hosts is not None else ""
    comp = f" for {e.component}" if e.component is not None else ""
    return f"no {e.kind} ticket of {e.rule}{comp}{where}"


def _expected_text(e: ExpectedTicket | ExpectedIncident | None) -> str:
    if isinstance(e, ExpectedTicket):
        pairs = (("priority", e.priority), ("tier", e.tier), ("state", e.state))
        want = [f"{k}={v}" for k, v in pairs if v is not None and v != "any"]
        return " ".join([_ticket_name(e), *want])
    if isinstance(e, ExpectedIncident):
        return _incident_name(e)
    return "nothing else opened"


def _where(t: SeenTicket, names: Mapping[str, str]) -> str:
    if t.agent_id:
        return names.get(t.agent_id, t.hostname or t.agent_id)
    return t.component or t.hostname or t.kind


def _describe(t: SeenTicket, names: Mapping[str, str]) -> str:
    members = f", {len(t.hosts)} hosts" if t.hosts else ""
    return (f"#{t.id} {t.kind} {t.rule_id} {_where(t, names)} {t.priority}/{t.tier} "
            f"{t.state}{members}")  # fmt: skip


def _actual_text(r: Row, names: Mapping[str, str]) -> str:
    if r.check == "incident":
        if not r.incidents:
            return "-"
        i = r.incidents[0]
        more = f" (+{len(r.incidents) - 1} more)" if len(r.incidents) > 1 else ""
        return f"incident {i.id} {i.group} {i.state}, {len(i.hosts)} hosts{more}"
    if r.check == "unexpected":
        t = r.tickets[0]
        return f"#{t.id} {_where(t, names)} {t.priority}/{t.tier} {t.state}"
    if not r.tickets:
        return "-"
    if len(r.tickets) == 1:
        t = r.tickets[0]
        members = f", {len(t.hosts)} hosts" if t.hosts else ""
        return f"#{t.id} {_where(t, names)} {t.priority}/{t.tier} {t.state}{members}"

    def values(field: str) -> str:
        return "|".join(sorted({getattr(t, field) for t in r.tickets}))

    hosts = len({t.agent_id for t in r.tickets if t.agent_id})
    on = f" on {hosts} hosts" if hosts else ""
    return f"{len(r.tickets)} tickets{on} {values('priority')}/{values('tier')} {values('state')}"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _names(items: Sequence[str]) -> str:
    more = f" +{len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return ", ".join(items[:SHOWN]) + more


def _table(rep: VerifyReport) -> str:
    lines = [f"scenario {rep.scenario} ({rep.path})"]
    body: list[tuple[str, str, str, str]] = []
    for n, r in enumerate(rep.rows, 1):
        if r.check == "unexpected":
            expected = "nothing else opened (only: true)"
        else:
            expected = _expected_text(r.expected)
        body.append((str(n), expected, _actual_text(r, rep.names), "PASS" if r.passed else "FAIL"))
    if rep.only and not rep.unexpected_rows:
        body.append((str(len(body) + 1), "nothing else opened (only: true)", "-", "PASS"))
    head = ("#", "EXPECTED", "ACTUAL", "RESULT")
    w_exp = min(64, max(len(head[1]), *(len(b[1]) for b in body))) if body else len(head[1])
    w_act = min(48, max(len(head[2]), *(len(b[2]) for b in body))) if body else len(head[2])
    w_n = max(1, *(len(b[0]) for b in body)) if body else 1
    for row in (head, *body):
        num, e, a, v = row
        lines.append(f"{num:>{w_n}}  {_clip(e, w_exp):{w_exp}}  {_clip(a, w_act):{w_act}}  {v}")
    for n, r in enumerate(rep.rows, 1):
        for p in r.problems:
            lines.append(f"{n:>{w_n}}: {p.code}: {p.detail}")
    if not rep.only and rep.uncovered:
        lines.append(f"also opened (only: false, not checked): {len(rep.uncovered)} tickets")
        for t in rep.uncovered[:SHOWN]:
            lines.append(f"  {_describe(t, rep.names)}")
        if len(rep.uncovered) > SHOWN:
            lines.append(f"  +{len(rep.uncovered) - SHOWN} more")
    checks = len(rep.expectation_rows) + (1 if rep.only else 0)
    bad = sum(not r.passed for r in rep.expectation_rows) + (1 if rep.unexpected_rows else 0)
    unexpected = f", {len(rep.unexpected_rows)} unexpected" if rep.unexpected_rows else ""
    lines.append(f"{rep.scenario}: {checks} checks, {checks - bad} passed, {bad} failed"
                 f"{unexpected}: {'PASS' if rep.passed else 'FAIL'}")  # fmt: skip
    return "\n".join(lines) + "\n"


# --- JUnit XML -------------------------------------------------------------------------

# XML 1.0 cannot carry these, escaped or not; a ticket's text could hold one.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _x(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _junit(rep: VerifyReport) -> str:
    """The JUnit XML CI servers read (Jenkins, GitLab, GitHub reporters): one test case per
    expectation and one for "nothing else opened" (skipped with `only: false`)."""
    cases: list[ET.Element] = []
    suite_name = _x(rep.scenario)
    for r in rep.expectation_rows:
        case = ET.Element("testcase", classname=f"{suite_name}.{r.check}s", name=_x(r.name),
                          time="0")  # fmt: skip
        if not r.passed:
            failure = ET.SubElement(case, "failure", message=_x(_message(r)), type=_x(r.verdict))
            failure.text = _x(_failure_text(r, rep))
        cases.append(case)
    case = ET.Element("testcase", classname=suite_name, name="nothing else opened", time="0")
    if not rep.only:
        ET.SubElement(case, "skipped", message=f"only: false ({len(rep.uncovered)} other tickets)")
    elif rep.unexpected_rows:
        rows = rep.unexpected_rows
        failure = ET.SubElement(
            case, "failure", message=_x(f"{len(rows)} unexpected: " + _names(
                [r.problems[0].detail for r in rows])), type="unexpected",
        )  # fmt: skip
        failure.text = _x("\n".join(r.problems[0].detail for r in rows))
    cases.append(case)
    failures = sum(1 for c in cases if c.find("failure") is not None)
    skipped = sum(1 for c in cases if c.find("skipped") is not None)
    counts = {"tests": str(len(cases)), "failures": str(failures), "errors": "0",
              "skipped": str(skipped), "time": "0"}  # fmt: skip
    root = ET.Element("testsuites", {"name": "rdiag-collector verify", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": suite_name, **counts})
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="scenario_file", value=_x(rep.path))
    suite.extend(cases)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _message(r: Row) -> str:
    return "; ".join(f"{p.code}: {p.detail}" for p in r.problems)


def _failure_text(r: Row, rep: VerifyReport) -> str:
    lines = [f"{rep.path}:{getattr(r.expected, 'line', 0)}: expected {_expected_text(r.expected)}"]
    lines += [f"{p.code}: {p.detail}" for p in r.problems]
    if r.tickets:
        lines.append("matching tickets:")
        lines += [f"  {_describe(t, rep.names)}" for t in r.tickets]
    for i in r.incidents:
        lines.append(f"incident {i.id} {i.rule_id} {i.group} {i.state}: "
                     f"{_names([rep.names.get(a, a) for a in i.hosts])}")  # fmt: skip
    return "\n".join(lines)


# --- JSON ------------------------------------------------------------------------------


def _expected_json(e: ExpectedTicket | ExpectedIncident) -> dict[str, Any]:
    hosts = None if e.hosts is None else e.hosts.text
    if isinstance(e, ExpectedIncident):
        return {"rule": e.rule, "group": e.group, "hosts": hosts, "line": e.line}
    return {"rule": e.rule, "kind": e.kind, "hosts": hosts, "component": e.component,
            "priority": e.priority, "tier": e.tier, "state": e.state, "line": e.line}  # fmt: skip


def _ticket_json(t: SeenTicket, names: Mapping[str, str]) -> dict[str, Any]:
    return {"id": t.id, "rule": t.rule_id, "kind": t.kind, "agent_id": t.agent_id,
            "host": names.get(t.agent_id, t.hostname), "component": t.component,
            "priority": t.priority, "tier": t.tier, "state": t.state, "hosts": list(t.hosts),
            "merged_into": t.merged_into, "incident_id": t.incident_id,
            "storm_id": t.storm_id}  # fmt: skip


def _incident_json(i: SeenIncident, names: Mapping[str, str]) -> dict[str, Any]:
    return {"id": i.id, "rule": i.rule_id, "group": i.group, "state": i.state,
            "hosts": [names.get(a, a) for a in i.hosts]}  # fmt: skip
