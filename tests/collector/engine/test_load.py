"""Rule files are operator input: every mistake is reported with file:line and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.engine.load import RuleError, default_rules_dir, load_rules, parse_rule
from collector.engine.model import Op, Severity

GOOD = """\
id: disk.test_full
version: 2
title: Test volume full
domain: disk
os: [linux]
severity: high
tier: L1
category: Storage
record: volume
when:
  - {field: used_pct, op: ">=", value: 90}
component: "{mount}"
ticket:
  summary: "{mount} full on {hostname}"
  symptom: "{mount} is {used_pct:.1f}% full"
  cause: "data"
  remediation:
    - "clean {mount}"
"""


def test_a_good_rule_loads_with_its_source_line(tmp_path: Path) -> None:
    rule = parse_rule(GOOD, tmp_path / "r.yaml")
    assert rule.id == "disk.test_full" and rule.version == 2
    assert rule.severity is Severity.HIGH and rule.priority == "P2"
    assert rule.os == ("linux",)
    assert [(c.field, c.op, c.value) for c in rule.when] == [("used_pct", Op.GE, 90)]
    assert rule.source == f"{tmp_path / 'r.yaml'}:1"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("tier: L1", "tier: L9"), r"r\.yaml:7: tier: expected L1, L2 or L3, got 'L9'"),
        (("severity: high", "severity: urgent"), r"r\.yaml:6: severity: expected one of"),
        (("record: volume", "record: nic"), r"r\.yaml:9: record: expected one of"),
        (("field: used_pct", "field: usedpct"), r"r\.yaml:11: when\.0\.field: unknown field"),
        (('op: ">="', 'op: "=~"'), r"r\.yaml:11: when\.0\.op: expected one of"),
        (("version: 2", "version: two"), r"r\.yaml:2: version: expected int, got 'two'"),
        (("version: 2", "version: true"), r"r\.yaml:2: version: expected int"),
        (("title: Test volume full\n", "titel: x\n"), r"r\.yaml:3: titel: unknown key"),
        (("{hostname}", "{host_name}"), r"r\.yaml:14: ticket\.summary: .*unknown field"),
        (("{used_pct:.1f}", "{used_pct.__class__}"), r"ticket\.symptom: .*not allowed"),
        (('- "clean {mount}"', "- 3"), r"ticket\.remediation: expected a non-empty list"),
        (("when:\n  - {field: used_pct, op: \">=\", value: 90}\n", "when: []\n"),
         r"when: expected at least one condition"),
        (("value: 90", "value: [1]"), r"when\.0\.value: expected a number"),
    ],
)  # fmt: skip
def test_mistakes_name_the_file_line_and_key(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    text = GOOD.replace(*change)
    assert text != GOOD
    with pytest.raises(RuleError, match=message):
        parse_rule(text, tmp_path / "r.yaml")


def test_missing_required_key(tmp_path: Path) -> None:
    text = GOOD.replace("domain: disk\n", "")
    with pytest.raises(RuleError, match=r"r\.yaml:1: missing required key 'domain'"):
        parse_rule(text, tmp_path / "r.yaml")


def test_invalid_yaml_gives_its_line(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match=r"r\.yaml:2: not valid YAML: mapping values"):
        parse_rule("id: x\ntitle: a: b\nversion: 1\n", tmp_path / "r.yaml")


def test_yaml_tags_cannot_run_code(tmp_path: Path) -> None:
    text = "!!python/object/apply:os.system ['echo pwned']\n"
    with pytest.raises(RuleError, match="not valid YAML"):
        parse_rule(text, tmp_path / "r.yaml")


def test_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match=r"r\.yaml:1: expected a mapping"):
        parse_rule("- a\n- b\n", tmp_path / "r.yaml")


def test_folder_loading_collects_errors_and_refuses_duplicates(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yaml").write_text(GOOD)  # same id
    (tmp_path / "sub" / "c.yaml").write_text("id: [\n")
    (tmp_path / "a.test.yaml").write_text("not a rule: the test files are skipped")
    (tmp_path / "d.yaml").write_bytes(b"\xff\xfe garbage")
    result = load_rules(tmp_path)
    assert [r.id for r in result.rules] == ["disk.test_full"]
    assert len(result.errors) == 3
    assert any("duplicate rule id 'disk.test_full'" in e for e in result.errors)
    assert any("c.yaml" in e and "not valid YAML" in e for e in result.errors)
    assert any("d.yaml:1: not UTF-8 text" in e for e in result.errors)


def test_missing_folder_is_an_error_not_a_crash(tmp_path: Path) -> None:
    result = load_rules(tmp_path / "nope")
    assert result.rules == () and "rules folder not found" in result.errors[0]


def test_shipped_rules_load_cleanly() -> None:
    result = load_rules(default_rules_dir())
    assert result.errors == ()
    assert {r.id for r in result.rules} >= {"disk.volume_nearly_full", "disk.smart_health_failed"}
