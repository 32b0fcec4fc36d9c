"""The host report: Markdown, JSON and self-contained HTML, from a real store."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from agent.records import BootInfo, Event, Priority, Severity, Snapshot
from agent.uplink.convert import batch_payload, encode_body
from agent.uplink.spool import SpoolRow
from collector.engine.history import HistoryDelta, RuleState
from collector.ingest import convert
from collector.store import IncomingBatch, SqlStore, TicketDraft, open_store
from collector.web.host_report import host_report, standalone_html
from rdiag_proto.v1 import collector_pb2 as cpb
from tests.collector.web.test_timeline import GIB, MIN, T0, host_snapshot, ingest, volume
from tests.helpers.records import inventory

AGENT = "ws-042"
HOSTILE = "<script>alert(1)</script>"
NOW = T0 + 100 * 10 * MIN
SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    opened = open_store("sqlite:///" + str(tmp_path / "c.db"))
    yield opened
    opened.close()


def fill(store: SqlStore) -> None:
    """A host with a history in every section, one active finding, one ticket, a crash."""
    host = replace(inventory(AGENT), hostname=f"ws-{HOSTILE}")
    snaps = [replace(host_snapshot(i), volumes=(volume(50 * GIB + i * 0.2 * GIB),))
             for i in range(101)]  # fmt: skip
    panic = Event(NOW - 31 * MIN, "kernel", "boot.panic", Severity.CRITICAL, f"panic {HOSTILE}")
    ingest(store, AGENT, [*snaps[:-1], panic], host=host)
    last = replace(snaps[-1], taken_at_ms=NOW + 1, boot=BootInfo(
        "bbbbbbbb", (NOW - 30 * MIN) // 1000, previous_shutdown="unclean"))  # fmt: skip
    state = RuleState("DSK-01", "/", phase="active", opened_ms=NOW - 60 * MIN,
                      last_fire_ms=NOW, occurrences=3, summary="Disk / is 70% full")  # fmt: skip
    ticket = TicketDraft(
        dedup_key=f"{AGENT}/DSK-01//", agent_id=AGENT, hostname=host.hostname,
        rule_id="DSK-01", rule_version=1, component="/", severity="high", priority="P2",
        tier="L1", category="storage", summary="Disk / fills within a day",
        description="Free space.", evidence={"used_pct": 70.0}, observed_at_ms=NOW,
    )  # fmt: skip
    # What the rules made of the last snapshot goes with it, as the ingest commits it.
    seq = store.stream_position(AGENT, "epoch-1") + 1
    rows = [SpoolRow(seq, Priority.NORMAL, "snapshot", encode_body(last, Priority.NORMAL))]
    payload = batch_payload(rows)
    envelope = cpb.Batch(seq_first=seq, seq_last=seq, record_count=1, payload=payload)
    [decoded] = convert.decode_records(envelope, payload)
    store.save_batches([IncomingBatch(
        AGENT, "epoch-1", seq, seq, (decoded.stored,), NOW, inventory=host,
        findings=((seq, ticket),), history=(HistoryDelta(AGENT, states={("DSK-01", "/"): state}),),
    )])  # fmt: skip


def test_an_unknown_host_has_no_report(store: SqlStore) -> None:
    assert host_report(store, "nobody", now_ms=NOW) is None
    with pytest.raises(ValueError, match="window_ms must be positive"):
        host_report(store, "nobody", now_ms=NOW, window_ms=0)


def test_the_report_carries_host_findings_tickets_and_timeline(store: SqlStore) -> None:
    fill(store)
    report = host_report(store, AGENT, now_ms=NOW + 1, window_ms=2 * 86_400_000, max_points=40)
    assert report is not None
    assert report.host.inventory.hostname == f"ws-{HOSTILE}"
    assert [f.state.rule_id for f in report.findings] == ["DSK-01"]
    assert [t.summary for t in report.tickets] == ["Disk / fills within a day"]
    assert report.timeline.snapshots == 40 and report.snapshots_stored == 101
    assert "40 snapshots (sampled from 101) and 1 events" in report.window_text()
    [forecast] = report.timeline.forecasts
    assert forecast.full_at_ms is not None  # +1.2 GiB an hour from 70 GiB of 100


def test_markdown_has_every_part_and_no_raw_html(store: SqlStore) -> None:
    fill(store)
    report = host_report(store, AGENT, now_ms=NOW + 1)
    assert report is not None
    md = report.markdown()
    assert HOSTILE not in md and "ws-&lt;script&gt;" in md
    for text in ("# Host ws-", "## Findings", "DSK-01", "Disk / is 70% full", "## Tickets",
                 "Disk / fills within a day", "### Disk usage", "full in", "### SMART",
                 "### Network", "### Boot history", "Kernel panics: 1"):  # fmt: skip
        assert text in md, text


def test_json_is_serialisable_and_holds_the_plotted_points(store: SqlStore) -> None:
    fill(store)
    report = host_report(store, AGENT, now_ms=NOW + 1, max_points=30)
    assert report is not None
    data = json.loads(json.dumps(report.data()))
    assert data["agent_id"] == AGENT and data["hostname"] == f"ws-{HOSTILE}"
    assert data["findings"][0]["rule_id"] == "DSK-01" and data["findings"][0]["phase"] == "active"
    assert data["tickets"][0]["priority"] == "P2"
    sections = {s["key"]: s for s in data["timeline"]["sections"]}
    assert list(sections) == ["disk", "io", "smart", "network", "boot"]
    [disk_chart] = sections["disk"]["charts"]
    used = next(s for s in disk_chart["series"] if s["name"] == "/")
    assert len(used["points"]) == 30 and used["points"][-1][0] == NOW + 1
    assert any(s["dashed"] for s in disk_chart["series"])
    # The first boot (an hour before T0, after a clean shutdown), the panic, the reboot.
    assert [m["kind"] for m in sections["boot"]["marks"]] == [
        "clean_shutdown", "boot", "panic", "unclean_shutdown", "boot",
    ]  # fmt: skip
    assert data["timeline"]["forecasts"][0]["mount"] == "/"
    assert data["inventory"]["machine_id"] == inventory(AGENT).machine_id


def test_the_standalone_html_is_self_contained_and_parses(store: SqlStore) -> None:
    fill(store)
    report = host_report(store, AGENT, now_ms=NOW + 1)
    assert report is not None
    page = report.html()
    assert page.startswith("<!DOCTYPE html>")
    assert HOSTILE not in page
    # Nothing to fetch: no linked or embedded resource, no CSS import or url().
    assert not re.search(r"\b(src|href)\s*=", page)
    assert "url(" not in page and "@import" not in page
    assert "@media print" in page and "svg .s7 { stroke: #4b5563; }" in page
    root = ET.fromstring(page)  # well-formed as XML, throughout
    svgs = list(root.iter(f"{SVG_NS}svg"))
    charts = sum(len(s.charts) for s in report.timeline.sections)
    assert len(svgs) == charts >= 10
    assert all(s.get("role") == "img" for s in svgs)
    headings = [h.text for h in root.iter("h3")]
    assert headings == ["Disk usage", "Disk latency and errors", "SMART", "Network",
                        "Boot history"]  # fmt: skip
    # The export lists the tickets; the console page's fragment leaves them to the page.
    assert "Disk / fills within a day" in page
    fragment = report.html_fragment()
    assert fragment.startswith('<article class="rdiag-host"') and fragment.endswith("</article>")
    assert "Disk / fills within a day" not in fragment
    assert "Disk / fills within a day" in report.html_fragment(with_tickets=True)


def test_an_empty_history_still_reports_and_says_why(store: SqlStore) -> None:
    ingest(store, AGENT, [Snapshot(T0)])  # a host that sent a bare snapshot, long ago
    report = host_report(store, AGENT, now_ms=T0 + 30 * 86_400_000)
    assert report is not None
    page = report.html()
    ET.fromstring(page)
    assert "No volumes reported in this window." in page
    assert "No boot information or boot events in this window." in page
    assert "No findings." in page and "No tickets." in page


def test_standalone_html_wraps_any_fragment() -> None:
    page = standalone_html('#7 "Disk" & <full>', "<article><p>hello</p></article>",
                           generated_ms=T0)  # fmt: skip
    root = ET.fromstring(page)
    assert root.find("head/title").text == '#7 "Disk" & <full> · rdiag'  # type: ignore[union-attr]
    assert root.find("body/main/article/p").text == "hello"  # type: ignore[union-attr]
    assert "Exported from rdiag at 2025-10-09 08:53 UTC." in page
    assert not re.search(r"\b(src|href)\s*=", page)
