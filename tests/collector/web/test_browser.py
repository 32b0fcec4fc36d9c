"""The console in a real browser: Debian's headless Chromium driven by Playwright.

The walk an L2 engineer makes every day: log in, read the fleet overview, open a host
with an open ticket, check its plots, open the ticket, read the diagnostic report and
acknowledge it; then the other pages, and the live feed of new tickets. Every page
gets a basic accessibility pass (one h1, no skipped heading level, labelled form
controls, named charts, a working skip link, an aria-live region) and a full-page
screenshot under test-artifacts/console/ (or $RDIAG_ARTIFACTS/console/).

On the shared `live_console` the walk acknowledges exactly one ticket (the first open,
unacknowledged ticket of the first host on "Hosts needing attention" that has one) and
changes nothing else; the live-feed test opens its ticket on a collector of its own, so
the shared fleet keeps its 40 hosts. Playwright's own browser download is unreachable:
the tests skip, saying so, where /usr/bin/chromium is missing (.ci/run installs it).
"""

from __future__ import annotations

import asyncio
import os
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    ViewportSize,
    expect,
    sync_playwright,
)

from agent.config import CollectorSection
from collector.sim.run import simulate
from collector.sim.scenario import load_scenario
from tests.collector.web.conftest import PASSWORD, USERS, LiveConsole, in_thread
from tests.helpers.procs import ROOT, start_collector

CHROMIUM = Path("/usr/bin/chromium")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}
FLEET_HOSTS = 40  # tests/scenarios/mixed-fleet.yaml
MAX_TABS = 150  # a keyboard user reaches any control of a page in fewer presses than this

# In CI (.ci/run sets CI=true and installs chromium) a missing browser is a failure, not a
# skip: the "done" is these tests passing there.
if os.environ.get("CI") == "true" and not CHROMIUM.exists():
    pytest.fail(f"CI=true but no {CHROMIUM}: .ci/run should have installed chromium",
                pytrace=False)  # fmt: skip

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"no {CHROMIUM}: install Debian's chromium package (.ci/run does, as root) "
        "to run the browser tests; Playwright's own browser download is not reachable",
    ),
    pytest.mark.timeout(240),
]

# One tiny Windows laptop that blue-screens five minutes in: a real ticket through the
# real agent, gRPC, rules and ticket path, a second or two after the simulation starts.
LIVE_SCENARIO = """\
name: live-feed
duration: 20m
interval: 60s
fleet:
  - profile: nb
    count: 1
    capture: {capture}
    hostname: "NB-LIVE-{{n:02}}"
faults:
  - kind: bugcheck
    hosts: nb
    at: [5m]
    stop_code: "0x9f"
"""

