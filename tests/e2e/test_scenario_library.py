"""Every scenario of the library (tests/scenarios/) passes verify against a real collector.

Each runs through the pytest plugin's fixtures: its fleet through the real probes, spools
and uplinks over gRPC to a real collector process, then the verify step on what that
collector stored. healthy-fleet is the false-positive guard: days of every OS, no ticket.
"""

from __future__ import annotations

from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parents[1] / "scenarios"
SCENARIOS = sorted(LIBRARY.glob("*.yaml"))
FAMILIES = ("disk", "network", "drivers", "boot")


def test_the_library_has_a_scenario_per_rule_family_a_mixed_and_a_healthy_fleet() -> None:
    names = {p.stem for p in SCENARIOS}
    for family in FAMILIES:
        assert any(n.startswith(family + "-") for n in names), f"no {family} scenario"
    assert {"mixed-fleet", "healthy-fleet"} <= names


@pytest.mark.slow
@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_a_library_scenario_verifies(simulated_fleet, path: Path) -> None:
    fleet = simulated_fleet(path)
    report = fleet.assert_expected()
    assert fleet.result.snapshots == fleet.result.hosts * fleet.scenario.cycles
    if path.stem == "healthy-fleet":
        assert fleet.collector.tickets() == [], "a healthy fleet opens nothing"
        assert fleet.scenario.duration_s >= 2 * 86400
    else:
        assert report.expectation_rows, "a fault scenario expects something"
