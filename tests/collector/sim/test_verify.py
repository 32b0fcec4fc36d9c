"""VERIFY: a scenario's expect: against hand-built tickets, and the CLI on a real run."""

from __future__ import annotations

import asyncio
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from agent.config import CollectorSection
from collector.sim.run import simulate
from collector.sim.scenario import Scenario, load_scenario
from collector.sim.verify import Observed, SeenIncident, SeenTicket, VerifyReport, verify
from tests.helpers.procs import BIN, ROOT, env, start_collector

CAPTURE = ROOT / "tests" / "fixtures" / "hosts" / "sim-linux-healthy"
SCENARIOS = ROOT / "tests" / "scenarios"
COLLECTOR = str(BIN / "rdiag-collector")


def scenario(tmp_path: Path, expect: str) -> Scenario:
    """Four office hosts (ws-001..004) and two lab hosts (lab-1, lab-2)."""
    path = tmp_path / "s.yaml"
    path.write_text(
        f"""\
name: verify-test
duration: 1h
fleet:
  - profile: office
    count: 4
    capture: {CAPTURE}
    hostname: "ws-{{n:03}}"
  - profile: lab
    count: 2
    capture: {CAPTURE}
    hostname: "lab-{{n}}"
expect:
{expect}""",
        encoding="utf-8",
    )
    return load_scenario(path)


_ids = iter(range(1, 1_000_000))


def host(
    name: str, rule: str = "disk.full", *, id: int = 0, priority: str = "P2", tier: str = "L1",
    state: str = "open", component: str = "/", incident_id: int | None = None,
    storm_id: int | None = None,
) -> SeenTicket:  # fmt: skip
    return SeenTicket(
        id=id or next(_ids), rule_id=rule, kind="host", agent_id=f"sim-{name}", hostname=name,
        component=component, priority=priority, tier=tier, state=state,
        incident_id=incident_id, storm_id=storm_id,
    )  # fmt: skip


def fleet(
    rule: str, group: str, hosts: list[str], *, id: int, incident: int, priority: str = "P2",
    state: str = "open",
) -> SeenTicket:  # fmt: skip
    return SeenTicket(id=id, rule_id=rule, kind="fleet", agent_id="", hostname="fleet",
                      component=group, priority=priority, tier="L1", state=state,
                      hosts=tuple(f"sim-{h}" for h in hosts), incident_id=incident)  # fmt: skip


def run(
    s: Scenario, *tickets: SeenTicket, incidents: tuple[SeenIncident, ...] = ()
) -> VerifyReport:
    return verify(s, Observed(tuple(tickets), incidents))


HOSTS_0_3 = """\
  tickets:
    - {rule: disk.full, hosts: "office[0:3]", priority: P2, tier: L1}
"""


def test_one_ticket_per_selected_host_passes(tmp_path: Path) -> None:
    rep = run(scenario(tmp_path, HOSTS_0_3), host("ws-001"), host("ws-002"), host("ws-003"))
    assert rep.passed
    row = rep.rows[0]
    assert row.verdict == "pass" and len(row.tickets) == 3
    table = rep.table()
    assert "3 tickets on 3 hosts P2/L1 open" in table
    assert "nothing else opened (only: true)" in table
    assert "2 checks, 2 passed, 0 failed: PASS" in table


def test_no_ticket_is_missing(tmp_path: Path) -> None:
    rep = run(scenario(tmp_path, HOSTS_0_3), host("ws-001", "disk.other"), host("lab-1"))
    row = rep.rows[0]
    assert not rep.passed
    assert row.verdict == "missing"
    assert row.problems[0].detail == "no host ticket of disk.full on office[0:3]"
    # The two that did open are unexpected (only: true is the default).
    assert {r.tickets[0].hostname for r in rep.unexpected_rows} == {"ws-001", "lab-1"}


