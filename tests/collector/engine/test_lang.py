"""The condition language: what it refuses at load (with where), and what it computes."""

from __future__ import annotations

import pytest

from collector.engine.evaluate import Context
from collector.engine.history import HostHistory
from collector.engine.lang import LangError, T, compile_expression, duration_ms

FACTS = {"used_pct": T.NUM, "mount": T.STR, "read_only": T.BOOL, "failed_units": T.LIST,
         "total_bytes": T.NUM, "used_bytes": T.NUM}  # fmt: skip


def run(text: str, **facts: object) -> object:
    compiled = compile_expression(text, FACTS, "volume")
    return compiled.fn(facts, Context(HostHistory("a1"), 0, "volume"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mount.__class__ == 'x'", "attribute access"),
        ("failed_units[0] == 'x'", "indexing"),
        ("__import__('os') == 1", "unknown function '__import__'"),
        ("open('/etc/passwd') == 'x'", "unknown function 'open'"),
        ("(lambda: 1)() == 1", "unknown function 'lambda: 1'"),
        ("[x for x in failed_units] == []", "ListComp is not allowed"),
        ("(x := 5) > 1", "NamedExpr is not allowed"),
        ("used_pct ** 99999999 > 1", "BinOp is not allowed"),
        ("mount * 100000000 == 'x'", "* needs numbers, got string and number"),
        ("f'{mount}' == 'x'", "JoinedStr is not allowed"),
        ("used_pct > 'high'", "cannot compare a number with a string"),
        ("mount > 5", "cannot compare a string with a number"),
        ("read_only < true", "need numbers, got boolean"),
        ("used_pct", "must be true or false, this is a number"),
        ("used > 5", "unknown name 'used' for volume"),
        ("used_pct >= 95 and", "not a valid condition"),
        ("count('disk.io_error', '1y') > 1", "expected a duration"),
        ("count('disk.io_error', '90d') > 1", "at most 30d"),
        ("count('Disk IO', '1h') > 1", "bad event kind pattern"),
        ("count(mount, '1h') > 1", "needs a quoted kind"),
        ("delta(mount, '1h') > 1", "needs a numeric field of volume"),
        ("delta(used_pct) > 1", "takes 2 argument(s), got 1"),
        ("delta(used_pct, '1h', x=1) > 1", "takes no name=value filters"),
        ("attr(5) > 1", "only for `for_each: smart` rules"),
        ("len(mount) > 1", "argument of len() must be a list"),
        ("used_pct in [1, 'a']", "`in` list items must be number literals"),
        ("b'x' == mount", "literal b'x' is not allowed"),
        ("None == mount", "literal None is not allowed"),
    ],
)
def test_refused_at_load_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(LangError) as err:
        compile_expression(text, FACTS, "volume")
    assert message in str(err.value)


def test_the_error_column_points_at_the_offending_part() -> None:
    with pytest.raises(LangError) as err:
        compile_expression("used_pct >= 95 and mount > 5", FACTS, "volume")
    assert err.value.col == len("used_pct >= 95 and ")


def test_folded_yaml_text_is_one_expression() -> None:
    assert run("used_pct >= 95\n  and not read_only", used_pct=96.0, read_only=False) is True


@pytest.mark.parametrize(
    ("text", "facts", "expected"),
    [
        ("used_pct >= 95", {"used_pct": 94.96}, False),
        ("used_pct >= 95", {"used_pct": 95.0}, True),
        ("80 <= used_pct < 95", {"used_pct": 90}, True),
        ("80 <= used_pct < 95", {"used_pct": 95}, False),
        ("mount in ['/', '/home']", {"mount": "/home"}, True),
        ("mount not in ('/', '/home')", {"mount": "/home"}, False),
        ("'ssh.service' in failed_units", {"failed_units": ("ssh.service",)}, True),
        ("len(failed_units) >= 2", {"failed_units": ("a",)}, False),
        ("used_bytes / total_bytes > 0.5", {"used_bytes": 6, "total_bytes": 10}, True),
        ("used_bytes / total_bytes > 0.5", {"used_bytes": 6, "total_bytes": 0}, False),
        ("used_bytes % total_bytes == 0", {"used_bytes": 6, "total_bytes": 0}, True),
        ("read_only == false or used_pct > 99", {"read_only": True, "used_pct": 50}, False),
        ("(1 if read_only else 2) == 2", {"read_only": False}, True),
        ("max(used_pct, 10, -abs(used_pct)) == 10", {"used_pct": 5}, True),
        ("contains(mount, 'home') and mount + '/x' == '/home/x'", {"mount": "/home"}, True),
    ],
)
def test_it_computes_what_it_reads_like(
    text: str, facts: dict[str, object], expected: bool
) -> None:
    assert run(text, **facts) is expected


def test_no_builtins_reach_a_compiled_condition() -> None:
    compiled = compile_expression("used_pct > 1", FACTS, "volume")
    assert compiled.fn.__globals__["__builtins__"].keys() == {"len", "abs", "min", "max"}


def test_what_a_condition_reads_is_known_after_compiling() -> None:
    c = compile_expression(
        "delta(used_bytes, '6h') > 0 and count('disk.*|boot.panic', '30m', device=mount) > 0",
        FACTS, "volume",
    )  # fmt: skip
    assert c.series == {"used_bytes"}
    assert c.kinds == {"disk.*|boot.panic"}
    assert c.windows_ms == {6 * 3_600_000, 30 * 60_000}
    assert c.names == {"mount"}


@pytest.mark.parametrize(
    ("text", "ms"), [("90s", 90_000), ("10m", 600_000), ("1.5h", 5_400_000), ("7d", 604_800_000)]
)
def test_durations(text: str, ms: int) -> None:
    assert duration_ms(text) == ms


@pytest.mark.parametrize("text", ["0s", "10", "10 min", "31d", "-1h", ""])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        duration_ms(text)
