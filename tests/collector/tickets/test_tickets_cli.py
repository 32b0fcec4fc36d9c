"""`rdiag-collector tickets …` and `silences …` as real processes on a real store:
filters, the report formats, export, people's actions, the outbox view, and refused
input as one line with exit status 1."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import pytest

from collector.store import open_store
from tests.collector.store.test_store_contract import batch
from tests.collector.tickets.test_lifecycle import finding
from tests.helpers.procs import BIN, ROOT, env

COLLECTOR = str(BIN / "rdiag-collector")


def run(store: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([COLLECTOR, "--store", store, *argv], capture_output=True, text=True,
                          timeout=60, env=env(), cwd=ROOT)  # fmt: skip


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'c.db'}"
    store = open_store(url)
    drafts = [
        finding("a1"),  # P1 L2 disk
        finding("a2", rule="network.dns_timeouts", priority="P4", tier="L1",
                summary="[Network] DNS timeouts on ws-a2", auto_resolve=True),
        finding("a3", rule="boot.kernel_panic", priority="P3", tier="L2",
                summary="[Boot] Kernel panic on ws-a3"),
    ]  # fmt: skip
    store.save_batches(
        [batch(i, i, agent=d.agent_id, findings=((i, d),)) for i, d in enumerate(drafts, 1)]
    )
    store.close()
    return url


def test_list_filters_by_priority_tier_host_and_state(url: str) -> None:
    out = run(url, "tickets", "list")
    assert out.returncode == 0 and "(3 tickets)" in out.stdout
    rows = json.loads(run(url, "tickets", "list", "--priority", "P4", "--json").stdout)
    assert [r["summary"] for r in rows] == ["[Network] DNS timeouts on ws-a2"]
    assert rows[0]["assignment_group"] == "Service Desk" and rows[0]["sla"]["respond_by_ms"]
    rows = json.loads(run(url, "tickets", "list", "--tier", "L2", "--json").stdout)
    assert {r["host"]["hostname"] for r in rows} == {"ws-a1", "ws-a3"}
    rows = json.loads(run(url, "tickets", "list", "--host", "ws-a3", "--json").stdout)
    assert [r["rule"]["id"] for r in rows] == ["boot.kernel_panic"]
    assert json.loads(run(url, "tickets", "list", "--state", "resolved", "--json").stdout) == []


def test_show_renders_markdown_html_and_json(url: str) -> None:
    md = run(url, "tickets", "show", "1")
    assert md.returncode == 0
    assert md.stdout.startswith("# #1 [Disk] Drive sda reports SMART failure on ws-a1")
    for part in ("| Priority | P1 Critical |", "## Evidence", "## What to do", "```json"):
        assert part in md.stdout
    html = run(url, "tickets", "show", "1", "--format", "html").stdout
    assert '<article class="rdiag-ticket" id="ticket-1">' in html
    assert "&lt;email&gt;" in html or "alice@example.com" not in html
    data = json.loads(run(url, "tickets", "show", "1", "--json").stdout)
    assert data["id"] == 1 and data["rule"]["id"] == "disk.smart_health_failed"
    assert {f["name"] for f in data["files"]} == {"smart-sda.txt", "events.log", "evidence.json"}


def test_export_as_csv_jsonl_and_html(url: str, tmp_path: Path) -> None:
    target = tmp_path / "t.csv"
    out = run(url, "tickets", "export", "--format", "csv", "-o", str(target), "--tier", "L2")
    assert out.returncode == 0 and "2 tickets written" in out.stderr
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert {r["hostname"] for r in rows} == {"ws-a1", "ws-a3"} and rows[0]["dedup_key"]
    lines = run(url, "tickets", "export").stdout.splitlines()
    assert len(lines) == 3 and all(json.loads(line)["summary"] for line in lines)
    page = run(url, "tickets", "export", "--format", "html").stdout
    assert page.startswith("<!doctype html>") and page.count("<article") == 3


def test_actions_and_their_refusals(url: str) -> None:
    ok = run(url, "tickets", "ack", "3", "--by", "l2-alice")
    assert ok.returncode == 0 and "ws-a3" in ok.stdout
    again = run(url, "tickets", "ack", "3", "--by", "l2-alice")
    assert (again.returncode, again.stderr.strip()) == (
        1, "rdiag-collector: ticket 3 was already acknowledged")  # fmt: skip
    assert run(url, "tickets", "comment", "3", "user reached", "--by", "l1").returncode == 0
    done = run(url, "tickets", "resolve", "3", "--as", "wont_fix", "--note", "EOL", "--by", "x")
    assert done.returncode == 0
    shown = json.loads(run(url, "tickets", "show", "3", "--json").stdout)
    assert (shown["state"], shown["resolution"]) == ("resolved", "wont_fix")
    assert [n["kind"] for n in shown["notes"]] == ["acknowledged", "comment", "resolved"]
    md = run(url, "tickets", "show", "3").stdout
    assert "| Acknowledged |" in md and "within the response target" in md
    assert "| Assignee | l2-alice |" in md
    missing = run(url, "tickets", "resolve", "99")
    assert (missing.returncode, missing.stderr.strip()) == (1, "rdiag-collector: no ticket #99")
    bad = run(url, "tickets", "resolve", "1", "--as", "maybe")
    assert bad.returncode == 2 and "invalid choice: 'maybe'" in bad.stderr


def test_silences_add_list_remove_and_bad_durations(url: str) -> None:
    out = run(url, "silences", "add", "site", "lab", "--for", "2h", "--reason", "patch night")
    assert out.returncode == 0 and out.stdout.startswith("silence #1: site lab until ")
    [s] = json.loads(run(url, "silences", "list", "--json").stdout)
    assert (s["scope"], s["value"], s["reason"]) == ("site", "lab", "patch night")
    bad = run(url, "silences", "add", "host", "ws-1", "--for", "lots", "--reason", "x")
    assert bad.returncode == 1
    assert bad.stderr.strip() == (
        "rdiag-collector: --for: expected a duration such as 2h or 3d, got 'lots'"
    )
    assert run(url, "silences", "remove", "1").returncode == 0
    gone = run(url, "silences", "remove", "1")
    assert (gone.returncode, gone.stderr.strip()) == (1, "rdiag-collector: no silence #1")


def test_deliveries_without_sinks_say_so(url: str) -> None:
    out = run(url, "tickets", "deliveries")
    assert out.returncode == 0
    assert "no helpdesk sinks configured" in out.stdout
    push = run(url, "tickets", "push", "--sink", "jira")
    assert (push.returncode, push.stderr.strip()) == (
        1, "rdiag-collector: no sink 'jira' has been configured on a running collector yet "
        "(known: none)")  # fmt: skip