def test_wrong_priority_names_the_ticket_and_the_expected_value(tmp_path: Path) -> None:
    bad = host("ws-002", priority="P3", id=502)
    rep = run(scenario(tmp_path, HOSTS_0_3), host("ws-001"), bad, host("ws-003"))
    row = rep.rows[0]
    assert not rep.passed and row.verdict == "wrong priority"
    assert row.problems[0].detail == "#502 ws-002 P3 (expected P2)"
    # A matched ticket with a wrong priority fails its row, not "nothing else opened".
    assert rep.unexpected_rows == ()
    assert "1: wrong priority: #502 ws-002 P3 (expected P2)" in rep.table()
    assert "FAIL" in rep.table().splitlines()[2]


def test_wrong_tier(tmp_path: Path) -> None:
    rep = run(scenario(tmp_path, HOSTS_0_3), host("ws-001"), host("ws-002"),
              host("ws-003", tier="L2", id=603))  # fmt: skip
    assert [p.code for p in rep.rows[0].problems] == ["wrong tier"]
    assert rep.rows[0].problems[0].detail == "#603 ws-003 L2 (expected L1)"


def test_missing_host_of_a_selected_range(tmp_path: Path) -> None:
    rep = run(scenario(tmp_path, HOSTS_0_3), host("ws-001"), host("ws-003", priority="P4"))
    row = rep.rows[0]
    assert row.verdict == "missing hosts, wrong priority"
    assert row.problems[0].detail == "no ticket on ws-002 (1 of 3)"
    assert "ws-003" in row.problems[1].detail


def test_state_open_resolved_and_any(tmp_path: Path) -> None:
    s = scenario(tmp_path, """\
  tickets:
    - {rule: a, hosts: "office[0]", state: open}
    - {rule: b, hosts: "office[0]", state: resolved}
    - {rule: c, hosts: "office[0]", state: any}
    - {rule: d, hosts: "office[0]", state: open}
""")  # fmt: skip
    rep = run(s, host("ws-001", "a"), host("ws-001", "b", state="closed"),
              host("ws-001", "c", state="merged"),
              host("ws-001", "d", state="held", id=77))  # fmt: skip
    assert [r.verdict for r in rep.rows] == ["pass", "pass", "pass", "wrong state"]
    assert rep.rows[3].problems[0].detail == "#77 ws-001 held (expected open)"


def test_a_recurrence_passes_when_one_of_the_hosts_tickets_does(tmp_path: Path) -> None:
    s = scenario(
        tmp_path,
        '  tickets:\n    - {rule: disk.full, hosts: "office[0]", priority: P2, state: open}\n',
    )
    old = host("ws-001", priority="P3", state="resolved")
    new = host("ws-001", priority="P2")
    assert run(s, old, new).passed
    assert not run(s, old).passed


def test_unexpected_ticket_fails_with_only_true(tmp_path: Path) -> None:
    # office[3] is outside office[0:3]: the rule firing there is something else opening.
    rep = run(scenario(tmp_path, HOSTS_0_3), host("ws-001"), host("ws-002"), host("ws-003"),
              host("ws-004", id=904))  # fmt: skip
    assert rep.rows[0].passed and not rep.passed
    [row] = rep.unexpected_rows
    assert row.problems[0].detail == "#904 host disk.full ws-004 P2/L1 open"
    assert "1 failed, 1 unexpected: FAIL" in rep.table()


def test_unexpected_ticket_is_listed_not_failed_with_only_false(tmp_path: Path) -> None:
    s = scenario(tmp_path, "  only: false\n" + HOSTS_0_3)
    rep = run(s, host("ws-001"), host("ws-002"), host("ws-003"), host("ws-004", id=905))
    assert rep.passed and rep.unexpected_rows == ()
    assert [t.id for t in rep.uncovered] == [905]
    table = rep.table()
    assert "also opened (only: false, not checked): 1 tickets" in table
    assert "#905 host disk.full ws-004" in table
    assert "1 checks, 1 passed, 0 failed: PASS" in table


