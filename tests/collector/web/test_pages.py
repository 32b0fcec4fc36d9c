"""The console's pages over real HTTP: what each shows, who sees which actions, the forms
that change tickets and silences, the report exports, attachments and error pages.

On the shared `live_console` (the mixed fleet). The form actions work one ticket only,
mac-05's resolved clock-skew ticket (network.time_clock_skew on sim-mac-05): reopened,
acknowledged, noted, assigned, silenced and resolved again, so it ends resolved as it
began (acknowledged now: that cannot be undone). Everything else is only read. The
incident pages need an incident, which the mixed fleet has none of: a collector of this
module's own runs five hosts through a DNS outage for that.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import json
import re
import uuid
from collections.abc import Iterator
from contextlib import closing
from html.parser import HTMLParser
from urllib.parse import quote

import httpx
import pytest

from agent.config import CollectorSection
from collector.sim.run import simulate
from collector.sim.scenario import load_scenario
from collector.store import Resolution, SqlStore, Ticket, TicketState
from tests.collector.web.conftest import PASSWORD, USERS, LiveConsole, login
from tests.helpers.procs import ROOT, start_collector

FLEET_HOSTS = 40
ROLES = ("viewer", "L1", "L2", "admin")
SKEW = "network.time_clock_skew"


@pytest.fixture(scope="module")
def store(live_console: LiveConsole) -> Iterator[SqlStore]:
    opened = live_console.store()
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def as_role(live_console: LiveConsole) -> Iterator[dict[str, tuple[httpx.Client, str]]]:
    opened = {}
    try:
        for role in ROLES:
            opened[role] = live_console.login(role)
        yield opened
    finally:
        for client, _ in opened.values():
            client.close()


@pytest.fixture
def anon(live_console: LiveConsole) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_console.url, timeout=30) as client:
        yield client


def viewer_get(as_role: dict[str, tuple[httpx.Client, str]], path: str) -> httpx.Response:
    r = as_role["viewer"][0].get(path)
    assert r.status_code == 200, (path, r.status_code, r.text[:500])
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    return r


def text_of(markup: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def section(page: str, heading_id: str) -> str:
    """The markup of the <section> labelled by the heading with that id."""
    found = re.search(rf'<section aria-labelledby="{heading_id}">(.*?)</section>', page, re.S)
    assert found, heading_id
    return found.group(1)


def mac_skew(store: SqlStore) -> Ticket:
    [t] = [t for t in store.page_tickets(rule_id=SKEW, limit=10)[0] if t.agent_id == "sim-mac-05"]
    return t


def untouched_open(store: SqlStore) -> Ticket:
    rows, _ = store.page_tickets(state=TicketState.OPEN, kind="host", limit=100)
    waiting = [t for t in rows if not t.acknowledged_ms]
    assert waiting, "no open, unacknowledged ticket left on the shared fleet"
    return waiting[-1]


class Refs(HTMLParser):
    """Every URL an HTML document would fetch by itself (links one clicks excepted)."""

    def __init__(self) -> None:
        super().__init__()
        self.fetched: list[tuple[str, str]] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if tag == "a" and name == "href":
                continue  # a link is read by a person, never fetched by the page
            if name in ("src", "href", "srcset", "poster", "data", "action", "xlink:href"):
                self.fetched.append((tag, value or ""))


def external_refs(document: str) -> list[str]:
    refs = Refs()
    refs.feed(document)
    out = [f"<{tag}> {url}" for tag, url in refs.fetched
           if re.match(r"(?i)\s*(https?:)?//", url)]  # fmt: skip
    out += re.findall(r"(?i)url\(\s*['\"]?\s*(?:https?:)?//[^)]*\)", document)
    out += re.findall(r"(?i)@import[^;]+;", document)
    return out


# -- every page, as a viewer ----------------------------------------------------------------

PAGES = ["/", "/hosts", "/hosts?show=stale", "/hosts?show=open&q=ws", "/hosts/sim-ws-f1-003",
         "/tickets", "/tickets?state=resolved", "/tickets?priority=P1&state=open",
         "/tickets?tier=L2&q=disk&state=open", "/tickets/1", "/incidents",
         "/incidents?state=all", "/rules", "/silences", "/api/docs"]  # fmt: skip


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_for_a_viewer(
    path: str, as_role: dict[str, tuple[httpx.Client, str]]
) -> None:
    page = viewer_get(as_role, path).text
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert '<nav aria-label="Main">' in page and 'vera <span class="role">(viewer)</span>' in page
    assert len(re.findall(r"<h1[ >]", page)) >= 1
    assert "Traceback" not in page and 'class="error"' not in page
    assert external_refs(page) == []


def test_the_overview_shows_the_fleet_and_the_priority_tier_grid(
    as_role: dict[str, tuple[httpx.Client, str]],
) -> None:
    page = viewer_get(as_role, "/").text
    assert "<h1>Fleet overview</h1>" in page
    assert f'<span class="n">{FLEET_HOSTS}</span> hosts' in page
    api = as_role["viewer"][0].get("/api/v1/tickets?state=open&limit=500").json()["items"]
    assert f'<span class="n">{len(api)}</span> open tickets' in page
    grid = re.search(r'<table class="grid">(.*?)</table>', page, re.S)
    assert grid, page[:2000]
    head = re.findall(r'<th scope="col">([^<]+)</th>', grid.group(1))
    assert head == ["Priority", "L1", "L2", "L3"]
    shown = {}
    for prio, cells in re.findall(r'<th scope="row"><span class="prio (P\d)">.*?</th>(.*?)</tr>',
                                  grid.group(1), re.S):  # fmt: skip
        counts = [int(n) for n in re.findall(r"<td>.*?>(\d+)<.*?</td>", cells, re.S)]
        shown.update({(prio, tier): n for tier, n in zip(("L1", "L2", "L3"), counts, strict=True)})
    assert sorted({p for p, _ in shown}) == ["P1", "P2", "P3", "P4", "P5"]
    want = {key: 0 for key in shown}
    for t in api:
        want[(t["priority"], t["tier"])] += 1
    assert shown == want
    # A non-zero cell leads to the tickets behind it.
    assert '<a href="/tickets?priority=P1&amp;tier=L3">1</a>' in page
    newest = section(page, "h-new")
    assert all(f'href="/tickets/{t["id"]}"' in newest for t in api[:10])
    worst = section(page, "h-worst")
    assert worst.index("PC-002") < worst.index("ws-f1-003")  # the P1 first
    assert "Rejected batches" in page and "Last batch stored" in page


def test_the_host_list_and_its_filters(as_role: dict[str, tuple[httpx.Client, str]]) -> None:
    page = viewer_get(as_role, "/hosts").text
    hosts = re.findall(r'<a href="/hosts/([^"]+)">([^<]+)</a>', page)
    assert len(hosts) == FLEET_HOSTS and "1–40 of 40" in page
    assert [h for _, h in hosts] == sorted(h for _, h in hosts)
    api = as_role["viewer"][0].get("/api/v1/hosts?open_tickets=true&q=ws-f&limit=500").json()
    page = viewer_get(as_role, "/hosts?show=open&q=ws-f").text
    shown = [h for _, h in re.findall(r'<a href="/hosts/([^"]+)">([^<]+)</a>', page)]
    assert shown == [h["hostname"] for h in api["items"]] and shown
    assert all(h.startswith("ws-f") for h in shown) and "healthy" not in page.split("<tbody>")[1]
    assert '<option value="open" selected>' in page and 'value="ws-f"' in page
    stale = as_role["viewer"][0].get("/api/v1/hosts?stale=true&limit=500").json()["total"]
    page = viewer_get(as_role, "/hosts?show=stale").text
    assert f"of {stale}</span>" in page


def test_the_host_page_shows_inventory_plots_and_tickets(
    as_role: dict[str, tuple[httpx.Client, str]],
) -> None:
    page = viewer_get(as_role, "/hosts/sim-ws-f1-003").text
    assert "ws-f1-003" in page and "Debian GNU/Linux 12" in page
    assert "<svg" in page  # the plots are inline SVG, drawn by the server
    tickets = section(page, "h-host-tickets")
    assert "Volume /home" in tickets and len(re.findall(r'href="/tickets/\d+">#', tickets)) == 2
    for fmt in ("html", "md", "json"):
        assert f'href="/hosts/sim-ws-f1-003/report.{fmt}"' in page


def test_the_ticket_page_shows_the_report_evidence_and_notes(
    as_role: dict[str, tuple[httpx.Client, str]], store: SqlStore
) -> None:
    [t] = store.page_tickets(rule_id="network.gateway_unreachable", limit=1)[0]
    page = viewer_get(as_role, f"/tickets/{t.id}").text
    assert f"<h1>#{t.id} {html.escape(t.summary, quote=True)}</h1>" in page.replace(
        "&#x27;", "&#39;")  # fmt: skip
    evidence = page.split("<h2>Evidence</h2>", 1)[1].split("<h2>", 1)[0]
    assert "<th>gateway</th><td>10.70.1.1</td>" in evidence
    assert "<th>interface</th><td>eth0</td>" in evidence
    notes = section(page, "h-notes")
    stored = store.ticket_notes(t.id)
    assert stored and all(html.escape(n.body) in notes.replace("&#x27;", "&#39;") for n in stored)
    assert "resolved automatically" in text_of(notes)
    helpdesk = section(page, "h-helpdesk")
    assert "Not in an external helpdesk (yet)." in helpdesk
    files = section(page, "h-files")
    assert "gateway-10.70.1.1.txt" in files and "evidence.json" in files


def test_the_ticket_list_filters(as_role: dict[str, tuple[httpx.Client, str]]) -> None:
    def ids(path: str) -> list[int]:
        return [int(i) for i in re.findall(r'<td><a href="/tickets/(\d+)">#', viewer_get(
            as_role, path).text)]  # fmt: skip

    api = as_role["viewer"][0]

    def want(query: str) -> list[int]:
        return [t["id"] for t in api.get(f"/api/v1/tickets?limit=500&{query}").json()["items"]]

    assert ids("/tickets") == want("state=open")  # open is the default
    assert ids("/tickets?state=resolved") == want("state=resolved")
    assert ids("/tickets?priority=P1&state=open") == want("priority=P1&state=open")
    assert len(ids("/tickets?priority=P1&state=open")) == 1
    assert ids("/tickets?host=ws-f1-003&state=open") == want("host=ws-f1-003&state=open")
    assert ids("/tickets?q=blue+screen&state=open") == want("q=blue%20screen&state=open")
    assert ids("/tickets?rule=network.time_clock_skew&state=resolved") == want(
        "rule=network.time_clock_skew&state=resolved")  # fmt: skip


# What the filter form sends when "any" is left selected, and what the rules page links to:
# an empty value must mean "no filter" (the page once refused them all with a 422).
@pytest.mark.parametrize("query", ["state=&priority=&tier=&q=&assignee=",
                                   "state=open&priority=&tier=&q=&assignee=",
                                   "rule=network.time_clock_skew&state="])  # fmt: skip
def test_the_ticket_filter_form_as_a_browser_sends_it(
    query: str, as_role: dict[str, tuple[httpx.Client, str]]
) -> None:
    r = as_role["viewer"][0].get(f"/tickets?{query}")
    assert r.status_code == 200, text_of(r.text)[-300:]
    shown = [int(i) for i in re.findall(r'<td><a href="/tickets/(\d+)">#', r.text)]
    api = as_role["viewer"][0]
    state = "state=open&" if "state=open" in query else ""
    rule = "rule=network.time_clock_skew&" if "rule=" in query else ""
    assert shown == [t["id"] for t in api.get(
        f"/api/v1/tickets?limit=500&{state}{rule}").json()["items"]]  # fmt: skip


def test_the_rules_and_silences_pages(as_role: dict[str, tuple[httpx.Client, str]]) -> None:
    page = viewer_get(as_role, "/rules").text
    rules = as_role["viewer"][0].get("/api/v1/rules").json()
    assert f"{rules['total']} rules loaded from" in text_of(page)
    assert "None: every rule file loaded." in page
    for rule in rules["items"]:
        assert f">{rule['id']}</a>" in page
    assert "Reload the rules folder" not in page  # an admin's button
    assert "Reload the rules folder" in as_role["admin"][0].get("/rules").text
    page = viewer_get(as_role, "/silences").text
    assert "<h1>Silences</h1>" in page and "Add a silence" not in page


def test_the_api_reference_is_rendered_by_the_console(
    as_role: dict[str, tuple[httpx.Client, str]],
) -> None:
    page = viewer_get(as_role, "/api/docs").text
    spec = as_role["viewer"][0].get("/api/v1/openapi.json").json()
    for path, ops in spec["paths"].items():
        for method in ops:
            assert f"<code>{method.upper()} {path}</code>" in page
    assert "<script" not in page.split("</head>")[1]  # no Swagger bundle, no CDN


def test_pages_redirect_a_stranger_to_the_login(anon: httpx.Client) -> None:
    for path in ("/", "/hosts?show=stale&q=ws", "/tickets/1", "/tickets/1/report.json",
                 "/hosts/sim-NB-001/report.html", "/api/docs", "/silences"):  # fmt: skip
        r = anon.get(path)
        assert r.status_code == 303, path
        assert r.headers["location"] == "/login?next=" + quote(path, safe=""), path
    r = anon.post("/tickets/1/acknowledge", data={"csrf": "x"})
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


# -- who sees which actions -------------------------------------------------------------------


def forms(page: str) -> list[str]:
    return re.findall(r'<form method="post" action="(/tickets/\d+/[a-z]+)"', page)


def test_each_role_sees_the_actions_it_may_take(
    as_role: dict[str, tuple[httpx.Client, str]], store: SqlStore
) -> None:
    t = untouched_open(store)
    base = f"/tickets/{t.id}"
    pages = {role: as_role[role][0].get(base).text for role in ROLES}
    assert forms(pages["viewer"]) == [] and "Acknowledge" not in pages["viewer"]
    assert forms(pages["L1"]) == [f"{base}/acknowledge", f"{base}/assign", f"{base}/comment"]
    assert '<button type="submit" id="acknowledge">Acknowledge</button>' in pages["L1"]
    assert re.search(r'<input id="assignee" name="assignee" required value="lars" readonly>',
                     pages["L1"])  # fmt: skip
    for role in ("L2", "admin"):
        assert forms(pages[role]) == [
            f"{base}/acknowledge",
            f"{base}/assign",
            f"{base}/comment",
            f"{base}/resolve",
            f"{base}/silence",
        ]
        assert '<button type="submit">Resolve</button>' in pages[role]
    resolved = mac_skew(store)
    if resolved.state is TicketState.RESOLVED:  # (the form test reopens it for a while)
        page = as_role["L2"][0].get(f"/tickets/{resolved.id}").text
        assert f"/tickets/{resolved.id}/reopen" in forms(page)
        assert f"/tickets/{resolved.id}/resolve" not in forms(page)


# -- form actions -------------------------------------------------------------------------------


def post(as_role: dict[str, tuple[httpx.Client, str]], role: str, path: str,
         **fields: str) -> httpx.Response:  # fmt: skip
    client, csrf = as_role[role]
    return client.post(path, data={"csrf": csrf, **fields}, follow_redirects=False)


def landed(as_role: dict[str, tuple[httpx.Client, str]], r: httpx.Response, where: str,
           flash: str) -> str:  # fmt: skip
    """The form redirected back where it came from, and that page says what was done."""
    assert r.status_code == 303, text_of(r.text)[-300:]
    location = r.headers["location"]
    assert location.split("?")[0] == where, location
    page = as_role["viewer"][0].get(location).text
    assert f'<p class="flash" role="status">{html.escape(flash)}</p>' in page, location
    return page


def test_ticket_forms_work_the_ticket_and_come_back(
    as_role: dict[str, tuple[httpx.Client, str]], store: SqlStore
) -> None:
    t = mac_skew(store)
    assert t.state is TicketState.RESOLVED and not t.acknowledged_ms
    base = f"/tickets/{t.id}"
    silences_before = {s.id for s in store.list_silences(include_expired=True)}
    try:
        # Refused: no CSRF token, or a role too low. Nothing changes.
        client, _ = as_role["L2"]
        r = client.post(f"{base}/reopen", data={}, follow_redirects=False)
        assert r.status_code == 403 and "CSRF" in text_of(r.text)
        r = post(as_role, "L1", f"{base}/reopen")
        assert r.status_code == 403 and "this needs the L2 role; you are L1" in text_of(r.text)
        assert store.get_ticket(t.id) == t

        landed(as_role, post(as_role, "L2", f"{base}/reopen"), base, "saved")
        assert store.get_ticket(t.id).state is TicketState.OPEN  # type: ignore[union-attr]

        page = landed(as_role, post(as_role, "L1", f"{base}/acknowledge"), base, "saved")
        assert "acknowledged 20" in page  # the badge with its time
        assert store.get_ticket(t.id).acknowledged_ms  # type: ignore[union-attr]
        r = post(as_role, "L1", f"{base}/acknowledge")
        assert r.status_code == 409 and "already acknowledged" in text_of(r.text)

        note = f"called the user {uuid.uuid4().hex[:6]}"
        page = landed(as_role, post(as_role, "L1", f"{base}/comment", text=note), base, "saved")
        assert f"lars: {note}" in section(page, "h-notes")

        landed(as_role, post(as_role, "L1", f"{base}/assign", assignee="lars"), base, "saved")
        r = post(as_role, "L1", f"{base}/assign", assignee="lena")
        assert r.status_code == 403 and "only to oneself" in text_of(r.text)
        page = landed(as_role, post(as_role, "L2", f"{base}/assign", assignee="mac-team"), base,
                      "saved")  # fmt: skip
        assert "assigned to mac-team" in page and store.get_ticket(t.id).assignee == "mac-team"  # type: ignore[union-attr]

        r = post(as_role, "L2", f"{base}/silence", scope="host", duration="2 fortnights",
                 reason="maintenance")  # fmt: skip
        assert r.status_code == 422 and "duration" in text_of(r.text)
        r = post(as_role, "L2", f"{base}/silence", scope="host", duration="2h",
                 reason="re-imaging")  # fmt: skip
        landed(as_role, r, base, "silenced host sim-mac-05")
        [made] = [s for s in store.list_silences(include_expired=True)
                  if s.id not in silences_before]  # fmt: skip
        assert (made.scope, made.value, made.reason, made.created_by) == (
            "host", "sim-mac-05", "re-imaging", "lena")  # fmt: skip

        r = post(as_role, "L2", f"{base}/resolve", resolution="fixed", note="clock re-synced")
        page = landed(as_role, r, base, "saved")
        after = store.get_ticket(t.id)
        assert after is not None and after.state is TicketState.RESOLVED
        assert after.resolution == "fixed"
        assert "Resolved by lena as fixed. clock re-synced" in section(page, "h-notes")
    finally:
        for s in store.list_silences(include_expired=True):
            if s.id not in silences_before:
                store.remove_silence(s.id)
        if store.get_ticket(t.id).state is TicketState.OPEN:  # type: ignore[union-attr]
            store.resolve_ticket(t.id, "test teardown", Resolution.FIXED, "")


def test_silences_are_added_and_ended_on_their_page(
    as_role: dict[str, tuple[httpx.Client, str]], store: SqlStore
) -> None:
    value = f"pages.{uuid.uuid4().hex[:6]}.*"
    r = post(as_role, "L1", "/silences", scope="rule", value=value, duration="2h", reason="x")
    assert r.status_code == 403
    r = post(as_role, "L2", "/silences", scope="rule", value=value, duration="400d", reason="x")
    assert r.status_code == 422 and "duration" in text_of(r.text)
    assert value not in [s.value for s in store.list_silences(include_expired=True)]

    r = post(as_role, "L2", "/silences", scope="rule", value=value, duration="2h",
             reason="rule being rewritten")  # fmt: skip
    page = landed(as_role, r, "/silences", "silence added")
    [made] = [s for s in store.list_silences(include_expired=True) if s.value == value]
    try:
        assert f"<code>{value}</code>" in page and "rule being rewritten" in page
        l2_page = as_role["L2"][0].get("/silences").text
        assert f'action="/silences/{made.id}/remove"' in l2_page and "Add a silence" in l2_page
        assert f'action="/silences/{made.id}/remove"' not in page  # the viewer's: no button
        r = post(as_role, "L2", f"/silences/{made.id}/remove")
        page = landed(as_role, r, "/silences", "silence removed")
        assert f"<code>{value}</code>" not in page
        assert made.id not in [s.id for s in store.list_silences(include_expired=True)]
        r = post(as_role, "L2", f"/silences/{made.id}/remove")
        assert r.status_code == 404 and f"no silence #{made.id}" in text_of(r.text)
    finally:
        store.remove_silence(made.id)


def test_rules_reload_is_an_admins_form(as_role: dict[str, tuple[httpx.Client, str]]) -> None:
    r = post(as_role, "L2", "/rules/reload")
    assert r.status_code == 403
    reloads = as_role["viewer"][0].get("/api/v1/rules").json()["reloads"]
    landed(as_role, post(as_role, "admin", "/rules/reload"), "/rules", "reloaded")
    after = as_role["viewer"][0].get("/api/v1/rules").json()
    assert after["reloads"] == reloads + 1 and after["load_errors"] == []


# -- exports and attachments -------------------------------------------------------------------


EXPORTS = {"html": "text/html; charset=utf-8", "md": "text/markdown; charset=utf-8",
           "json": "application/json"}  # fmt: skip


def check_document(body: str) -> None:
    assert body.startswith("<!DOCTYPE html>") and body.rstrip().endswith("</html>"), body[:200]
    assert "<title>" in body and "<style>" in body
    refs = Refs()
    refs.feed(body)
    assert "script" not in refs.tags and "link" not in refs.tags and "img" not in refs.tags
    assert external_refs(body) == []


@pytest.mark.parametrize("fmt", sorted(EXPORTS))
def test_a_ticket_exports_as_a_file(
    fmt: str, as_role: dict[str, tuple[httpx.Client, str]], store: SqlStore
) -> None:
    [t] = store.page_tickets(rule_id="network.gateway_unreachable", limit=1)[0]
    r = as_role["viewer"][0].get(f"/tickets/{t.id}/report.{fmt}")
    assert r.status_code == 200
    assert r.headers["content-type"] == EXPORTS[fmt]
    assert r.headers["content-disposition"] == f'attachment; filename="rdiag-ticket-{t.id}.{fmt}"'
    if fmt == "json":
        data = json.loads(r.text)
        assert (data["id"], data["summary"], data["rule"]["id"]) == (
            t.id, t.summary, "network.gateway_unreachable")  # fmt: skip
        assert data["evidence"]["values"]["gateway"] == "10.70.1.1"
    elif fmt == "md":
        assert r.text.startswith(f"# #{t.id} ") and "10.70.1.1" in r.text
    else:
        check_document(r.text)
        assert "10.70.1.1" in r.text and "Lifecycle" in r.text


@pytest.mark.parametrize("fmt", sorted(EXPORTS))
def test_a_host_exports_as_a_file(fmt: str, as_role: dict[str, tuple[httpx.Client, str]]) -> None:
    r = as_role["viewer"][0].get(f"/hosts/sim-ws-f1-003/report.{fmt}")
    assert r.status_code == 200, text_of(r.text)[-300:]
    assert r.headers["content-type"] == EXPORTS[fmt]
    assert r.headers["content-disposition"] == (
        f'attachment; filename="rdiag-host-sim-ws-f1-003.{fmt}"')  # fmt: skip
    if fmt == "json":
        data = json.loads(r.text)
        assert (data["agent_id"], data["hostname"]) == ("sim-ws-f1-003", "ws-f1-003")
        assert data["inventory"]["os_name"].startswith("Debian")
    elif fmt == "md":
        assert r.text.startswith("# Host ws-f1-003") and "## Findings" in r.text
    else:
        check_document(r.text)
        assert "<svg" in r.text and "ws-f1-003" in r.text  # the plots, inline


@pytest.mark.parametrize("path", ["/tickets/1/report.pdf", "/hosts/sim-ws-f1-003/report.txt",
                                  "/tickets/999999/report.json",
                                  "/hosts/no-such-host/report.json"])  # fmt: skip
def test_an_unknown_export_is_a_404_page(
    path: str, as_role: dict[str, tuple[httpx.Client, str]]
) -> None:
    r = as_role["viewer"][0].get(path)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "content-disposition" not in r.headers
    message = re.search(r'<p class="error" role="alert">([^<]+)</p>', r.text)
    assert message and message.group(1).startswith(("no export format", "no ticket", "no host"))


def test_an_attachment_downloads_as_it_was_stored(
    as_role: dict[str, tuple[httpx.Client, str]], store: SqlStore
) -> None:
    [t] = store.page_tickets(rule_id="network.gateway_unreachable", limit=1)[0]
    client = as_role["viewer"][0]
    page = client.get(f"/tickets/{t.id}").text
    links = re.findall(rf'<a href="/tickets/{t.id}/files/(\d+)" download>([^<]+)</a>', page)
    assert {name for _, name in links} == {"gateway-10.70.1.1.txt", "evidence.json"}
    stored = {f["name"]: f["sha256"] for f in client.get(f"/tickets/{t.id}/report.json").json()[
        "files"]}  # fmt: skip
    for file_id, name in links:
        r = client.get(f"/tickets/{t.id}/files/{file_id}")
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/octet-stream"
        assert r.headers["content-disposition"] == f"attachment; filename*=UTF-8''{quote(name)}"
        assert hashlib.sha256(r.content).hexdigest() == stored[name]
    other = store.page_tickets(rule_id="boot.bugcheck", limit=1)[0][0]
    r = client.get(f"/tickets/{other.id}/files/{links[0][0]}")  # not that ticket's file
    assert r.status_code == 404


# -- error pages ------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "code", "message"), [
    ("/tickets/999999", 404, "no ticket #999999"),
    ("/tickets/abc", 422, "bad request: path.ticket_id: Input should be a valid integer"),
    ("/hosts/no-such-host", 404, "no host 'no-such-host'"),
    ("/incidents/999999", 404, "no incident #999999"),
    ("/hosts?show=everything", 422, "bad request: query.show"),
    ("/no-such-page", 404, "Not Found"),
])  # fmt: skip
def test_an_error_is_a_page_without_a_traceback(
    path: str, code: int, message: str, as_role: dict[str, tuple[httpx.Client, str]]
) -> None:
    r = as_role["viewer"][0].get(path)
    assert r.status_code == code
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    alert = re.search(r'<p class="error" role="alert">([^<]+)</p>', r.text)
    assert alert and html.unescape(alert.group(1)).startswith(message), r.text[-500:]
    assert '<a href="/">Back to the overview</a>' in r.text
    for leak in ("Traceback", 'File "', "site-packages", "Exception"):
        assert leak not in r.text


def test_a_wrong_method_is_an_error_page(as_role: dict[str, tuple[httpx.Client, str]]) -> None:
    r = as_role["viewer"][0].get("/tickets/1/acknowledge")
    assert r.status_code == 405 and r.headers["content-type"] == "text/html; charset=utf-8"
    assert "Method Not Allowed" in r.text and "Traceback" not in r.text


# -- an incident (a collector of this module's own) --------------------------------------------

DNS_OUTAGE = """\
name: console-incident
duration: 40m
interval: 60s
fleet:
  - profile: site
    count: 5
    capture: {capture}
    hostname: "ws-dns-{{n:02}}"
    subnet: 10.1.0.0/24
    dns_servers: [10.1.0.53]
