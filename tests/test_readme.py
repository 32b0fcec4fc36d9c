"""README stays true: its configuration reference names every key, and only real ones."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.config import AgentConfig
from collector.config import CollectorConfig
from tests.test_packaging import declared_keys

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def reference_keys(heading: str) -> set[str]:
    """The keys of the table under '### heading': a first cell `section.key`, or for a
    nested section `sinks.jira.url`, `.email`, ... (siblings of the first key)."""
    part = README.split(f"### {heading}\n", 1)[1].split("\n#", 1)[0]
    keys: set[str] = set()
    for cell in re.findall(r"^\| (`[a-z_.]+`(?:, `\.[a-z_]+`)*) \|", part, re.M):
        first, *siblings = re.findall(r"`([a-z_.]+)`", cell)
        keys.add(first)
        prefix = first.rsplit(".", 1)[0]
        keys.update(prefix + sibling for sibling in siblings)
    return keys


@pytest.mark.parametrize(
    ("heading", "cls"), [("Agent", AgentConfig), ("Collector", CollectorConfig)]
)
def test_configuration_reference_is_complete(heading: str, cls: type) -> None:
    assert reference_keys(heading) == declared_keys(cls)


def test_quick_start_targets_exist() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for target in re.findall(r"`make (\w+)`", README):
        assert re.search(rf"^{target}:", makefile, re.M), target
    assert "make demo" in README and "make test" in README


def test_performance_table_has_figures() -> None:
    section = README.split("## Performance", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) > 5
    assert re.search(r"\d{4}-\d{2}-\d{2}", section), "the table says when it was measured"
