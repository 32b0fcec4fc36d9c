"""The rule pack over real data: ../shared/corpus, read in place (skipped where absent).

SMART (1,368 reports from real drives, smartctl JSON and text): each report is what one
drive said; it goes through the agent's parser and is seen by the whole pack for an hour
(three cycles, so persistence rules get their chance). Every report the manifest says is
FAILED, has pending (197) or offline-uncorrectable (198) sectors, or an NVMe critical
warning must produce the matching finding; a report the manifest labels healthy must
produce none from the disk rules.

Kernel (127 console logs, 105 labelled crashes): each log goes through the agent's crash
parser (as the previous boot's report found at the next boot) and its classifier (as live
kernel-log events); a crash the catalog tickets (panic, oops, BUG, lockup, or anything that
ended in a panic) must produce a crash finding of that kind; debug-kernel detector reports
(sanitizers, lockdep, WARN) and crash-free logs must produce none.

Precision and recall per domain are printed at the end of the run (tests/rules/conftest.py).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from agent.parsers import kernel_crash, kernel_log, smartctl_json, smartctl_text
from agent.records import BootInfo, HostInventory, SmartDevice, Snapshot
from collector.engine.evaluate import Engine, RuleSet
from collector.engine.history import HostHistory
from collector.engine.load import default_rules_dir, load_rules
from collector.engine.model import Change, Finding
from tests.agent.parsers.test_kernel_corpus import expected_kind
from tests.rules.conftest import SCORES, Score

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "corpus"
if not (CORPUS / "smart" / "json" / "manifest.json").is_file():
    pytest.skip(f"shared corpus not found at {CORPUS}", allow_module_level=True)

RULES = RuleSet(load_rules(default_rules_dir()).rules)
LINUX = HostInventory(hostname="ws-corpus", os_family="linux", boot_time_unix=1_764_550_800)
T0 = 1_764_550_800_000  # the "next boot" the reports are found at
M = 60_000


def _entries(folder: str) -> list[dict[str, Any]]:
    files: list[dict[str, Any]] = json.loads((CORPUS / folder / "manifest.json").read_text())[
        "files"
    ]
    return files


def _opened(found: list[Finding]) -> list[Finding]:
    return [f for f in found if f.change == Change.OPENED]


# -- SMART ------------------------------------------------------------------------------

SMART_DOMAIN = {r.id for r in RULES.rules if r.subject == "smart"}
# The finding each manifest fact calls for (any of the set); a failed NVMe drive is the
# critical-warning rule's (smartctl says FAILED for any warning bit), temperature-only
# warnings the temperature rule's.
DRIVE_FAILED = {"disk.smart_health_failed", "disk.nvme_critical_warning",
                "disk.smart_temperature_high"}  # fmt: skip


# Healthy by the manifest's label, not by the catalog: kept as known disagreements (they
# count as false positives in the score), so that any other change shows.
DISAGREEMENTS = {
    "sat-Micron_5100_Pro___52x0___5300_SSDs-Micron_5300_MTFDDAK1T9TDS-sda.json": (
        {"disk.smart_secondary_predictors"},
        "End-to-End_Error (184) raw 1: the catalog (DSK-08, Backblaze) treats any 184 > 0 as a"
        " failure predictor; the manifest's labeller does not look at 184",
    ),
    "ssd__Intel__SSDSCKKW128G8__2134C1FE025C.txt": (
        {"disk.smart_temperature_high"},
        "61 °C for the hour the report is replayed: over the catalog's generic 60 °C (DSK-13);"
        " the drive's own SCT limit (100 °C) is not parsed yet, which would rule it out",
    ),
}


def _expected(fact: dict[str, Any]) -> dict[str, set[str]]:
    want: dict[str, set[str]] = {}
    if fact["health"] == "FAILED":
        want["health FAILED"] = DRIVE_FAILED
    attrs = fact.get("attributes") or {}
    if (attrs.get("197") or {}).get("raw", 0) > 0:
        want["pending sectors"] = {"disk.smart_pending_sectors"}
    if (attrs.get("198") or {}).get("raw", 0) > 0:
        want["offline uncorrectable"] = {"disk.smart_offline_uncorrectable"}
    warning = ((fact.get("nvme") or {}).get("critical_warning")) or 0
    if warning:
        want["NVMe critical warning"] = (
            {"disk.smart_temperature_high", "disk.nvme_critical_warning"}
            if warning == 2
            else {"disk.nvme_critical_warning"}
        )
    return want


def _drive(folder: str, fact: dict[str, Any]) -> SmartDevice:
    text = (CORPUS / folder / fact["file"]).read_text("utf-8", errors="replace")
    if folder.endswith("json"):
        return smartctl_json.parse(text)
    return smartctl_text.parse(text, "/dev/sda").value


def _fired(device: SmartDevice) -> set[str]:
    engine, hist = Engine(RULES), HostHistory("corpus")
    fired: set[str] = set()
    for i in range(3):
        snap = Snapshot(T0 + i * 30 * M, LINUX, smart=(device,))
        fired |= {f.rule.id for f in _opened(engine.on_snapshot(hist, LINUX, snap))}
    return fired


@pytest.mark.parametrize("folder", ["smart/json", "smart/text"])
def test_smart_reports_produce_the_findings_their_facts_call_for(folder: str) -> None:
    score = SCORES.setdefault("disk (SMART)", Score())
    misses: list[str] = []
    false_alarms: list[str] = []
    for fact in _entries(folder):
        fired = _fired(_drive(folder, fact)) & SMART_DOMAIN
        want = _expected(fact)
        for what, rules in want.items():
            if fired & rules:
                score.tp += 1
            else:
                score.fn += 1
                misses.append(f"{fact['file']}: {what}, fired {sorted(fired) or 'nothing'}")
        if fact["label"]["class"] == "healthy":
            if fired:
                score.fp += len(fired)
                known = DISAGREEMENTS.get(fact["file"], (set(), ""))[0]
                if fired != known:
                    false_alarms.append(f"{fact['file']}: {sorted(fired)}")
            else:
                score.tn += 1
                if fact["file"] in DISAGREEMENTS:
                    false_alarms.append(f"{fact['file']}: a known disagreement no longer fires")
    assert not misses, f"{len(misses)} missed:\n" + "\n".join(misses[:20])
    assert not false_alarms, f"{len(false_alarms)} healthy reports fired:\n" + "\n".join(
        false_alarms[:20]
    )


# -- kernel crashes -----------------------------------------------------------------------

TICKETED = {"panic", "oops", "bug", "lockup"}
CRASH_RULES = {"boot.kernel_panic", "boot.kernel_oops", "boot.lockup", "cross.storage_caused_crash"}
EVENT_KIND = {
    "panic": {"boot.panic"},
    "oops": {"boot.oops", "boot.bug"},
    "bug": {"boot.bug"},
    "lockup": {"boot.soft_lockup", "boot.hard_lockup", "boot.rcu_stall"},
}


def _crash_findings(text: str) -> list[Finding]:
    engine, hist = Engine(RULES), HostHistory("corpus")
    hist.host_facts = {"os_family": "linux", "hostname": "ws-corpus", "agent_id": "corpus"}
    found: list[Finding] = []
    # As live kernel-log events, a minute before the reboot ...
    for event in kernel_log.parse_dmesg(text, T0 - 10 * M).value:
        found += engine.on_event(hist, event)
    # ... and as the previous boot's crash report, found at the next boot.
    reports = kernel_crash.parse(text, T0 - 10 * M).value[:1]
    crashes = tuple(replace(r, source="pstore", time_ms=T0 - M) for r in reports)
    snap = Snapshot(T0, LINUX, boot=BootInfo(previous_shutdown="unclean", crashes=crashes))
    found += engine.on_snapshot(hist, LINUX, snap)
    return [f for f in _opened(found) if f.rule.id in CRASH_RULES]


def _kind_of(f: Finding) -> str:
    """The crash kind a finding speaks of: a crash report's own, or its event's family."""
    kind = str(f.facts["kind"])
    if f.rule.subject == "crash":
        return kind
    return next((k for k, kinds in EVENT_KIND.items() if kind in kinds), kind)


def test_labelled_kernel_crashes_produce_a_crash_finding_of_their_kind() -> None:
    score = SCORES.setdefault("boot (kernel crashes)", Score())
    problems: list[str] = []
    for fact in _entries("kernel"):
        if fact.get("origin") != "syzkaller":
            continue
        text = (CORPUS / "kernel" / fact["file"]).read_text("utf-8", errors="replace")
        findings = _crash_findings(text)
        if fact["label"] == "none":
            wanted: set[str] = set()
        else:
            kind = expected_kind(fact)
            wanted = {kind} if kind in TICKETED else set()
            if fact.get("panicked"):
                wanted = {kind} if kind in TICKETED else {"panic", kind}
        kinds = {_kind_of(f) for f in findings}
        if wanted:
            if kinds & wanted or (fact.get("panicked") and findings):
                score.tp += 1
            else:
                score.fn += 1
                problems.append(f"{fact['file']} ({fact['title']}): want {wanted}, got {kinds}")
        elif findings:
            score.fp += 1
            problems.append(f"{fact['file']} ({fact['title']}): no ticket wanted, got {kinds}")
        else:
            score.tn += 1
    assert not problems, f"{len(problems)} wrong:\n" + "\n".join(problems[:30])
