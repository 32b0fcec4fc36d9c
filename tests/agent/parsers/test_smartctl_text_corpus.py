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

REPO = Path(__file__).resolve().parents[3]
CORPUS = REPO.parent / "shared" / "corpus" / "smart" / "text"
MANIFEST = CORPUS / "manifest.json"

if not MANIFEST.is_file():
    pytest.skip(f"SMART text corpus not found at {CORPUS}", allow_module_level=True)

ENTRIES: list[dict[str, Any]] = json.loads(MANIFEST.read_text("utf-8"))["files"]
ATTRIBUTE_FIELDS = {
    "5": "reallocated_sectors",
    "187": "reported_uncorrect",
    "188": "command_timeout",
    "197": "pending_sectors",
    "198": "offline_uncorrectable",
    "199": "udma_crc_errors",
}
NVME_FIELDS = {
    "critical_warning": "nvme_critical_warning",
    "media_errors": "nvme_media_errors",
    "percentage_used": "nvme_percentage_used",
    "available_spare": "nvme_available_spare",
    "available_spare_threshold": "nvme_available_spare_threshold",
    "unsafe_shutdowns": "nvme_unsafe_shutdowns",
    "error_log_entries": "nvme_error_log_entries",
}
SCSI_FIELDS = {
    "grown_defects": "scsi_grown_defects",
    "uncorrected_errors": "scsi_uncorrected_errors",
}
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
    assert device.protocol.lower() == fact["kind"]
    assert device.model == fact["model"]
    assert device.firmware == fact["firmware"]
    assert device.health_known == (fact["health"] != "unknown")
    assert device.health_passed == (fact["health"] != "FAILED")
    assert device.failed == (fact["health"] == "FAILED")
    expected = fact["attributes"] | ERRATA.get(fact["file"], {})
    attrs = {str(attr.id): attr for attr in device.attributes}
    for attr_id, want in expected.items():
        assert (attrs[attr_id].name, attrs[attr_id].raw) == (want["name"], want["raw"]), attr_id
    for attr_id, field in ATTRIBUTE_FIELDS.items():
        assert getattr(device, field) == expected.get(attr_id, {}).get("raw", 0), attr_id
    failing_now = sorted(a.id for a in device.attributes if a.when_failed == "FAILING_NOW")
    assert failing_now == sorted(fact["failing_now"])
    prefail_now = sorted(
        a.id for a in device.attributes if a.when_failed == "FAILING_NOW" and a.prefailure
    )
    assert prefail_now == sorted(fact["failing_now_prefail"])
    past = sorted(a.id for a in device.attributes if a.when_failed == "In_the_past")
    assert past == sorted(fact["failed_in_past"])
    nvme = fact["nvme"] or {}
    for key, field in NVME_FIELDS.items():
        assert getattr(device, field) == (nvme.get(key) or 0), key
    scsi = fact["scsi"] or {}
    for key, field in SCSI_FIELDS.items():
        assert getattr(device, field) == (scsi.get(key) or 0), key
    assert device.power_on_hours == (fact["power_on_hours"] or 0)
    assert device.selftest_failures == fact["selftest_failures"]
    assert device.ata_error_count == (fact["ata_error_count"] or 0)
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
