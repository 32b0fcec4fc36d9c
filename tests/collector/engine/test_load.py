"""Rule files are operator input: every mistake is reported with file:line and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.engine.load import RuleError, default_rules_dir, load_rules, parse_rule
from collector.engine.model import Level, Severity

GOOD = """\
id: disk.test_full
version: 2
title: Test volume full
domain: disk
os: [linux]
severity: high
impact: medium
urgency: high
reason: writes fail soon
tier: L1
category: Storage
for_each: volume
when: used_pct >= 90
persist: {cycles: 2}
clear: used_pct < 85
component: "{mount}"
evidence:
  fields: [device, fstype]
  series: [used_bytes]
ticket:
  summary: "{mount} full on {hostname}"
  symptoms: "{mount} is {used_pct:.1f}% full"
  cause: "data"
  remediation:
    L1: ["clean {mount}"]
    L2: ["grow {device}"]
  kb: https://example.org/kb/1
"""


def load(text: str, tmp_path: Path, name: str = "test_full.yaml") -> object:
    return parse_rule(text, tmp_path / name)


def test_a_good_rule_loads_with_its_source_line(tmp_path: Path) -> None:
    rule = parse_rule(GOOD, tmp_path / "test_full.yaml")
    assert rule.id == "disk.test_full" and rule.version == 2
    assert rule.severity is Severity.HIGH
    assert (rule.impact, rule.urgency, rule.priority) == (Level.MEDIUM, Level.HIGH, "P2")
    assert rule.os == ("linux",)
    assert rule.when.source == "used_pct >= 90" and rule.clear is not None
    assert rule.persist.cycles == 2
    assert rule.ticket.remediation == {"L1": ("clean {mount}",), "L2": ("grow {device}",)}
    assert rule.evidence.series == ("used_bytes",)
    assert rule.source == f"{tmp_path / 'test_full.yaml'}:1"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("tier: L1", "tier: L9"), r"test_full\.yaml:10: tier: expected L1, L2 or L3, got 'L9'"),
        (("severity: high", "severity: urgent"), r":6: severity: expected one of critical"),
        (("impact: medium", "impact: huge"), r":7: impact: expected one of high, medium, low"),
        (("for_each: volume", "for_each: nic"), r":12: for_each: expected one of host, volume"),
        (("when: used_pct >= 90", "when: usedpct >= 90"), r":13: when: unknown name 'usedpct'"),
        (
            ("when: used_pct >= 90", "when: used_pct >= 'x'"),
            r":13: when: cannot compare a number with a string",
        ),
        (
            ("when: used_pct >= 90", "when: mount.__len__() > 1"),
            r":13: when: unknown function 'mount\.__len__'",
        ),
        (("when: used_pct >= 90", "when: mount.real == 1"), r":13: when: attribute access"),
        (("clear: used_pct < 85", "clear: used_pct <"), r":15: clear: not a valid condition"),
        (
            ("persist: {cycles: 2}", "persist: {cycles: 0}"),
            r":14: persist\.cycles: expected a whole number",
        ),
        (
            ("persist: {cycles: 2}", "persist: {duration: 5 minutes}"),
            r":14: persist\.duration: expected a duration",
        ),
        (("version: 2", "version: two"), r":2: version: expected int, got 'two'"),
        (("title: Test volume full\n", "titel: x\n"), r":3: titel: unknown key"),
        (("id: disk.test_full", "id: disk.other"), r":1: id: expected disk\.test_full"),
        (("domain: disk", "domain: storage"), r":4: domain: expected one of disk, network"),
        (("os: [linux]", "os: [linux, win]"), r":5: os\.1: expected one of linux, windows, darwin"),
        (("{hostname}", "{host_name}"), r":21: ticket\.summary: .*unknown field \{host_name\}"),
        (("{used_pct:.1f}", "{used_pct.__class__}"), r":22: ticket\.symptoms: .*not allowed"),
        (
            ('L1: ["clean {mount}"]', "L3: []"),
            r"ticket\.remediation\.L3: expected a non-empty list",
        ),
        (
            ('L1: ["clean {mount}"]', 'L3: ["x"]'),
            r"ticket\.remediation: the rule's own tier L1 needs steps",
        ),
        (
            ("kb: https://example.org/kb/1", "kb: see wiki"),
            r"ticket\.kb: expected an http\(s\) URL",
        ),
        (
            ("series: [used_bytes]", "series: [mount]"),
            r"evidence\.series\.0: 'mount' is not a numeric field",
        ),
        (
            ("fields: [device, fstype]", "fields: [serial]"),
            r"evidence\.fields\.0: unknown field 'serial'",
        ),
        (('component: "{mount}"', 'component: "{x}"'), r":16: component: .*unknown field \{x\}"),
        (("for_each: volume", "for_each: event"), r"an event rule needs match"),
    ],
)
def test_mistakes_name_the_file_line_and_key(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    text = GOOD.replace(*change)
    assert text != GOOD
    with pytest.raises(RuleError, match=message):
        load(text, tmp_path)


def test_an_event_rule_needs_a_match_and_takes_no_persistence(tmp_path: Path) -> None:
    text = GOOD.replace("for_each: volume", "for_each: event\nmatch: disk.io_error")
    with pytest.raises(RuleError, match="unknown name 'used_pct' for event"):
        load(text, tmp_path)
    ok = """\
