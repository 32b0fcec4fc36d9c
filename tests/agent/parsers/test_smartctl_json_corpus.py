"""Every real `smartctl --json` output of the shared corpus, against its manifest facts.

The corpus (168 files from prometheus-community/smartctl_exporter's testdata, see its
SOURCE.md) is read in place from ../shared/corpus next to the repository; it is never
copied into the project. Manifest facts per file: kind (device.protocol), model, firmware,
health (PASSED | FAILED | unknown), attributes {id: {name, raw}}, nvme {critical_warning,
percentage_used, ...} or null, power_on_hours (null when absent), smartctl_exit_status.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.parsers import smartctl_json

REPO = Path(__file__).resolve().parents[3]
CORPUS = REPO.parent / "shared" / "corpus" / "smart" / "json"
MANIFEST = CORPUS / "manifest.json"

if not MANIFEST.is_file():
    pytest.skip(f"SMART JSON corpus not found at {CORPUS}", allow_module_level=True)

ENTRIES: list[dict[str, Any]] = json.loads(MANIFEST.read_text("utf-8"))["files"]
ATTRIBUTE_FIELDS = {
    "5": "reallocated_sectors",
    "197": "pending_sectors",
    "198": "offline_uncorrectable",
}


def test_manifest_covers_every_file():
    listed = {e["file"] for e in ENTRIES}
    on_disk = {p.name for p in CORPUS.glob("*.json")} - {"manifest.json"}
    assert listed == on_disk
    assert len(ENTRIES) == 168


@pytest.mark.parametrize("fact", ENTRIES, ids=[e["file"] for e in ENTRIES])
def test_file_matches_manifest(fact: dict[str, Any]) -> None:
    device = smartctl_json.parse((CORPUS / fact["file"]).read_text("utf-8"))
    assert device.protocol.lower() == fact["kind"]
    assert device.model == fact["model"]
    assert device.firmware == fact["firmware"]
    assert device.health_known == (fact["health"] != "unknown")
    assert device.health_passed == (fact["health"] != "FAILED")
    assert device.failed == (fact["health"] == "FAILED")
    for attr_id, field in ATTRIBUTE_FIELDS.items():
        if attr_id in fact["attributes"]:
            assert getattr(device, field) == fact["attributes"][attr_id]["raw"], attr_id
        else:
            assert getattr(device, field) == 0, attr_id
    nvme = fact["nvme"] or {}
    assert device.nvme_critical_warning == (nvme.get("critical_warning") or 0)
    assert device.nvme_percentage_used == (nvme.get("percentage_used") or 0)
    assert device.power_on_hours == (fact["power_on_hours"] or 0)
    assert device.smartctl_exit_status == fact["smartctl_exit_status"]
    assert device.device.startswith("/dev/")


def test_corpus_has_the_interesting_cases():
    # Guard against a silently shrunken corpus: these are the cases the parser must cover.
    kinds = {e["kind"] for e in ENTRIES}
    assert kinds == {"ata", "nvme", "scsi"}
    assert any(e["health"] == "FAILED" for e in ENTRIES)
    assert {4, 8, 64} <= {e["smartctl_exit_status"] for e in ENTRIES}
