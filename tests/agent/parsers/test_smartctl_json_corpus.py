"""Every real `smartctl --json` output of the shared corpus, against its manifest facts.

The corpus (168 files from prometheus-community/smartctl_exporter's testdata, see its
SOURCE.md) is read in place from ../shared/corpus next to the repository; it is never
copied into the project. Manifest facts per file: kind (device.protocol), model, firmware,
health (PASSED | FAILED | unknown), attributes {id: {name, raw}} for IDs 5, 10, 184, 187,
188, 196, 197, 198, 199, failing_now / failing_now_prefail / failed_in_past (IDs), nvme
{critical_warning, media_errors, percentage_used, available_spare, ...} or null, scsi
{grown_defects, uncorrected_errors, ...} or null, power_on_hours (null when absent),
selftest_failures, ata_error_count (null when absent), smartctl_exit_status.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.parsers import smartctl_json
from tests.agent.parsers import smart_manifest

REPO = Path(__file__).resolve().parents[3]
CORPUS = REPO.parent / "shared" / "corpus" / "smart" / "json"
MANIFEST = CORPUS / "manifest.json"

if not MANIFEST.is_file():
    pytest.skip(f"SMART JSON corpus not found at {CORPUS}", allow_module_level=True)

ENTRIES: list[dict[str, Any]] = json.loads(MANIFEST.read_text("utf-8"))["files"]


def test_manifest_covers_every_file() -> None:
    listed = {e["file"] for e in ENTRIES}
    on_disk = {p.name for p in CORPUS.glob("*.json")} - {"manifest.json"}
    assert listed == on_disk
    assert len(ENTRIES) == 168


@pytest.mark.parametrize("fact", ENTRIES, ids=[e["file"] for e in ENTRIES])
def test_file_matches_manifest(fact: dict[str, Any]) -> None:
    device = smartctl_json.parse((CORPUS / fact["file"]).read_text("utf-8"))
    smart_manifest.check(device, fact, fact["attributes"])
    assert device.smartctl_exit_status == fact["smartctl_exit_status"]
    assert device.device.startswith("/dev/")


def test_corpus_has_the_interesting_cases() -> None:
    # Guard against a silently shrunken corpus: these are the cases the parser must cover.
    kinds = {e["kind"] for e in ENTRIES}
    assert kinds == {"ata", "nvme", "scsi"}
    assert any(e["health"] == "FAILED" for e in ENTRIES)
    assert {4, 8, 64} <= {e["smartctl_exit_status"] for e in ENTRIES}
    assert any((e["scsi"] or {}).get("uncorrected_errors") for e in ENTRIES)
    assert any((e["scsi"] or {}).get("grown_defects") for e in ENTRIES)
    assert any(e["ata_error_count"] for e in ENTRIES)
    assert any(e["attributes"].get("199", {}).get("raw") for e in ENTRIES)
