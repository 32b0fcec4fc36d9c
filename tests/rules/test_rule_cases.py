"""Every case of every shipped rule test file, one pytest item each (what `rules test` runs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.engine.casetest import CaseResult, run_file
from collector.engine.evaluate import RuleSet
from collector.engine.load import default_rules_dir, load_rules

PACK = default_rules_dir()
LOADED = load_rules(PACK)
RULES = RuleSet(LOADED.rules)
FILES = sorted(PACK.rglob("*.test.yaml"))
RESULTS: list[CaseResult] = [res for f in FILES for res in run_file(f, RULES)]


def test_the_pack_loads_without_errors() -> None:
    assert LOADED.errors == ()
    assert len(LOADED.rules) >= 60


def test_every_rule_has_a_firing_and_a_silent_case() -> None:
    expects: dict[str, set[str]] = {}
    for res in RESULTS:
        expects.setdefault(res.rule_id, set()).add(res.expect)
    for rule in LOADED.rules:
        got = expects.get(rule.id, set())
        assert {"fire", "incident"} & got, f"{rule.source}: {rule.id} has no firing case"
        assert "silent" in got, f"{rule.source}: {rule.id} has no silent case"


@pytest.mark.parametrize(
    "result", RESULTS, ids=[f"{Path(r.file).name}:{r.line}:{r.name}" for r in RESULTS]
)
def test_case(result: CaseResult) -> None:
    assert result.passed, result.message
