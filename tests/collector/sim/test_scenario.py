"""Scenario files: what loads, and the file:line error for what does not."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from collector.sim.scenario import ScenarioError, load_scenario

ROOT = Path(__file__).resolve().parents[3]
HEALTHY = ROOT / "tests" / "fixtures" / "hosts" / "sim-linux-healthy"
LIBRARY = ROOT / "tests" / "scenarios"

BASE = f"""\
name: t
duration: 2h
interval: 60s
fleet:
  - profile: office
    count: 12
    capture: {HEALTHY}
    hostname: "ws-{{n:02}}"
    subnet: 10.1.0.0/24
    dns_servers: [10.1.0.53]
faults:
  - kind: dns_server_down
    hosts: office[0:5]
    start: 30m
    end: 1h
    server: 10.1.0.53
expect:
  tickets:
    - {{rule: cross.fleet_dns_outage, kind: fleet, priority: P2}}
    - {{rule: disk.volume_nearly_full, hosts: "office[3]", component: /home}}
"""


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return load_scenario(path)


def error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ScenarioError) as exc:
        load(tmp_path, text)
    return str(exc.value)


def test_a_scenario_loads_with_its_fleet_faults_and_expectations(tmp_path: Path) -> None:
    sc = load_scenario((tmp_path / "s.yaml", (tmp_path / "s.yaml").write_text(BASE))[0])
    assert (sc.name, sc.duration_s, sc.interval_s, sc.cycles) == ("t", 7200, 60, 120)
    hosts = sc.hosts()
    assert [h.hostname for h in hosts[:2]] == ["ws-01", "ws-02"]
    assert hosts[0].agent_id == "sim-ws-01"
    assert [h.address for h in hosts[:2]] == ["10.1.0.10", "10.1.0.11"]
    (fault,) = sc.faults
    assert (fault.kind, fault.start_s, fault.end_s) == ("dns_server_down", 1800, 3600)
    assert [h.hostname for h in fault.hosts.pick(hosts)] == [f"ws-0{i}" for i in range(1, 6)]
    fleet, volume = sc.expect.tickets
    assert (fleet.kind, fleet.priority, fleet.hosts) == ("fleet", "P2", None)
    assert volume.hosts is not None
    assert [h.hostname for h in volume.hosts.pick(hosts)] == ["ws-04"]
    assert sc.expect.only is True


def test_the_collector_settings_are_toml_with_the_observed_clock(tmp_path: Path) -> None:
    text = BASE.replace("fleet:\n", 'collector:\n  rules: {sites: ["a=10.1.0.0/16"]}\nfleet:\n', 1)
    sc = load(tmp_path, text)
    tree = tomllib.loads(sc.collector_toml())  # type: ignore[attr-defined]
    assert tree == {"rules": {"sites": ["a=10.1.0.0/16"]}, "store": {"clock": "observed"}}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("duration: 2h", "duration: 2 hours"), ":2: duration: expected a duration"),
        (("interval: 60s", "interval: 0.5s"), ":3: interval: expected at least 1s"),
        (("count: 12", "count: 0"), ":6: fleet.0.count: expected 1..100000"),
        (("capture: ", "capture: /nonexistent"), ":7: fleet.0.capture: /nonexistent"),
        (('"ws-{n:02}"', '"ws"'), ":8: fleet.0.hostname: every host needs its own name"),
        (("10.1.0.0/24", "10.1.0.0/29"), ":9: fleet.0.subnet: expected an IPv4 network"),
        (("[10.1.0.53]", "[dns.example]"), ":10: fleet.0.dns_servers.0: 'dns.example' is not"),
        (("dns_server_down", "dns_down"), ":12: faults.0.kind: unknown fault kind 'dns_down'"),
        (("office[0:5]", "office[0:50]"), ":13: faults.0.hosts: 'office[0:50]' is outside"),
        (("office[0:5]", "desk"), ":13: faults.0.hosts: no profile 'desk'"),
        (("end: 1h", "end: 10m"), ":15: faults.0.end: expected a time after start"),
        (("server: 10.1.0.53", "srv: 10.1.0.53"), ":16: faults.0.srv: not a parameter"),
        (("priority: P2", "priority: high"), ":19: expect.tickets.0.priority: expected one of"),
        (('hosts: "office[3]", ', ""), ":20: expect.tickets.1: a host ticket names its hosts"),
        (("name: t", "name: a b"), ":1: name: expected 1-64 letters"),
        (("expect:", "expected:"), ":17: expected: unknown key"),
    ],
)
def test_a_mistake_is_reported_with_its_line_and_key(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    old, new = change
    assert old in BASE
    assert message in error(tmp_path, BASE.replace(old, new, 1))


def test_not_yaml_and_not_a_file_are_errors_too(tmp_path: Path) -> None:
    assert "not valid YAML" in error(tmp_path, "name: [t\n")
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.yaml")


def test_a_fault_on_hosts_of_an_os_it_does_not_know_is_refused(tmp_path: Path) -> None:
    mac = ROOT / "tests" / "fixtures" / "hosts" / "sim-macos12-intel-imac"
    text = (
        BASE.replace(str(HEALTHY), str(mac))
        .replace("kind: dns_server_down", "kind: volume_fill")
        .replace("server: 10.1.0.53", "mount: /\n    rate: 1GB/h")
    )
    assert "volume_fill applies to linux, windows hosts, not darwin" in error(tmp_path, text)


@pytest.mark.parametrize("path", sorted(LIBRARY.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_library_scenario_loads(path: Path) -> None:
    sc = load_scenario(path)
    assert sc.hosts()
    assert sc.expect.only, "a library scenario says everything it expects"


def test_readme_lists_every_fault_kind_with_its_parameters() -> None:
    from collector.sim.faults import kinds

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name, kind in kinds().items():
        line = next((ln for ln in readme.splitlines() if ln.startswith(f"| `{name}` |")), None)
        assert line is not None, f"README's fault table lacks {name}"
        for param in kind.params:
            assert f"`{param}`" in line, f"README: {name} lacks its parameter {param}"