# The accessibility pass, run in the page: a list of problems, [] when there is none.
# Accessible names are computed as the spec's simple cases do (aria-label, aria-labelledby,
# <label>, <title>, text); that is what the console's markup uses.
AUDIT_JS = r"""
(loggedIn) => {
  const problems = [];
  const text = (el) => (el ? (el.textContent || "").replace(/\s+/g, " ").trim() : "");
  const byIds = (value) => (value || "").split(/\s+/).filter(Boolean)
    .map((id) => document.getElementById(id));
  const labelledBy = (el) => {
    const refs = byIds(el.getAttribute("aria-labelledby"));
    return refs.length > 0 && refs.every(Boolean) && refs.map(text).join("") !== "";
  };
  const where = (el) => el.outerHTML.slice(0, 120);

  const h1s = document.querySelectorAll("h1");
  if (h1s.length !== 1) problems.push(`${h1s.length} h1 elements, want exactly one`);
  let previous = 0;
  for (const h of document.querySelectorAll("h1, h2, h3, h4, h5, h6")) {
    const level = Number(h.tagName[1]);
    if (level > previous + 1) {
      const after = previous ? `h${previous}` : "the page start";
      problems.push(`heading level skipped: ${after}, then h${level} "${text(h).slice(0, 60)}"`);
    }
    if (!text(h)) problems.push(`empty heading: ${where(h)}`);
    previous = level;
  }

  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden") continue;
    const named = (el.getAttribute("aria-label") || "").trim() !== "" || labelledBy(el)
      || [...el.labels].some((l) => text(l) !== "");
    if (!named) problems.push(`form control without a label: ${where(el)}`);
  }
  for (const el of document.querySelectorAll("button, a[href]")) {
    const named = (el.getAttribute("aria-label") || "").trim() !== "" || labelledBy(el)
      || text(el) !== "";
    if (!named) problems.push(`button or link without a name: ${where(el)}`);
  }

  for (const svg of document.querySelectorAll("svg[role=img]")) {
    const title = [...svg.children].find((c) => c.tagName.toLowerCase() === "title");
    const named = (svg.getAttribute("aria-label") || "").trim() !== "" || labelledBy(svg)
      || text(title) !== "";
    if (!named) problems.push(`chart without a title or aria-label: ${where(svg)}`);
  }

  const ids = new Map();
  for (const el of document.querySelectorAll("[id]")) ids.set(el.id, (ids.get(el.id) || 0) + 1);
  for (const [id, n] of ids) if (n > 1) problems.push(`id "${id}" used ${n} times`);

  const focusable = [...document.querySelectorAll(
    "a[href], button, input, select, textarea, [tabindex]")].filter((el) =>
    !el.disabled && el.type !== "hidden" && el.tabIndex >= 0 && el.getClientRects().length > 0);
  const first = focusable[0];
  if (!first || !first.matches("a.skip[href='#main']")) {
    problems.push(`first focusable element is not the skip link: ${first ? where(first) : "none"}`);
  }
  const main = document.getElementById("main");
  if (!main || main.tagName !== "MAIN") problems.push("the skip link's target #main is not <main>");
  if (document.querySelectorAll("main").length !== 1) problems.push("want exactly one <main>");

  // Reflow: at a desktop width nothing makes the whole page scroll sideways (a wide
  // table cell pushes every line of the page off screen for someone zoomed in).
  const wide = document.documentElement.scrollWidth - window.innerWidth;
  if (wide > 0) problems.push(`the page scrolls sideways by ${wide}px`);

  if (loggedIn) {
    const live = document.getElementById("live");
    const politeness = live ? live.getAttribute("aria-live") : null;
    if (politeness !== "polite" && politeness !== "assertive") {
      problems.push(`live region #live has aria-live=${politeness}`);
    }
  }
  return problems;
}
"""


# -- fixtures ------------------------------------------------------------------------


@dataclass
class Shots:
    """Where the screenshots go, and which this run wrote (old ones are removed first)."""

    folder: Path
    taken: list[Path] = field(default_factory=list)

    def take(self, page: Page, name: str) -> Path:
        path = self.folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        assert_png(path, min_height=VIEWPORT["height"] // 2)
        self.taken.append(path)
        return path


def assert_png(path: Path, min_height: int) -> None:
    data = path.read_bytes() if path.exists() else b""
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG ({len(data)} bytes)"
    # IHDR, the first chunk, holds width and height: a blank 0x0 capture would fail here.
    width, height = struct.unpack(">II", data[16:24])
    assert width >= VIEWPORT["width"] and height >= min_height, (path, width, height)
    assert len(data) > 5_000, f"{path}: {len(data)} bytes, too small to show a page"


def artifacts_folder() -> Path:
    base = os.environ.get("RDIAG_ARTIFACTS", "").strip()
    return (Path(base) if base else ROOT / "test-artifacts") / "console"


@pytest.fixture(scope="module")
def shots() -> Shots:
    folder = artifacts_folder()
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()  # a screenshot left by an earlier run must not pass for this one's
    return Shots(folder)


@pytest.fixture
def browser() -> Iterator[Browser]:
    # Per test, not per module: Playwright's sync API keeps an event loop running in this
    # thread while it is started, and a session fixture set up under it (live_console
    # runs its simulation with asyncio.run) would fail. Pytest sets up the wider-scoped
    # fixtures a test needs before this one, so they never run under a live Playwright.
    with sync_playwright() as p:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                              args=["--no-sandbox"])  # fmt: skip
        try:
            yield b
        finally:
            b.close()