FLEET = """\
  tickets:
    - {rule: cross.dns, kind: fleet, hosts: office, priority: P2}
  incidents:
    - {rule: cross.dns, group: 10.1.0.53, hosts: office}
"""
OFFICE = ["ws-001", "ws-002", "ws-003", "ws-004"]


def members(incident: int) -> list[SeenTicket]:
    return [host(h, "cross.dns", state="merged", incident_id=incident) for h in OFFICE]


def test_merged_host_tickets_are_covered_by_the_expected_fleet_ticket(tmp_path: Path) -> None:
    inc = SeenIncident(1, "cross.dns", "10.1.0.53", "open", tuple(f"sim-{h}" for h in OFFICE))
    tickets = [fleet("cross.dns", "10.1.0.53", OFFICE, id=100, incident=1), *members(1)]
    rep = run(scenario(tmp_path, FLEET), *tickets, incidents=(inc,))
    assert rep.passed, rep.table()
    assert rep.uncovered == ()
    assert rep.rows[0].tickets[0].id == 100


def test_merged_host_tickets_of_an_unexpected_fleet_ticket_fold_into_one_row(
    tmp_path: Path,
) -> None:
    s = scenario(tmp_path, "  tickets: []\n")
    rep = run(s, fleet("cross.dns", "10.1.0.53", OFFICE, id=100, incident=1), *members(1))
    [row] = rep.unexpected_rows
    assert row.tickets[0].id == 100 and len(row.tickets) == 5
    assert row.problems[0].detail.endswith("(+4 folded into it)")


def test_folding_follows_a_chain_and_stops_at_a_missing_holder(tmp_path: Path) -> None:
    # ws-001's I/O ticket went into its root cause, which went into the fleet ticket.
    root = host("ws-001", "cross.dns", id=11, state="merged", incident_id=1)
    symptom = SeenTicket(12, "disk.io", "host", "sim-ws-001", "ws-001", "/", "P3", "L1",
                         "merged", merged_into=11)  # fmt: skip
    orphan = SeenTicket(13, "disk.io", "host", "sim-ws-002", "ws-002", "/", "P3", "L1",
                        "merged", merged_into=999)  # fmt: skip
    f = fleet("cross.dns", "10.1.0.53", OFFICE, id=100, incident=1)
    s = scenario(tmp_path, FLEET.split("  incidents:")[0])
    rep = run(s, f, root, symptom, orphan)
    assert [t.id for t in rep.uncovered] == [13]
    [row] = rep.unexpected_rows
    assert row.tickets == (orphan,)


def test_fleet_ticket_lacking_selected_hosts(tmp_path: Path) -> None:
    tickets = [fleet("cross.dns", "10.1.0.53", OFFICE[:2], id=100, incident=1)]
    rep = run(scenario(tmp_path, "  only: false\n" + FLEET.split("  incidents:")[0]), *tickets)
    row = rep.rows[0]
    assert row.verdict == "missing hosts"
    assert row.problems[0].detail == "#100 lacks ws-003, ws-004 (2 of 4)"


def test_storm_holds_are_unexpected_unless_the_storm_is_expected(tmp_path: Path) -> None:
    storm = SeenTicket(50, "rdiag.storm", "storm", "", "fleet", "", "P2", "L2", "open")
    held = [host(h, state="held", storm_id=50) for h in OFFICE]
    rep = run(scenario(tmp_path, "  tickets: []\n"), storm, *held)
    [row] = rep.unexpected_rows
    assert row.tickets[0].id == 50 and "(+4 folded into it)" in row.problems[0].detail
    expected = scenario(tmp_path, "  tickets:\n    - {rule: rdiag.storm, kind: storm}\n")
    assert run(expected, storm, *held).passed


