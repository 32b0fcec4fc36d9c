"""Every real `smartctl -x` text report of the shared corpus, against its manifest facts.

The corpus (1200 reports from linuxhw/EnterpriseDrive, smartctl 6.6 to 7.5, see its
SOURCE.md) is read in place from ../shared/corpus next to the repository; it is never
copied into the project. Manifest facts per file: kind (ata | nvme | scsi), model, firmware,
health (PASSED | FAILED | unknown), attributes {id: {name, raw}} for IDs 5, 10, 184, 187,
188, 196, 197, 198, 199, failing_now / failing_now_prefail / failed_in_past (IDs), nvme
{critical_warning, media_errors, percentage_used, available_spare, ...} or null, scsi
{grown_defects, uncorrected_errors, ...} or null, power_on_hours, selftest_failures and
ata_error_count (null when absent).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.parsers import smartctl_text
from tests.agent.parsers import smart_manifest

REPO = Path(__file__).resolve().parents[3]
CORPUS = REPO.parent / "shared" / "corpus" / "smart" / "text"
MANIFEST = CORPUS / "manifest.json"

if not MANIFEST.is_file():
    pytest.skip(f"SMART text corpus not found at {CORPUS}", allow_module_level=True)

ENTRIES: list[dict[str, Any]] = json.loads(MANIFEST.read_text("utf-8"))["files"]
# Where the manifest is demonstrably wrong. Its generator skipped attribute rows whose FLAGS
# end in "+" (smartctl's mark for flag bits beyond the six it names), so these two reports'
# "  5 Reallocated_Sector_Ct   PO--CK+  100   100   010    -    704" rows are missing from it
# (7 more files lose a row of raw 0 the same way, which agrees with the default 0).
ERRATA: dict[str, dict[str, dict[str, Any]]] = {
    "hdd__Seagate__ST10000NM0196-2AA131__13E93F11BCF1.txt": {
        "5": {"name": "Reallocated_Sector_Ct", "raw": 704}
    },
    "hdd__Seagate__ST4000NM0265-2DC107__6296927278C2.txt": {
        "5": {"name": "Reallocated_Sector_Ct", "raw": 1}
    },
}


def test_manifest_covers_every_file() -> None:
    listed = {e["file"] for e in ENTRIES}
    on_disk = {p.name for p in CORPUS.glob("*.txt")} - {"LICENSE-CC-BY-4.0.txt"}
    assert listed == on_disk
    assert len(ENTRIES) == 1200


@pytest.mark.parametrize("fact", ENTRIES, ids=[e["file"] for e in ENTRIES])
def test_file_matches_manifest(fact: dict[str, Any]) -> None:
    parsed = smartctl_text.parse((CORPUS / fact["file"]).read_text("utf-8"))
    device = parsed.value
    assert (parsed.warnings, parsed.examples) == (0, ())  # every table row was understood
    smart_manifest.check(device, fact, fact["attributes"] | ERRATA.get(fact["file"], {}))
    assert device.device == ""


def test_errata_name_real_files_whose_manifest_lacks_the_row() -> None:
    by_file = {e["file"]: e for e in ENTRIES}
    for name, attrs in ERRATA.items():
        assert set(attrs).isdisjoint(by_file[name]["attributes"]), name


def test_corpus_has_the_interesting_cases() -> None:
    # Guard against a silently shrunken corpus: these are the cases the parser must cover.
    assert {e["kind"] for e in ENTRIES} == {"ata", "nvme", "scsi"}
    assert {e["health"] for e in ENTRIES} == {"PASSED", "FAILED", "unknown"}
    assert {e["smartctl_version"] for e in ENTRIES} >= {"6.6", "7.0", "7.1", "7.4", "7.5"}
    assert any(e["failing_now_prefail"] for e in ENTRIES)
    assert any(e["failed_in_past"] for e in ENTRIES)
    assert any(e["selftest_failures"] for e in ENTRIES)
    assert any((e["nvme"] or {}).get("critical_warning") for e in ENTRIES)
    assert any((e["nvme"] or {}).get("media_errors") for e in ENTRIES)
    assert any(e["ata_error_count"] for e in ENTRIES)
