"""The REST API of a real collector: every endpoint at every role, bad input, pages,
filters, the OpenAPI document and the headers every answer carries.

Runs on the shared `live_console` (the mixed fleet: 40 hosts, ten tickets, no incident).
The tickets acted on are chosen by rule, and each case leaves its ticket in the state it
found it where the lifecycle allows (an acknowledgement cannot be taken back):
- network.gateway_unreachable (resolved at rest): acknowledged by L1; resolved and
  reopened by L2; the CSRF, assignment and API-token cases (notes and assignee only).
- network.link_flapping (resolved at rest): acknowledged by L2; resolved and reopened
  by admin.
- drivers.device_failed (open): acknowledged by admin; it stays open, acknowledged.
Refused calls go to any open, unacknowledged ticket and must leave it exactly as it was;
every other open ticket is only read (the browser test acknowledges one of them).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from collector.store import Resolution, SqlStore, Ticket, TicketState
from collector.web import api
from collector.web.auth import digest, new_api_token
from tests.collector.web.conftest import USERS, LiveConsole

FLEET_HOSTS = 40  # tests/scenarios/mixed-fleet.yaml
FLEET_TICKETS = 10
ROLES = ("viewer", "L1", "L2", "admin")
RANK = {role: i for i, role in enumerate(ROLES)}
NOBODY = ("anonymous", "bad token", "revoked token")
DAY_MS = 86_400_000


# -- who calls -------------------------------------------------------------------------


@dataclass
class Caller:
    """A client as one kind of caller: a role's session (with its CSRF token), a bearer
    token, or nobody."""

    client: httpx.Client
    csrf: str = ""

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             *, csrf: str | None = None) -> httpx.Response:  # fmt: skip
        token = self.csrf if csrf is None else csrf
        headers = {"X-CSRF-Token": token} if token else {}
        return self.client.request(method, path, json=body, headers=headers)

    def get(self, path: str) -> httpx.Response:
        return self.client.get(path)


@pytest.fixture(scope="module")
def store(live_console: LiveConsole) -> Iterator[SqlStore]:
    opened = live_console.store()
    yield opened
    opened.close()


def cli_token(live: LiveConsole, name: str, role: str) -> str:
    done = live.cli("tokens", "add", name, "--role", role)
    assert done.returncode == 0, done.stderr
    secret = done.stdout.strip()
    assert re.fullmatch(r"rdg_[A-Za-z0-9_-]{40,}", secret), done.stdout
    return secret


@pytest.fixture(scope="module")
def callers(live_console: LiveConsole) -> Iterator[dict[str, Caller]]:
    revoked = cli_token(live_console, "matrix-revoked", "admin")
    done = live_console.cli("tokens", "remove", "matrix-revoked")
    assert done.returncode == 0, done.stderr
    opened: dict[str, Caller] = {}
    try:
        for role in ROLES:
            client, csrf = live_console.login(role)
            opened[role] = Caller(client, csrf)
        opened["anonymous"] = Caller(httpx.Client(base_url=live_console.url, timeout=30))
        for name, secret in (("bad token", "rdg_" + "x" * 43), ("revoked token", revoked)):
            opened[name] = Caller(httpx.Client(
                base_url=live_console.url, timeout=30,
                headers={"Authorization": f"Bearer {secret}"}))  # fmt: skip
        yield opened
    finally:
        for caller in opened.values():
            caller.client.close()


def by_rule(store: SqlStore, rule: str) -> Ticket:
    rows, _ = store.page_tickets(rule_id=rule, kind="host", limit=10)
    assert len(rows) == 1, [(t.id, t.hostname) for t in rows]
    return rows[0]


def fresh(store: SqlStore, ticket_id: int) -> Ticket:
    t = store.get_ticket(ticket_id)
    assert t is not None
    return t


def untouched_open(store: SqlStore) -> Ticket:
    """An open ticket nobody acknowledged: what a refused action would have changed."""
    rows, _ = store.page_tickets(state=TicketState.OPEN, kind="host", limit=100)
    waiting = [t for t in rows if not t.acknowledged_ms]
    assert waiting, "no open, unacknowledged ticket left on the shared fleet"
    return waiting[-1]


def fingerprint(store: SqlStore, ticket_id: int) -> tuple[Any, ...]:
    t = fresh(store, ticket_id)
    notes = store.ticket_notes(ticket_id)
    return (t.state, t.acknowledged_ms, t.assignee, t.resolution, t.reopen_count, len(notes))


def reopened(store: SqlStore, ticket_id: int) -> bool:
    """Open the ticket for a case that needs it open; True when it was resolved before."""
    if fresh(store, ticket_id).state is TicketState.RESOLVED:
        store.reopen_ticket(ticket_id, "test setup")
        return True
    return False


def rest_resolved(store: SqlStore, ticket_id: int) -> None:
    if fresh(store, ticket_id).state is TicketState.OPEN:
        store.resolve_ticket(ticket_id, "test teardown", Resolution.FIXED, "")


GATEWAY = "network.gateway_unreachable"
FLAPPING = "network.link_flapping"
DEVICE = "drivers.device_failed"


# -- the permission matrix --------------------------------------------------------------


@dataclass
class Plan:
    """One call of an endpoint prepared for one caller: what to send, what success looks
    like, what a refusal must leave unchanged, and what to put back afterwards."""

    path: str
    body: dict[str, Any] | None = None
    ok: int = 200
    verify: Callable[[httpx.Response], None] = lambda r: None
    state: Callable[[], object] = lambda: None
    cleanup: list[Callable[[], object]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    method: str
    path: str  # the router's own path, so the table can be checked against the router
    needs: str
    plan: Callable[[SqlStore, str, bool], Plan]


def _tickets_read(store: SqlStore, role: str, allowed: bool) -> Plan:
    def verify(r: httpx.Response) -> None:
        assert r.json()["total"] == FLEET_TICKETS

    return Plan("/api/v1/tickets?limit=500", verify=verify)


def _ticket_read(store: SqlStore, role: str, allowed: bool) -> Plan:
    t = by_rule(store, GATEWAY)

    def verify(r: httpx.Response) -> None:
        data = r.json()
        assert data["id"] == t.id and data["rule_id"] == GATEWAY
        assert data["report"]["evidence"]["values"]["gateway"] == "10.70.1.1"
        assert data["notes"] and all({"time", "kind", "body"} <= n.keys() for n in data["notes"])

    return Plan(f"/api/v1/tickets/{t.id}", verify=verify)


def _hosts(store: SqlStore, role: str, allowed: bool) -> Plan:
    def verify(r: httpx.Response) -> None:
        assert r.json()["total"] == FLEET_HOSTS

    return Plan("/api/v1/hosts", verify=verify)


def _host(store: SqlStore, role: str, allowed: bool) -> Plan:
    def verify(r: httpx.Response) -> None:
        data = r.json()
        assert (data["agent_id"], data["hostname"]) == ("sim-NB-009", "NB-009")
        assert data["os_family"] == "windows" and "Windows 11" in data["os_name"]

    return Plan("/api/v1/hosts/sim-NB-009", verify=verify)


def _findings(store: SqlStore, role: str, allowed: bool) -> Plan:
    def verify(r: httpx.Response) -> None:
        rules = {(f["agent_id"], f["rule_id"]) for f in r.json()["items"]}
        assert ("sim-NB-009", "boot.bugcheck") in rules

    return Plan("/api/v1/findings?limit=500", verify=verify)


def _incidents(store: SqlStore, role: str, allowed: bool) -> Plan:
    def verify(r: httpx.Response) -> None:
        assert r.json()["items"] == []  # the mixed fleet shares no cause

    return Plan("/api/v1/incidents", verify=verify)


def _incident(store: SqlStore, role: str, allowed: bool) -> Plan:
    # The mixed fleet has no incident: a permitted caller gets as far as the lookup, which
    # finds none (test_pages reads one that exists, page and API).
    def verify(r: httpx.Response) -> None:
        assert r.json() == {"error": "no incident #1"}

    return Plan("/api/v1/incidents/1", ok=404, verify=verify)


def _rules(store: SqlStore, role: str, allowed: bool) -> Plan:
    def verify(r: httpx.Response) -> None:
        data = r.json()
        assert data["total"] == len(data["items"]) > 50 and data["load_errors"] == []
        assert GATEWAY in {rule["id"] for rule in data["items"]}

    return Plan("/api/v1/rules", verify=verify)


def _silences(store: SqlStore, role: str, allowed: bool) -> Plan:
    def verify(r: httpx.Response) -> None:
        assert r.json()["total"] == len(r.json()["items"])

    return Plan("/api/v1/silences?include_expired=true", verify=verify)


def _acknowledge(store: SqlStore, role: str, allowed: bool) -> Plan:
    if not allowed:
        t = untouched_open(store)
        return Plan(f"/api/v1/tickets/{t.id}/acknowledge",
                    state=lambda: fingerprint(store, t.id))  # fmt: skip
    rule = {"L1": GATEWAY, "L2": FLAPPING, "admin": DEVICE}[role]
    ticket_id = by_rule(store, rule).id
    assert not fresh(store, ticket_id).acknowledged_ms, "acknowledged before its case ran"
    plan = Plan(f"/api/v1/tickets/{ticket_id}/acknowledge")
    if reopened(store, ticket_id):
        plan.cleanup.append(lambda: rest_resolved(store, ticket_id))

    def verify(r: httpx.Response) -> None:
        data = r.json()
        assert data["id"] == ticket_id and data["acknowledged_at"] and data["state"] == "open"
        assert fresh(store, ticket_id).acknowledged_ms
        notes = [n.body for n in store.ticket_notes(ticket_id)]
        assert f"Acknowledged by {USERS[role]}." in notes

    plan.verify = verify
    return plan


def _assign(store: SqlStore, role: str, allowed: bool) -> Plan:
    if not allowed:
        t = untouched_open(store)
        return Plan(f"/api/v1/tickets/{t.id}/assign", {"assignee": USERS.get(role, "vera")},
                    state=lambda: fingerprint(store, t.id))  # fmt: skip
    ticket_id = by_rule(store, GATEWAY).id
    # L1 may take a ticket (assign it to oneself); L2 and above give it to anyone.
    assignee = USERS["L1"] if role == "L1" else f"desk-{role}"

    def verify(r: httpx.Response) -> None:
        assert r.json()["assignee"] == assignee == fresh(store, ticket_id).assignee

    return Plan(f"/api/v1/tickets/{ticket_id}/assign", {"assignee": assignee}, verify=verify)


def _comment(store: SqlStore, role: str, allowed: bool) -> Plan:
    text = f"matrix note {uuid.uuid4().hex[:8]}"
    if not allowed:
        t = untouched_open(store)
        return Plan(f"/api/v1/tickets/{t.id}/comment", {"text": text},
                    state=lambda: fingerprint(store, t.id))  # fmt: skip
    ticket_id = by_rule(store, GATEWAY).id

    def verify(r: httpx.Response) -> None:
        bodies = [n.body for n in store.ticket_notes(ticket_id)]
        assert f"{USERS[role]}: {text}" in bodies

    return Plan(f"/api/v1/tickets/{ticket_id}/comment", {"text": text}, verify=verify)


def _resolve(store: SqlStore, role: str, allowed: bool) -> Plan:
    body = {"resolution": "fixed", "note": "matrix"}
    if not allowed:
        t = untouched_open(store)
        return Plan(f"/api/v1/tickets/{t.id}/resolve", body,
                    state=lambda: fingerprint(store, t.id))  # fmt: skip
    ticket_id = by_rule(store, GATEWAY if role == "L2" else FLAPPING).id
    plan = Plan(f"/api/v1/tickets/{ticket_id}/resolve", body)
    if reopened(store, ticket_id):
        plan.cleanup.append(lambda: rest_resolved(store, ticket_id))

    def verify(r: httpx.Response) -> None:
        assert (r.json()["state"], r.json()["resolution"]) == ("resolved", "fixed")
        assert fresh(store, ticket_id).state is TicketState.RESOLVED

    plan.verify = verify
    return plan


def _reopen(store: SqlStore, role: str, allowed: bool) -> Plan:
    ticket_id = by_rule(store, FLAPPING if role == "admin" else GATEWAY).id
    assert fresh(store, ticket_id).state is TicketState.RESOLVED
    plan = Plan(f"/api/v1/tickets/{ticket_id}/reopen", state=lambda: fingerprint(store, ticket_id))
    plan.cleanup.append(lambda: rest_resolved(store, ticket_id))

    def verify(r: httpx.Response) -> None:
        assert r.json()["state"] == "open" and fresh(store, ticket_id).state is TicketState.OPEN

    plan.verify = verify
    return plan


def _silence_ids(store: SqlStore) -> list[int]:
    return [s.id for s in store.list_silences(include_expired=True)]


def _add_silence(store: SqlStore, role: str, allowed: bool) -> Plan:
    value = f"matrix.{uuid.uuid4().hex[:8]}.*"
    body = {"scope": "rule", "value": value, "reason": "matrix", "duration": "1h"}
    plan = Plan("/api/v1/silences", body, ok=201, state=lambda: _silence_ids(store))

    def verify(r: httpx.Response) -> None:
        made = r.json()
        plan.cleanup.append(lambda: store.remove_silence(made["id"]))
        assert (made["scope"], made["value"], made["created_by"]) == ("rule", value, USERS[role])
        assert made["id"] in _silence_ids(store)

    plan.verify = verify
    return plan


def _remove_silence(store: SqlStore, role: str, allowed: bool) -> Plan:
    s = store.add_silence("rule", f"matrix.remove.{uuid.uuid4().hex[:8]}", reason="matrix",
                          who="test", expires_ms=int(time.time() * 1000) + 30 * DAY_MS)  # fmt: skip

    def verify(r: httpx.Response) -> None:
        assert r.json() == {"removed": s.id} and s.id not in _silence_ids(store)

    return Plan(f"/api/v1/silences/{s.id}", verify=verify, state=lambda: _silence_ids(store),
                cleanup=[lambda: store.remove_silence(s.id)])  # fmt: skip


def _token_names(store: SqlStore) -> list[str]:
    return [t.name for t in store.list_tokens()]


def _tokens(store: SqlStore, role: str, allowed: bool) -> Plan:
    def verify(r: httpx.Response) -> None:
        items = r.json()["items"]
        assert all(set(t) == {"name", "role", "created_by", "created_at", "last_used_at"}
                   for t in items)  # fmt: skip

    return Plan("/api/v1/tokens", verify=verify)


def _add_token(store: SqlStore, role: str, allowed: bool) -> Plan:
    name = f"matrix-{uuid.uuid4().hex[:8]}"
    plan = Plan("/api/v1/tokens", {"name": name, "role": "viewer"}, ok=201,
                state=lambda: _token_names(store),
                cleanup=[lambda: store.remove_token(name)])  # fmt: skip

    def verify(r: httpx.Response) -> None:
        made = r.json()
        assert (made["name"], made["role"]) == (name, "viewer")
        assert made["token"].startswith("rdg_") and name in _token_names(store)

    plan.verify = verify
    return plan


def _remove_token(store: SqlStore, role: str, allowed: bool) -> Plan:
    name = f"matrix-{uuid.uuid4().hex[:8]}"
    store.add_token(name, "viewer", digest(new_api_token()), "test")

    def verify(r: httpx.Response) -> None:
        assert r.json() == {"removed": name} and name not in _token_names(store)

    return Plan(f"/api/v1/tokens/{name}", verify=verify, state=lambda: _token_names(store),
                cleanup=[lambda: store.remove_token(name)])  # fmt: skip


ENDPOINTS = (
    Endpoint("list hosts", "GET", "/api/v1/hosts", "viewer", _hosts),
    Endpoint("get host", "GET", "/api/v1/hosts/{agent_id}", "viewer", _host),
    Endpoint("list findings", "GET", "/api/v1/findings", "viewer", _findings),
    Endpoint("list tickets", "GET", "/api/v1/tickets", "viewer", _tickets_read),
    Endpoint("get ticket", "GET", "/api/v1/tickets/{ticket_id}", "viewer", _ticket_read),
    Endpoint(
        "acknowledge", "POST", "/api/v1/tickets/{ticket_id}/acknowledge", "L1", _acknowledge
    ),  # fmt: skip
    Endpoint("assign", "POST", "/api/v1/tickets/{ticket_id}/assign", "L1", _assign),
    Endpoint("comment", "POST", "/api/v1/tickets/{ticket_id}/comment", "L1", _comment),
    Endpoint("resolve", "POST", "/api/v1/tickets/{ticket_id}/resolve", "L2", _resolve),
    Endpoint("reopen", "POST", "/api/v1/tickets/{ticket_id}/reopen", "L2", _reopen),
    Endpoint("list incidents", "GET", "/api/v1/incidents", "viewer", _incidents),
    Endpoint("get incident", "GET", "/api/v1/incidents/{incident_id}", "viewer", _incident),
    Endpoint("list rules", "GET", "/api/v1/rules", "viewer", _rules),
    Endpoint("list silences", "GET", "/api/v1/silences", "viewer", _silences),
    Endpoint("add silence", "POST", "/api/v1/silences", "L2", _add_silence),
    Endpoint(
        "remove silence", "DELETE", "/api/v1/silences/{silence_id}", "L2", _remove_silence
    ),  # fmt: skip
    Endpoint("list tokens", "GET", "/api/v1/tokens", "admin", _tokens),
    Endpoint("add token", "POST", "/api/v1/tokens", "admin", _add_token),
    Endpoint("remove token", "DELETE", "/api/v1/tokens/{name}", "admin", _remove_token),
)


def router_endpoints() -> set[tuple[str, str]]:
    out = set()
    for route in api.router.routes:
        for method in getattr(route, "methods", ()):
            out.add((method, getattr(route, "path", "")))
    return out


def test_the_matrix_covers_every_endpoint_of_the_router() -> None:
    assert {(e.method, e.path) for e in ENDPOINTS} == router_endpoints()


@pytest.mark.parametrize("who", [*NOBODY, *ROLES])
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name.replace(" ", "-"))
def test_permission_boundary(
    endpoint: Endpoint, who: str, callers: dict[str, Caller], store: SqlStore
) -> None:
    allowed = who in RANK and RANK[who] >= RANK[endpoint.needs]
    plan = endpoint.plan(store, who, allowed)
    try:
        before = plan.state()
        r = callers[who].call(endpoint.method, plan.path, plan.body)
        if who in NOBODY:
            assert r.status_code == 401, r.text
            assert r.headers["www-authenticate"] == "Bearer"
            expected = {"anonymous": "log in or send 'Authorization: Bearer <API token>'",
                        "bad token": "unknown or revoked API token",
                        "revoked token": "unknown or revoked API token"}[who]  # fmt: skip
            assert r.json() == {"error": expected}
        elif not allowed:
            assert r.status_code == 403, r.text
            assert r.json() == {"error": f"this needs the {endpoint.needs} role; you are {who}"}
        else:
            assert r.status_code == plan.ok, r.text
            plan.verify(r)
            if endpoint.name == "acknowledge":
                again = callers[who].call(endpoint.method, plan.path)
                assert again.status_code == 409, again.text
                assert "already acknowledged" in again.json()["error"]
            if endpoint.name in ("resolve", "reopen"):
                again = callers[who].call(endpoint.method, plan.path, plan.body)
                assert again.status_code == 409, again.text
            return
        assert plan.state() == before, "a refused call changed something"
    finally:
        for undo in plan.cleanup:
            undo()


# -- L1's limits, CSRF, API tokens --------------------------------------------------------


def test_l1_may_assign_a_ticket_only_to_oneself(
    callers: dict[str, Caller], store: SqlStore
) -> None:
    t = untouched_open(store)
    before = fingerprint(store, t.id)
    r = callers["L1"].call("POST", f"/api/v1/tickets/{t.id}/assign", {"assignee": USERS["L2"]})
    assert r.status_code == 403
    assert r.json() == {"error": "the L1 role may assign a ticket only to oneself"}
    assert fingerprint(store, t.id) == before
    gateway = by_rule(store, GATEWAY).id
    r = callers["L2"].call("POST", f"/api/v1/tickets/{gateway}/assign", {"assignee": USERS["L1"]})
    assert r.status_code == 200 and r.json()["assignee"] == USERS["L1"]


def test_a_session_needs_its_csrf_token_on_every_change(
    callers: dict[str, Caller], store: SqlStore
) -> None:
    gateway = by_rule(store, GATEWAY).id
    path = f"/api/v1/tickets/{gateway}/comment"
    lars, lena = callers["L1"], callers["L2"]
    notes = len(store.ticket_notes(gateway))
    for wrong in ("", "not-the-token", lena.csrf):  # none, a guess, another session's
        client = lars.client
        headers = {"X-CSRF-Token": wrong} if wrong else {}
        r = client.post(path, json={"text": "forged"}, headers=headers)
        assert r.status_code == 403, (wrong, r.text)
        assert r.json() == {"error": "missing or wrong CSRF token: reload the page and try again"}
    assert len(store.ticket_notes(gateway)) == notes
    r = lars.call("POST", path, {"text": "with the token"})
    assert r.status_code == 200, r.text
    assert [n.body for n in store.ticket_notes(gateway)][-1] == "lars: with the token"

    s = store.add_silence("rule", "csrf.case", reason="csrf", who="test",
                          expires_ms=int(time.time() * 1000) + 30 * DAY_MS)  # fmt: skip
    try:
        r = lena.call("DELETE", f"/api/v1/silences/{s.id}", csrf="")
        assert r.status_code == 403 and s.id in _silence_ids(store)
        r = lena.call("DELETE", f"/api/v1/silences/{s.id}")
        assert r.status_code == 200 and s.id not in _silence_ids(store)
    finally:
        store.remove_silence(s.id)


def test_an_api_token_from_the_cli_works_without_csrf_until_removed(
    live_console: LiveConsole, store: SqlStore
) -> None:
    name = f"robot-{uuid.uuid4().hex[:6]}"
    secret = cli_token(live_console, name, "L2")
    gateway = by_rule(store, GATEWAY).id
    headers = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=live_console.url, timeout=30, headers=headers) as robot:
        assert robot.get("/api/v1/tickets").status_code == 200
        r = robot.post(f"/api/v1/tickets/{gateway}/comment", json={"text": "from the robot"})
        assert r.status_code == 200, r.text
        assert [n.body for n in store.ticket_notes(gateway)][-1] == f"token:{name}: from the robot"
        r = robot.post(f"/api/v1/tickets/{gateway}/assign", json={"assignee": "network-team"})
        assert r.status_code == 200 and fresh(store, gateway).assignee == "network-team"
        r = robot.get("/api/v1/tokens")  # L2 is not admin
        assert r.status_code == 403
        listed = live_console.cli("tokens", "list", "--json")
        [mine] = [t for t in json.loads(listed.stdout) if t["name"] == name]
        assert mine["role"] == "L2" and mine["last_used"], mine

        done = live_console.cli("tokens", "remove", name)
        assert done.returncode == 0 and f"token {name} revoked" in done.stdout
        r = robot.post(f"/api/v1/tickets/{gateway}/comment", json={"text": "after removal"})
        assert r.status_code == 401
        assert r.json() == {"error": "unknown or revoked API token"}
    assert [n.body for n in store.ticket_notes(gateway)][-1] != f"token:{name}: after removal"


def test_a_malformed_authorization_header_is_refused(live_console: LiveConsole) -> None:
    for header in ("Basic dmVyYTpwdw==", "Bearer", "Token rdg_abc"):
        with httpx.Client(base_url=live_console.url, timeout=30,
                          headers={"Authorization": header}) as client:  # fmt: skip
            r = client.get("/api/v1/hosts")
        assert r.status_code == 401, header
        assert r.json() == {"error": "Authorization must be 'Bearer <API token>'"}


# -- bad input, missing things, conflicts ----------------------------------------------------

BAD_INPUT = [
    ("GET", "/api/v1/hosts?limit=0", None, "query.limit"),
    ("GET", "/api/v1/tickets?limit=501", None, "query.limit"),
    ("GET", "/api/v1/tickets?limit=ten", None, "query.limit"),
    ("GET", "/api/v1/tickets?offset=-1", None, "query.offset"),
    ("GET", "/api/v1/tickets?state=pending", None, "query.state"),
    ("GET", "/api/v1/tickets?priority=P9", None, "query.priority"),
    ("GET", "/api/v1/tickets?q=" + "x" * 201, None, "query.q"),
    ("GET", "/api/v1/hosts?stale=false", None, "query.stale"),
    ("GET", "/api/v1/tickets/abc", None, "path.ticket_id"),
    ("POST", "/api/v1/tickets/abc/acknowledge", None, "path.ticket_id"),
    ("GET", "/api/v1/incidents/first", None, "path.incident_id"),
    ("POST", "/api/v1/tickets/{gateway}/assign", {"assignee": "lena", "assigne": "x"}, "assigne"),
    ("POST", "/api/v1/tickets/{gateway}/assign", {"assignee": ""}, "assignee"),
    ("POST", "/api/v1/tickets/{gateway}/comment", {}, "text"),
    ("POST", "/api/v1/tickets/{gateway}/resolve", {"resolution": "maybe"}, "resolution"),
    ("POST", "/api/v1/tickets/{gateway}/resolve", {"resolution": "auto"}, "resolution"),
    ("POST", "/api/v1/silences",
     {"scope": "host", "value": "x", "reason": "r", "duration": "2 fortnights"}, "duration"),
    ("POST", "/api/v1/silences",
     {"scope": "host", "value": "x", "reason": "r", "duration": "0m"}, "duration"),
    ("POST", "/api/v1/silences",  # a bound: such an expiry once broke every silences list
     {"scope": "host", "value": "x", "reason": "r", "duration": "100000000d"}, "duration"),
    ("POST", "/api/v1/silences",
     {"scope": "planet", "value": "x", "reason": "r", "duration": "1h"}, "scope"),
    ("POST", "/api/v1/silences", {"scope": "host", "value": "x", "duration": "1h"}, "reason"),
    ("POST", "/api/v1/silences",
     {"scope": "host", "value": "   ", "reason": "r", "duration": "1h"}, "value"),
    ("POST", "/api/v1/tokens", {"name": "x", "role": "root"}, "role"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "where"), BAD_INPUT,
                         ids=[f"{m} {p[:40]} {w}" for m, p, _, w in BAD_INPUT])  # fmt: skip
def test_bad_input_is_a_422_naming_the_field(
    method: str, path: str, body: dict[str, Any] | None, where: str,
    callers: dict[str, Caller], store: SqlStore,
) -> None:  # fmt: skip
    gateway = by_rule(store, GATEWAY).id
    before = (fingerprint(store, gateway), _silence_ids(store), _token_names(store))
    try:
        r = callers["admin"].call(method, path.format(gateway=gateway), body)
        assert r.status_code == 422, r.text
        data = r.json()
        assert data["error"].startswith("bad request: ")
        assert where in [p["where"] for p in data["problems"]], data
        assert all(p["problem"] for p in data["problems"])
        assert (fingerprint(store, gateway), _silence_ids(store), _token_names(store)) == before
    finally:  # a silence let through must not stay (a far expiry broke every silences page)
        for silence_id in set(_silence_ids(store)) - set(before[1]):
            store.remove_silence(silence_id)


def test_a_body_that_is_not_json_is_a_422_about_the_body(
    callers: dict[str, Caller], store: SqlStore
) -> None:
    admin = callers["admin"]
    headers = {"X-CSRF-Token": admin.csrf, "Content-Type": "application/json"}
    path = f"/api/v1/tickets/{by_rule(store, GATEWAY).id}/comment"
    r = admin.client.post(path, content=b"{not json", headers=headers)
    assert r.status_code == 422
    assert [p["where"] for p in r.json()["problems"]] == ["body"]


MISSING = [
    ("GET", "/api/v1/tickets/999999", "no ticket #999999"),
    ("POST", "/api/v1/tickets/999999/acknowledge", "no ticket #999999"),
    ("POST", "/api/v1/tickets/999999/reopen", "no ticket #999999"),
    ("GET", "/api/v1/hosts/no-such-host", "no host 'no-such-host'"),
    ("GET", "/api/v1/incidents/999999", "no incident #999999"),
    ("DELETE", "/api/v1/silences/999999", "no silence #999999"),
    ("DELETE", "/api/v1/tokens/no-such-token", "no token 'no-such-token'"),
    ("GET", "/api/v1/no-such-thing", "Not Found"),
]


@pytest.mark.parametrize(("method", "path", "error"), MISSING)
def test_what_does_not_exist_is_a_404(
    method: str, path: str, error: str, callers: dict[str, Caller]
) -> None:
    r = callers["admin"].call(method, path)
    assert r.status_code == 404, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.json()["error"].startswith(error), r.json()


def test_a_wrong_method_is_a_405_in_the_api_format(callers: dict[str, Caller]) -> None:
    r = callers["admin"].get("/api/v1/tickets/1/acknowledge")
    assert r.status_code == 405 and r.json() == {"error": "Method Not Allowed"}


def test_conflicts_are_409_and_change_nothing(callers: dict[str, Caller], store: SqlStore) -> None:
    lena = callers["L2"]
    flapping = by_rule(store, FLAPPING).id
    assert fresh(store, flapping).state is TicketState.RESOLVED
    before = fingerprint(store, flapping)
    r = lena.call("POST", f"/api/v1/tickets/{flapping}/resolve", {"resolution": "fixed"})
    assert r.status_code == 409
    assert r.json() == {"error": f"ticket {flapping} is resolved, not open"}
    assert fingerprint(store, flapping) == before

    t = untouched_open(store)
    before = fingerprint(store, t.id)
    r = lena.call("POST", f"/api/v1/tickets/{t.id}/reopen")
    assert r.status_code == 409
    assert r.json() == {"error": f"ticket {t.id} is open; only a resolved one reopens"}
    assert fingerprint(store, t.id) == before

    name = f"dup-{uuid.uuid4().hex[:6]}"
    admin = callers["admin"]
    try:
        assert admin.call("POST", "/api/v1/tokens", {"name": name, "role": "L1"}).status_code == 201
        again = admin.call("POST", "/api/v1/tokens", {"name": name, "role": "admin"})
        assert again.status_code == 409 and again.json() == {
            "error": f"token {name!r} already exists"
        }
        assert [t.role.value for t in store.list_tokens() if t.name == name] == ["L1"]
    finally:
        store.remove_token(name)


# -- pages of results and filters ----------------------------------------------------------


def walk(caller: Caller, first: str) -> list[dict[str, Any]]:
    pages, url = [], first
    while url:
        r = caller.get(url)
        assert r.status_code == 200, r.text
        pages.append(r.json())
        url = r.json()["next"]
    return pages


def test_hosts_come_in_pages_with_a_total_and_a_next_link(
    callers: dict[str, Caller], live_console: LiveConsole
) -> None:
    viewer = callers["viewer"]
    everything = viewer.get("/api/v1/hosts?limit=500").json()
    assert everything["total"] == FLEET_HOSTS == len(everything["items"])
    assert everything["next"] is None
    names = [h["hostname"] for h in everything["items"]]
    assert names == sorted(names)

    pages = walk(viewer, "/api/v1/hosts?limit=15")
    assert [(p["offset"], p["limit"], len(p["items"])) for p in pages] == [
        (0, 15, 15), (15, 15, 15), (30, 15, 10)]  # fmt: skip
    assert all(p["total"] == FLEET_HOSTS for p in pages)
    assert pages[0]["next"] == f"{live_console.url}/api/v1/hosts?limit=15&offset=15"
    assert pages[-1]["next"] is None
    assert [h for p in pages for h in p["items"]] == everything["items"]

    beyond = viewer.get("/api/v1/hosts?limit=15&offset=40").json()
    assert (beyond["items"], beyond["total"], beyond["next"]) == ([], FLEET_HOSTS, None)


def test_tickets_come_in_pages_newest_first(callers: dict[str, Caller]) -> None:
    pages = walk(callers["viewer"], "/api/v1/tickets?limit=4")
    assert [len(p["items"]) for p in pages] == [4, 4, 2]
    ids = [t["id"] for p in pages for t in p["items"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == FLEET_TICKETS


def test_ticket_filters(callers: dict[str, Caller], store: SqlStore) -> None:
    viewer = callers["viewer"]
    every = viewer.get("/api/v1/tickets?limit=500").json()["items"]
    assert len(every) == FLEET_TICKETS

    def only(query: str, keep: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        got = viewer.get(f"/api/v1/tickets?limit=500&{query}").json()
        want = [t for t in every if keep(t)]
        assert got["items"] == want and got["total"] == len(want), query
        assert want, f"{query} matches nothing: the test would prove nothing"
        return want

    only("state=open", lambda t: t["state"] == "open")
    only("state=resolved", lambda t: t["state"] == "resolved")
    only("priority=P2", lambda t: t["priority"] == "P2")
    only("tier=L2", lambda t: t["tier"] == "L2")
    only("priority=P2&tier=L1&state=open",
         lambda t: (t["priority"], t["tier"], t["state"]) == ("P2", "L1", "open"))  # fmt: skip
    two = only("host=sim-ws-f1-003", lambda t: t["agent_id"] == "sim-ws-f1-003")
    assert len(two) == 2  # fills within a day, then nearly full
    assert viewer.get("/api/v1/tickets?host=ws-f1-003").json()["items"] == two  # by hostname too
    skew = only("rule=network.time_clock_skew", lambda t: t["rule_id"] == "network.time_clock_skew")
    assert {t["hostname"] for t in skew} == {"NB-011", "mac-05"}
    [bsod] = only("q=blue%20screen", lambda t: "blue screen" in t["summary"].lower())
    assert bsod["hostname"] == "NB-009"
    only("q=PC-002", lambda t: t["hostname"] == "PC-002")  # q matches hostnames
    only("q=network.gateway", lambda t: t["rule_id"].startswith("network.gateway"))
    nothing = viewer.get("/api/v1/tickets?q=no-such-text-anywhere").json()
    assert (nothing["items"], nothing["total"], nothing["next"]) == ([], 0, None)


def test_host_filters(callers: dict[str, Caller], live_console: LiveConsole) -> None:
    viewer = callers["viewer"]
    every = viewer.get("/api/v1/hosts?limit=500").json()["items"]

    def only(query: str, keep: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        got = viewer.get(f"/api/v1/hosts?limit=500&{query}").json()
        want = [h for h in every if keep(h)]
        assert got["items"] == want and got["total"] == len(want), query
        return want

    assert len(only("q=ws-f1", lambda h: "ws-f1" in h["hostname"])) == 10
    assert len(only("q=windows%2011", lambda h: "windows 11" in h["os"].lower())) == 12
    assert len(only("q=sim-mac", lambda h: h["agent_id"].startswith("sim-mac"))) == 7
    busy = only("open_tickets=true", lambda h: h["open_tickets"] > 0)
    idle = only("open_tickets=false", lambda h: h["open_tickets"] == 0)
    assert len(busy) + len(idle) == FLEET_HOSTS and busy and idle
    assert {h["hostname"] for h in busy} >= {"PC-002", "ws-f1-003", "NB-009"}
    worst = {h["hostname"]: h["worst_priority"] for h in busy}
    assert worst["PC-002"] == "P1" and all(h["worst_priority"] is None for h in idle)
    # "Not seen recently" is wall-clock time since a host's last batch: the fleet reported
    # minutes ago, so either none is stale or (a slow session) the filter keeps exactly
    # the ones flagged stale.
    only("stale=true", lambda h: h["stale"])
    assert viewer.get("/api/v1/hosts?q=no-such-host").json()["total"] == 0


# -- the OpenAPI document and what every answer carries ------------------------------------------


def test_openapi_lists_every_path_and_documents_bearer_auth(live_console: LiveConsole) -> None:
    with httpx.Client(base_url=live_console.url, timeout=30) as client:
        spec = client.get("/api/v1/openapi.json").json()
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert documented == router_endpoints()
    assert "Authorization: Bearer" in spec["info"]["description"]
    schemes = spec["components"]["securitySchemes"]
    assert {"type": "http", "scheme": "bearer"}.items() <= next(iter(schemes.values())).items()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert op["summary"], (method, path)
            assert op.get("security") == [{next(iter(schemes)): []}], (method, path)
    params = {p["name"] for p in spec["paths"]["/api/v1/tickets"]["get"]["parameters"]}
    assert {"limit", "offset", "state", "priority", "tier", "host", "rule", "q"} <= params


@pytest.mark.parametrize("path", ["/api/v1/hosts", "/api/v1/tickets/999999",
                                  "/api/v1/hosts?limit=0", "/", "/tickets",
                                  "/static/console.css"])  # fmt: skip
def test_answers_carry_server_timing_and_security_headers(
    path: str, callers: dict[str, Caller]
) -> None:
    r = callers["viewer"].get(path)
    assert r.status_code in (200, 404, 422), r.status_code
    assert re.fullmatch(r"app;dur=\d+\.\d", r.headers["server-timing"]), r.headers
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1]
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_an_unauthenticated_answer_carries_them_too(callers: dict[str, Caller]) -> None:
    r = callers["anonymous"].get("/api/v1/tickets")
    assert r.status_code == 401
    assert r.headers["server-timing"].startswith("app;dur=")
    assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"


def test_reads_of_one_host_quote_its_id(callers: dict[str, Caller]) -> None:
    # An agent id goes into the path as one segment; an odd one is a 404, not a crash.
    r = callers["viewer"].get("/api/v1/hosts/" + quote("no such/host?", safe=""))
    assert r.status_code == 404 and r.json()["error"]