def test_incident_missing_hosts_and_missing_incident(tmp_path: Path) -> None:
    s = scenario(tmp_path, """\
  only: false
  incidents:
    - {rule: cross.dns, group: 10.1.0.53, hosts: "office[0:3]"}
    - {rule: cross.dns, group: 10.9.9.9}
    - {rule: cross.dns, hosts: "lab"}
""")  # fmt: skip
    inc = SeenIncident(7, "cross.dns", "10.1.0.53", "open", ("sim-ws-001", "sim-ws-003"))
    rep = run(s, incidents=(inc,))
    assert [r.verdict for r in rep.rows] == ["missing hosts", "missing", "missing hosts"]
    assert rep.rows[0].problems[0].detail == "incident 7 (10.1.0.53) lacks ws-002 (1 of 3)"
    assert rep.rows[1].problems[0].detail == "no incident of cross.dns sharing 10.9.9.9"
    assert rep.rows[2].problems[0].detail.endswith("lacks lab-1, lab-2 (2 of 2)")
    everyone = tuple(f"sim-{h}" for h in [*OFFICE, "lab-1", "lab-2"])
    whole = SeenIncident(8, "cross.dns", "10.1.0.53", "resolved", everyone)
    assert [r.verdict for r in run(s, incidents=(whole,)).rows] == ["pass", "missing", "pass"]


def test_junit_xml_counts_and_failures(tmp_path: Path) -> None:
    s = scenario(tmp_path, """\
  tickets:
    - {rule: disk.full, hosts: "office[0:3]", priority: P2}
    - {rule: "x<&\\"y", hosts: lab, component: "C:\\\\"}
  incidents:
    - {rule: cross.dns}
""")  # fmt: skip
    rep = run(s, host("ws-001"), host("ws-002", priority="P3", id=702), host("ws-003"),
              host("lab-1", 'x<&"y', component="C:\\"), host("lab-2", 'x<&"y', component="C:\\"),
              host("ws-004", "odd\x01rule", id=704))  # fmt: skip
    root = ET.fromstring(rep.junit_xml())
    assert root.tag == "testsuites"
    [suite] = root.findall("testsuite")
    assert suite.get("name") == "verify-test"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "3", "0")
    assert root.get("tests") == "4" and root.get("failures") == "3"
    cases = suite.findall("testcase")
    assert [c.get("classname") for c in cases] == [
        "verify-test.tickets", "verify-test.tickets", "verify-test.incidents", "verify-test"
    ]  # fmt: skip
    assert all(c.get("time") == "0" for c in cases)
    by_name = {c.get("name"): c for c in cases}
    assert by_name['host ticket x<&"y on lab component C:\\'].find("failure") is None
    fail = by_name["host ticket disk.full on office[0:3]"].find("failure")
    assert fail is not None
    assert fail.get("message") == "wrong priority: #702 ws-002 P3 (expected P2)"
    assert fail.get("type") == "wrong priority"
    assert fail.text is not None and "s.yaml:" in fail.text and "#702" in fail.text
    incident = by_name["incident cross.dns"].find("failure")
    assert incident is not None and incident.get("message") == "missing: no incident of cross.dns"
    other = by_name["nothing else opened"].find("failure")
    assert other is not None and "#704" in (other.get("message") or "")
    # The control character, which XML 1.0 cannot carry, is replaced, not written.
    assert "odd\ufffdrule" in (other.text or "")


def test_junit_skips_nothing_else_with_only_false(tmp_path: Path) -> None:
    rep = run(scenario(tmp_path, "  only: false\n" + HOSTS_0_3), host("ws-001"), host("ws-002"),
              host("ws-003"), host("lab-1"))  # fmt: skip
    suite = ET.fromstring(rep.junit_xml()).find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("2", "0", "1")
    skipped = suite.findall("testcase")[-1].find("skipped")
    assert skipped is not None and skipped.get("message") == "only: false (1 other tickets)"


def test_json_report(tmp_path: Path) -> None:
    import json

    rep = run(scenario(tmp_path, HOSTS_0_3), host("ws-001"), host("ws-002", tier="L3"))
    out = json.loads(rep.json())
    assert out["passed"] is False
    [row] = out["rows"]
    assert row["verdict"] == "missing hosts, wrong tier"
    assert row["expected"]["hosts"] == "office[0:3]" and row["expected"]["priority"] == "P2"
    assert sorted(t["host"] for t in row["tickets"]) == ["ws-001", "ws-002"]