id: disk.test_full
version: 1
title: IO
domain: disk
severity: high
impact: medium
urgency: medium
reason: r
tier: L2
category: c
for_each: event
match: [disk.io_error, "disk.nvme_*"]
event_fields: [device]
when: count("disk.io_error", "1h", device=field("device")) >= 3
ticket:
  summary: "I/O errors on {device} on {hostname}"
  symptoms: "{message}"
  cause: c
  remediation: {L2: ["check {device}"]}
"""
    with pytest.raises(RuleError, match=r"bad event kind pattern 'disk\.nvme_\*'"):
        load(ok, tmp_path)
    ok = ok.replace('"disk.nvme_*"', '"disk.nvme.*"')
    rule = load(ok, tmp_path)
    assert rule.match == ("disk.io_error", "disk.nvme.*")  # type: ignore[attr-defined]
    with pytest.raises(RuleError, match="event rules fire on the event"):
        load(ok.replace("ticket:", "persist: {cycles: 2}\nticket:"), tmp_path)


def test_a_fleet_rule_needs_a_grouping_template(tmp_path: Path) -> None:
    fleet = GOOD + "fleet: {group_by: site, min_hosts: 5, within: 1h, summary: 'x'}\n"
    with pytest.raises(RuleError, match=r"fleet\.group_by: expected a template"):
        load(fleet, tmp_path)
    fleet = GOOD + "fleet: {group_by: '{site}', min_hosts: 1, within: 1h, summary: 'x'}\n"
    with pytest.raises(RuleError, match=r"fleet\.min_hosts: expected 2 or more"):
        load(fleet, tmp_path)
    fleet = (
        GOOD
        + "fleet: {group_by: '{site}', min_hosts: 5, within: 1h, summary: '{hosts} at {group}'}\n"
    )
    rule = load(fleet, tmp_path)
    assert rule.fleet.min_hosts == 5 and rule.fleet.within_ms == 3_600_000  # type: ignore[attr-defined]


def test_missing_required_key(tmp_path: Path) -> None:
    text = GOOD.replace("reason: writes fail soon\n", "")
    with pytest.raises(RuleError, match=r"test_full\.yaml:1: missing required key 'reason'"):
        load(text, tmp_path)


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


def test_the_error_shows_where_in_the_condition(tmp_path: Path) -> None:
    text = GOOD.replace("when: used_pct >= 90", "when: used_pct >= 90 and mount > 3")
    with pytest.raises(RuleError) as err:
        load(text, tmp_path)
    lines = str(err.value).splitlines()
    assert lines[1].strip() == "used_pct >= 90 and mount > 3"
    assert lines[2].index("^") == lines[1].index("mount")


def test_folder_loading_collects_errors_and_refuses_duplicates(tmp_path: Path) -> None:
    (tmp_path / "test_full.yaml").write_text(GOOD)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "test_full.yaml").write_text(GOOD)  # same id
    (tmp_path / "sub" / "c.yaml").write_text("id: [\n")
    (tmp_path / "test_full.test.yaml").write_text("not a rule: the test files are skipped")
    (tmp_path / "d.yaml").write_bytes(b"\xff\xfe garbage")
    (tmp_path / "e.yaml").write_text(
        GOOD.replace("disk.test_full", "disk.e") + "absorbs: [disk.nothing]\n"
    )
    result = load_rules(tmp_path)
    assert sorted(r.id for r in result.rules) == ["disk.e", "disk.test_full"]
    assert len(result.errors) == 4, result.errors
    assert any("duplicate rule id 'disk.test_full'" in e for e in result.errors)
    assert any("c.yaml" in e and "not valid YAML" in e for e in result.errors)
    assert any("d.yaml:1: not UTF-8 text" in e for e in result.errors)
    assert any("e.yaml:1: absorbs: unknown rule id 'disk.nothing'" in e for e in result.errors)


def test_missing_folder_is_an_error_not_a_crash(tmp_path: Path) -> None:
    result = load_rules(tmp_path / "nope")
    assert result.rules == () and "rules folder not found" in result.errors[0]


def test_shipped_rules_load_cleanly() -> None:
    result = load_rules(default_rules_dir())
    assert result.errors == ()
    assert {r.id for r in result.rules} >= {"disk.volume_nearly_full", "disk.smart_health_failed"}
