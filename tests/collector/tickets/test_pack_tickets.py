"""Every ticket the shipped rule pack produces from its firing cases is fully pre-filled:
each required field set, no placeholder text, a summary fit for a queue.

The cases are the rules' own *.test.yaml files (tests/rules/test_rule_cases.py runs them
for their verdicts); here each finding they open goes through the real path to a ticket
(render.draft → store lifecycle → report) and the report is checked part by part."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.engine.casetest import run_file
from collector.engine.evaluate import RuleSet
from collector.engine.load import default_rules_dir, load_rules
from collector.engine.model import Finding
from collector.store import IncomingBatch, SqlStore, StoredRecord, open_store
from collector.store.model import RecordKind
from collector.tickets.policy import TicketPolicy
from collector.tickets.render import draft
from collector.tickets.report import report_of

PACK = default_rules_dir()
RULES = RuleSet(load_rules(PACK).rules)
FIRING: list[tuple[str, Finding]] = []
for _file in sorted(PACK.rglob("*.test.yaml")):
    for _res in run_file(_file, RULES):
        if _res.expect in ("fire", "incident") and _res.opened:
            FIRING.append((f"{_file.name}:{_res.line}:{_res.name}", _res.opened[0]))

# A PCI address (0000:05:00.0) is a component, not a time.
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}|(?<![\d:])\d{2}:\d{2}:\d{2}(?![\d.:])|\b1[6-9]\d{11}\b")
# What a template or a missing fact leaves behind.
PLACEHOLDER = re.compile(
    r"\{[a-z_]+\}|\bNone\b|(?<!/dev/)\bnull\b|\bTODO\b|\bTBD\b|\bFIXME\b|\bXXX\b|<unknown>|"
    r"\bnan\b|\?\?"
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlStore]:
    # Hundreds of tickets open within a second here: no storm breaker for this test.
    policy = TicketPolicy(storm_max_new=100_000)
    s = open_store(f"sqlite:///{tmp_path_factory.mktemp('pack') / 'pack.db'}", policy=policy)
    yield s
    s.close()


def test_every_rule_has_a_firing_case_that_makes_a_ticket() -> None:
    assert len({f.rule.id for _, f in FIRING}) == len(RULES.by_id)


@pytest.mark.parametrize(("case", "finding"), FIRING, ids=[c for c, _ in FIRING])
def test_the_ticket_is_fully_pre_filled(store: SqlStore, case: str, finding: Finding) -> None:
    seq = abs(hash(case)) % 10**12 + 1
    d = draft(finding, None, store.policy)
    record = StoredRecord(seq, RecordKind.EVENT, 1, b"x")
    [result] = store.save_batches(
        [IncomingBatch(finding.agent_id, case, seq, seq, (record,), 1, findings=((seq, d),))]
    )
    [ticket_id] = result.tickets_opened or result.tickets_updated
    ticket = store.get_ticket(ticket_id)
    assert ticket is not None
    report = report_of(store, ticket)
    rule = finding.rule

    # The summary: "[Category] symptom on host", short, nothing volatile.
    assert re.fullmatch(r"\[[A-Z][\w /&-]*\] .+ on \S+", ticket.summary), ticket.summary
    assert ticket.summary.endswith(f" on {ticket.hostname}")
    assert len(ticket.summary) <= 150 and not TIMESTAMP.search(ticket.summary)
    # Routing and urgency.
    assert ticket.priority in ("P1", "P2", "P3", "P4", "P5")
    assert ticket.priority == store.policy.priority(rule.impact.value, rule.urgency.value)
    assert (ticket.impact, ticket.urgency) == (rule.impact.value, rule.urgency.value)
    assert ticket.sla_respond_ms > ticket.created_at_ms
    assert ticket.sla_resolve_ms > ticket.sla_respond_ms
    assert ticket.tier in ("L1", "L2", "L3") and ticket.category
    assert store.policy.group(ticket.tier) != ticket.tier
    # The report's parts, each filled from the rule and the evidence.
    c = ticket.content
    for part in ("symptoms", "cause", "reason", "kb"):
        assert str(c.get(part, "")).strip(), f"{case}: no {part}"
    assert c["kb"].startswith(("https://", "http://")), c["kb"]
    assert c["checked"] and c["host"]["hostname"] == ticket.hostname
    assert rule.tier in c["steps"] and all(c["steps"][rule.tier])
    evidence = dict(ticket.evidence)
    assert evidence.get("values") or evidence.get("events"), f"{case}: no evidence"
    files = store.ticket_files(ticket_id)
    assert {f.name for f in files} >= {"evidence.json"}
    md = report.markdown()
    for heading in ("## Symptoms", "## Evidence", "## Probable cause", "## Already checked",
                    "## What to do", "## Lifecycle", "## Machine-readable"):  # fmt: skip
        assert heading in md, f"{case}: no {heading}"
    for f in files:
        assert f.sha256 in md and len(f.sha256) == 64
    assert f"{rule.id} v{rule.version}" in md and ticket.dedup_key in md
    text_parts = [ticket.summary, c["symptoms"], c["cause"], *c["checked"],
                  *(s for steps in c["steps"].values() for s in steps)]  # fmt: skip
    for text in text_parts:
        assert not PLACEHOLDER.search(text), f"{case}: placeholder in {text!r}"
    # The machine-readable block parses and carries the same facts.
    block = md.split("```json\n")[-1].split("\n```")[0]
    data = json.loads(block)
    assert data["dedup_key"] == ticket.dedup_key and data["rule"]["id"] == rule.id
    assert data["priority"] == ticket.priority and data["assignment_group"]
    assert data["files"] and data["sla"]["respond_by_ms"] == ticket.sla_respond_ms
    # HTML: the same report, escaped, with every section.
    html = report.html()
    assert html.startswith('<article class="rdiag-ticket"') and "<h2>Probable cause</h2>" in html
    assert "<script" not in html


def test_the_pack_case_list_is_not_empty() -> None:
    assert len(FIRING) >= 77
    assert Path(PACK).is_dir()