# --- the CLI on a real run -------------------------------------------------------------


def cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([COLLECTOR, *argv], capture_output=True, text=True, timeout=120,
                          env=env(), cwd=ROOT)  # fmt: skip


def copy_scenario(src: Path, dst: Path, replace: tuple[str, str] = ("", "")) -> Path:
    """src with its capture paths absolute (they are relative to the file), edited."""
    text = src.read_text(encoding="utf-8").replace("capture: ../", f"capture: {src.parent.parent}/")
    if replace[0]:
        assert replace[0] in text
        text = text.replace(*replace)
    dst.write_text(text, encoding="utf-8")
    return dst


@pytest.fixture(scope="module")
def dns_run(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real simulation of network-dns-outage into a real collector's SQLite store."""
    d = tmp_path_factory.mktemp("dns")
    s = load_scenario(SCENARIOS / "network-dns-outage.yaml")
    with start_collector(d / "c.db", d / "c.log", config=s.collector_toml()) as c:
        asyncio.run(simulate(s, CollectorSection(address=c.address, insecure=True), d / "spool"))
    return f"sqlite:///{d / 'c.db'}"


def test_cli_passes_on_a_real_run(dns_run: str, tmp_path: Path) -> None:
    path = copy_scenario(SCENARIOS / "network-dns-outage.yaml", tmp_path / "dns.yaml")
    junit = tmp_path / "j.xml"
    r = cli("--store", dns_run, "verify", str(path), "--junit", str(junit))
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[2].startswith("1  fleet ticket cross.fleet_dns_outage")
    assert "8 hosts" in lines[2] and lines[2].endswith("PASS")
    assert "network-dns-outage: 3 checks, 3 passed, 0 failed: PASS" in r.stdout
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures")) == ("3", "0")


def test_cli_fails_on_a_wrong_expectation(dns_run: str, tmp_path: Path) -> None:
    path = copy_scenario(
        SCENARIOS / "network-dns-outage.yaml", tmp_path / "dns.yaml",
        ("{rule: cross.fleet_dns_outage, kind: fleet}",
         "{rule: cross.fleet_dns_outage, kind: fleet, priority: P4}"),
    )  # fmt: skip
    junit = tmp_path / "j.xml"
    # --store after the subcommand works too.
    r = cli("verify", str(path), "--store", dns_run, "--junit", str(junit))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "1: wrong priority: #" in r.stdout and "(expected P4)" in r.stdout
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    [failure] = suite.iter("failure")
    assert "wrong priority" in (failure.get("message") or "")


def test_cli_bad_scenario_and_missing_store(dns_run: str, tmp_path: Path) -> None:
    bad = copy_scenario(SCENARIOS / "network-dns-outage.yaml", tmp_path / "bad.yaml",
                        ("kind: fleet}", "kind: flet}"))  # fmt: skip
    r = cli("--store", dns_run, "verify", str(bad))
    assert r.returncode == 2
    assert r.stderr.startswith(f"rdiag-collector: {bad}:")
    assert "expected one of host, fleet, storm, problem, got 'flet'" in r.stderr
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1
    good = copy_scenario(SCENARIOS / "network-dns-outage.yaml", tmp_path / "dns.yaml")
    missing = tmp_path / "nope.db"
    r = cli("--store", f"sqlite:///{missing}", "verify", str(good))
    assert (r.returncode, r.stderr) == (
        2, f"rdiag-collector: store error: {missing}: no such SQLite database\n"
    )  # fmt: skip
    assert not missing.exists()
    r = cli("--store", "postgresql+psycopg://nobody@127.0.0.1:1/x", "verify", str(good))
    assert r.returncode == 2 and r.stderr.startswith("rdiag-collector: store error:")
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1