@dataclass
class Watch:
    """What went wrong in the browser: script errors and server errors (5xx)."""

    errors: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("pageerror", lambda exc: self.errors.append(f"script error: {exc}"))
        page.on("response", lambda r: self.errors.append(f"{r.status} {r.url}")
                if r.status >= 500 else None)  # fmt: skip


@pytest.fixture
def context(browser: Browser) -> Iterator[tuple[BrowserContext, Watch]]:
    ctx = browser.new_context(viewport=VIEWPORT, locale="en-GB", timezone_id="UTC")
    ctx.set_default_timeout(15_000)
    watch = Watch()
    ctx.on("page", watch.attach)
    try:
        yield ctx, watch
    finally:
        ctx.close()
    assert watch.errors == [], watch.errors


# -- helpers -------------------------------------------------------------------------


def audit(page: Page, *, logged_in: bool = True) -> None:
    problems = page.evaluate(AUDIT_JS, logged_in)
    assert problems == [], f"{page.url}: {problems}"
    skip_link_works(page)


def skip_link_works(page: Page) -> None:
    """From the top of the page the first Tab lands on the skip link (Shift+Tab where a
    field has autofocus), it shows, and Enter moves focus into <main>."""
    at_top = page.evaluate(
        "document.activeElement === null || document.activeElement === document.body"
    )
    page.keyboard.press("Tab" if at_top else "Shift+Tab")
    skip = page.locator("a.skip")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box is not None and box["x"] >= 0 and box["y"] >= 0 and box["width"] > 0, box
    assert_focus_visible(page)
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()


def assert_focus_visible(page: Page) -> None:
    style = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert style not in ("", "none"), f"no visible focus outline on {page.url}"