faults:
  - kind: dns_server_down
    hosts: site
    start: 5m
    end: 25m
    server: 10.1.0.53
"""


@pytest.fixture(scope="module")
def incident_console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveConsole]:
    """Five hosts whose DNS server stops answering: one fleet incident (a few seconds)."""
    folder = tmp_path_factory.mktemp("incident")
    scenario = folder / "dns.yaml"
    scenario.write_text(DNS_OUTAGE.format(capture=ROOT / "tests/fixtures/hosts/sim-linux-healthy"))
    sc = load_scenario(scenario)
    db = folder / "collector.db"
    proc = start_collector(db, folder / "collector.log", config=sc.collector_toml(), console=True)
    try:
        asyncio.run(simulate(sc, CollectorSection(address=proc.address, insecure=True),
                             folder / "spools"))  # fmt: skip
        live = LiveConsole(proc, db, folder)
        done = live.cli("users", "add", USERS["viewer"], "--role", "viewer", "--password-stdin",
                        stdin=PASSWORD + "\n")  # fmt: skip
        assert done.returncode == 0, done.stderr
        yield live
    finally:
        proc.stop()


def test_the_incident_pages_show_the_affected_hosts_and_the_shared_attribute(
    incident_console: LiveConsole,
) -> None:
    client, _ = login(incident_console.url, USERS["viewer"], PASSWORD)
    with closing(client):
        listing = client.get("/incidents").text
        [(inc_id, summary)] = re.findall(r'<td><a href="/incidents/(\d+)">([^<#][^<]*)</a></td>',
                                         listing)  # fmt: skip
        assert summary == "[Network] DNS server 10.1.0.53 not answering fleet-wide"
        assert "<code>10.1.0.53</code>" in listing
        page = client.get(f"/incidents/{inc_id}").text
        assert f"<h1>Incident #{inc_id}: {summary}</h1>" in page
        assert "<dt>Shared attribute</dt><dd><code>10.1.0.53</code></dd>" in page
        assert "<dt>Affected hosts</dt><dd>5</dd>" in page
        hosts = section(page, "h-inc-hosts")
        assert re.findall(r">(ws-dns-\d\d)</a>", hosts) == [f"ws-dns-{n:02}" for n in range(1, 6)]
        tickets = section(page, "h-inc-tickets")
        api = client.get(f"/api/v1/incidents/{inc_id}").json()
        assert (api["group"], api["host_count"], api["state"]) == ("10.1.0.53", 5, "open")
        assert [h["hostname"] for h in api["hosts"]] == [f"ws-dns-{n:02}" for n in range(1, 6)]
        members = client.get(f"/api/v1/tickets?incident={inc_id}&limit=50").json()["items"]
        assert members and all(f'href="/tickets/{t["id"]}"' in tickets for t in members)
        [fleet] = [t for t in members if t["kind"] == "fleet"]
        ticket_page = client.get(f"/tickets/{fleet['id']}").text
        assert f'<a href="/incidents/{inc_id}">incident #{inc_id}</a>' in ticket_page
        overview = client.get("/").text
        assert (
            f'<a href="/incidents/{inc_id}">#{inc_id} {summary}</a> — 5 hosts sharing' in overview
        )