def log_in(page: Page, url: str, role: str) -> None:
    page.goto(url + "/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
    page.get_by_label("User name").fill(USERS[role])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(url + "/")


def nav(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()


def open_unacknowledged(table: Locator) -> list[int]:
    """The ids of the table's open tickets nobody acknowledged, in its order."""
    rows: list[list[str]] = table.locator("tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))"
    )
    return [int(cells[0].lstrip("#")) for cells in rows if len(cells) == 8 and cells[5] == "open"]


def drawn_charts(page: Page) -> list[str]:
    """The names of the charts shown on screen with at least one line drawn in them."""
    found = []
    charts = page.locator("svg[role=img]")
    for i in range(charts.count()):
        chart = charts.nth(i)
        box = chart.bounding_box()
        if box is None or box["width"] <= 0 or box["height"] <= 0 or not chart.is_visible():
            continue
        lines = chart.locator("polyline[points], path[d]")
        if any(lines.nth(j).bounding_box() for j in range(lines.count())):
            found.append(chart.evaluate("s => s.querySelector('title')?.textContent ?? ''"))
    return found


# -- the checks themselves -----------------------------------------------------------

BROKEN_PAGE = """<!doctype html><html lang="en"><body>
<a href="/elsewhere">Home</a> <a class="skip" href="#main">Skip to content</a>
<div id="main"><h1>One</h1><h3>Skipped a level</h3><h1>Two</h1>
<input id="q" name="q"><input name="ok" aria-label="Named"><label>Wrapped <select></select></label>
<textarea aria-labelledby="nowhere"></textarea><input type="hidden" name="csrf">
<button></button><span id="q">duplicate id</span>
<svg role="img" width="10" height="10"><polyline points="0,0 5,5"/></svg>
<svg role="img" width="10" height="10"><title>Named chart</title></svg></div>
<pre style="width: 4000px">a line too wide</pre><div id="live"></div></body></html>"""


def test_the_audit_finds_what_it_checks(browser: Browser) -> None:
    """Each check fails on markup that breaks it (and passes what is right on the page)."""
    page = browser.new_page(viewport=VIEWPORT)
    try:
        page.set_content(BROKEN_PAGE)
        problems: list[str] = page.evaluate(AUDIT_JS, True)
        want = [
            "2 h1 elements, want exactly one",
            'heading level skipped: h1, then h3 "Skipped a level"',
            'form control without a label: <input id="q" name="q">',
            'form control without a label: <textarea aria-labelledby="nowhere"></textarea>',
            "button or link without a name: <button></button>",
            'chart without a title or aria-label: <svg role="img" width="10" height="10">'
            '<polyline points="0,0 5,5"></polyline></svg>',
            'id "q" used 2 times',
            'first focusable element is not the skip link: <a href="/elsewhere">Home</a>',
            "the skip link's target #main is not <main>",
            "want exactly one <main>",
            "the page scrolls sideways by 2728px",
            "live region #live has aria-live=null",
        ]
        assert problems == want
        with pytest.raises(AssertionError):
            skip_link_works(page)  # the first Tab lands on "Home", not on the skip link
    finally:
        page.close()


# -- the walk ------------------------------------------------------------------------


def test_login_overview_host_ticket_acknowledge(
    live_console: LiveConsole, context: tuple[BrowserContext, Watch], shots: Shots
) -> None:
    ctx, _ = context
    page = ctx.new_page()
    url = live_console.url

    # Not logged in: the console sends the browser to the login page.
    page.goto(url + "/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("rdiag console")
    shots.take(page, "01-login")
    audit(page, logged_in=False)

    # A wrong password is refused on the page, saying so, and the form stays usable.
    page.get_by_label("User name").fill(USERS["L2"])
    page.get_by_label("Password").fill(PASSWORD + "x")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
    expect(page.get_by_label("User name")).to_have_attribute("aria-describedby", "login-error")

    page.get_by_label("User name").fill(USERS["L2"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(url + "/")

    # The fleet overview.
    expect(page.get_by_role("heading", level=1)).to_have_text("Fleet overview")
    expect(page.locator("header.top")).to_contain_text(f"{USERS['L2']} (L2)")
    glance = page.get_by_role("region", name="At a glance")
    hosts_card = glance.get_by_role("link", name=re.compile(r"^\d+ hosts$"))
    expect(hosts_card.locator(".n")).to_have_text(str(FLEET_HOSTS))
    grid = page.get_by_role("region", name="Open tickets by priority and tier")
    table = grid.get_by_role("table")
    expect(table.get_by_role("columnheader")).to_have_text(["Priority", "L1", "L2", "L3"])
    expect(table.get_by_role("rowheader")).to_have_text(["P1", "P2", "P3", "P4", "P5"])
    cells = [int(t) for t in table.locator("tbody td").all_inner_texts()]
    assert len(cells) == 15, cells
    open_card = glance.get_by_role("link", name=re.compile(r"^\d+ open tickets$"))
    assert sum(cells) == int(open_card.locator(".n").inner_text()) > 0, cells
    expect(page.locator("#live")).to_have_attribute("aria-live", "polite")
    shots.take(page, "02-overview")
    audit(page)

    # Through "Hosts needing attention" to the first host with an open ticket nobody
    # acknowledged yet (other tests on this fleet may have acknowledged some).
    attention = page.get_by_role("region", name="Hosts needing attention").get_by_role("link")
    expect(attention.first).to_be_visible()
    hostname, ticket_id = "", 0
    for i in range(attention.count()):
        hostname = attention.nth(i).inner_text()
        attention.nth(i).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(hostname)
        candidates = open_unacknowledged(page.get_by_role("table", name="Tickets of this host"))
        if candidates:
            ticket_id = candidates[0]
            break
        page.go_back()
    assert ticket_id, "no host on the overview has an open, unacknowledged ticket"

    # The host page: inventory, and charts drawn server-side as inline SVG.
    expect(page).to_have_title(f"{hostname} · rdiag console")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Hosts")
           ).to_have_attribute("aria-current", "page")  # fmt: skip
    charts = page.locator("svg[role=img]")
    expect(charts.first).to_be_visible()
    drawn = drawn_charts(page)
    assert drawn, f"no chart on {page.url} has a line drawn in it"
    shots.take(page, "03-host")
    audit(page)

    # The ticket: the diagnostic report with its evidence, and the actions.
    page.get_by_role("table", name="Tickets of this host").get_by_role(
        "link", name=f"#{ticket_id}", exact=True
    ).click()
    expect(page).to_have_url(f"{url}/tickets/{ticket_id}")
    report = page.locator(".report")
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"#{ticket_id} ")
    expect(report.get_by_role("heading", name="Evidence", level=2)).to_be_visible()
    expect(report.get_by_role("heading", name="Symptoms", level=2)).to_be_visible()
    expect(report).to_contain_text("Condition:")
    status = page.locator(".ticket-head .status")
    expect(status.locator(".badge", has_text="acknowledged")).to_have_count(0)
    ack = page.get_by_role("button", name="Acknowledge", exact=True)
    expect(ack).to_be_visible()
    shots.take(page, "04-ticket")
    audit(page)  # leaves the focus in <main>, where a keyboard user goes next

    # Acknowledge by keyboard: Tab until the button has the focus, then Enter.
    for _ in range(MAX_TABS):
        if ack.evaluate("b => b === document.activeElement"):
            break
        page.keyboard.press("Tab")
    expect(ack).to_be_focused()
    assert_focus_visible(page)
    # And clickable: visible, enabled, not covered. A trial clicks nothing, and comes
    # after the Tabs, since it moves the point the next Tab starts from.
    ack.click(trial=True)
    expect(ack).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{url}/tickets/{ticket_id}?done=saved")
    expect(page.locator("main .flash")).to_have_text("saved")
    expect(page.locator("main .flash")).to_have_attribute("role", "status")
    expect(status.locator(".badge", has_text="acknowledged")).to_be_visible()
    expect(page.get_by_role("button", name="Acknowledge", exact=True)).to_have_count(0)
    expect(page.locator(".notes")).to_contain_text(USERS["L2"])
    shots.take(page, "05-ticket-acknowledged")
    audit(page)

    store = live_console.store()
    try:
        acked = store.get_ticket(ticket_id)
    finally:
        store.close()
    assert acked is not None and acked.acknowledged_ms > 0, acked


def test_hosts_tickets_incidents_rules_silences(
    live_console: LiveConsole, context: tuple[BrowserContext, Watch], shots: Shots
) -> None:
    ctx, _ = context
    page = ctx.new_page()
    log_in(page, live_console.url, "L2")

    nav(page, "Hosts")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hosts")
    expect(page.get_by_role("table", name="Hosts", exact=True).locator("tbody tr")).to_have_count(
        FLEET_HOSTS
    )
    shots.take(page, "06-hosts")
    audit(page)
    # The filter, by its labels: only hosts with open tickets, none of them "healthy".
    page.get_by_label("Show").select_option(label="with open tickets")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"/hosts\?q=&show=open$"))
    rows = page.get_by_role("table", name="Hosts", exact=True).locator("tbody tr")
    expect(rows.first).to_be_visible()
    assert 0 < rows.count() < FLEET_HOSTS, rows.count()
    expect(rows.filter(has_text="healthy")).to_have_count(0)
    audit(page)

    nav(page, "Tickets")
    expect(page.get_by_role("heading", level=1)).to_have_text("Tickets")
    expect(
        page.get_by_role("table", name="Tickets", exact=True).locator("tbody tr").first
    ).to_contain_text("open")
    shots.take(page, "07-tickets")
    audit(page)

    pages = [("Incidents", "Fleet incidents", "08-incidents"), ("Rules", "Rules", "09-rules"),
             ("Silences", "Silences", "10-silences")]  # fmt: skip
    for link, heading, name in pages:
        nav(page, link)
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        expect(page.get_by_role("navigation", name="Main").get_by_role("link", name=link)
               ).to_have_attribute("aria-current", "page")  # fmt: skip
        shots.take(page, name)
        audit(page)
    # The rules page lists the loaded pack with its hit counts.
    nav(page, "Rules")
    expect(page.get_by_role("table", name="Loaded rules")).to_contain_text(
        "disk.volume_nearly_full"
    )
    # An L2 may add a silence: the form is there, every field labelled (the audit above).
    nav(page, "Silences")
    expect(page.get_by_role("button", name="Add silence")).to_be_visible()
    expect(page.get_by_label("Host, site or rule glob")).to_be_visible()

    # A page that is not there says so, as a page with the same landmarks and headings.
    page.goto(live_console.url + "/tickets/999999")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    expect(page.get_by_role("alert")).to_have_text("no ticket #999999")
    audit(page)


# -- the live feed -------------------------------------------------------------------


@pytest.fixture
def own_console(tmp_path: Path) -> Iterator[tuple[LiveConsole, Path]]:
    """A collector of this test's own, empty, with the L2 user: the shared fleet stays as
    the other tests expect it. Yields it and the scenario that opens one ticket."""
    capture = ROOT / "tests" / "fixtures" / "hosts" / "sim-windows11-healthy"
    scenario = tmp_path / "live.yaml"
    scenario.write_text(LIVE_SCENARIO.format(capture=capture))
    db = tmp_path / "collector.db"
    config = load_scenario(scenario).collector_toml()
    proc = start_collector(db, tmp_path / "collector.log", config=config, console=True)
    try:
        live = LiveConsole(proc, db, tmp_path)
        done = live.cli("users", "add", USERS["L2"], "--role", "L2", "--password-stdin",
                        stdin=PASSWORD + "\n")  # fmt: skip
        assert done.returncode == 0, done.stderr
        yield live, scenario
    finally:
        proc.stop()


def test_new_ticket_appears_without_reload(
    own_console: tuple[LiveConsole, Path], context: tuple[BrowserContext, Watch], shots: Shots
) -> None:
    live, scenario = own_console
    ctx, _ = context
    page = ctx.new_page()
    url = live.url
    page.goto(url + "/")
    page.get_by_label("User name").fill(USERS["L2"])
    page.get_by_label("Password").fill(PASSWORD)
    # The overview's live feed is connected before the ticket opens: it arrives live,
    # not as the catch-up a page gets when it connects.
    with page.expect_response(re.compile(r"/events\?after=0$")) as events:
        page.get_by_role("button", name="Log in").click()
    assert events.value.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text("Fleet overview")
    expect(page.locator("#ticket-rows")).to_have_text("No tickets.")
    page.evaluate("window.rdiagNotReloaded = true")

    sc = load_scenario(scenario)
    cfg = CollectorSection(address=live.proc.address, insecure=True)
    join = in_thread(lambda: asyncio.run(simulate(sc, cfg, scenario.parent / "spools")))
    try:
        toast = page.locator("#live .toast")
        expect(toast).to_have_count(1, timeout=60_000)
        expect(toast).to_have_text(
            re.compile(r"^New ticket #1 P2: \[Stability\] Blue screen 0x0000009f on NB-LIVE-01$")
        )
        expect(page.locator("#live")).to_have_attribute("aria-live", "polite")
        row = page.locator("#ticket-rows tr.new")
        expect(row).to_have_count(1)
        expect(page.locator("#ticket-rows tr")).to_have_count(1)  # "No tickets." is gone
        expect(row.get_by_role("link", name="#1", exact=True)).to_have_attribute(
            "href", "/tickets/1"
        )
        assert page.evaluate("window.rdiagNotReloaded === true"), "the overview was reloaded"
        shots.take(page, "11-overview-live-ticket")
    finally:
        join()

    # The toast leads to the ticket; a page that did not list tickets must not replay the
    # old ones as "new" in its live region once its feed connects.
    with page.expect_response(re.compile(r"/events(\?|$)")):
        toast.get_by_role("link").click()
    expect(page).to_have_url(f"{url}/tickets/1")
    page.wait_for_timeout(2_500)  # the feed's catch-up comes at once, its poll every second
    expect(page.locator("#live .toast")).to_have_count(0)
