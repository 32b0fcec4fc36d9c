"""The pytest plugin's example, as a CI pipeline would write it (README: "Simulated fleets in CI").

Copy this file into your own tests, point SCENARIOS at your scenario files, and run pytest:
the plugin (installed with rdiag) provides the `collector` and `simulated_fleet` fixtures.
Each test gets its own collector process and database; nothing is shared between tests.
"""

from __future__ import annotations

from pathlib import Path

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def test_a_site_dns_outage_opens_one_fleet_incident_and_no_host_ticket(simulated_fleet):
    fleet = simulated_fleet(SCENARIOS / "network-dns-outage.yaml")

    # The scenario's own expect: block (what `rdiag-collector verify` checks).
    fleet.assert_expected()

    # And assertions of our own: one fleet ticket for the network team, naming the server...
    ticket = fleet.assert_ticket("cross.fleet_dns_outage", kind="fleet", state="open")
    assert ticket.component == "10.1.0.53"
    assert ticket.tier == "L1"
    # ... the per-host findings folded into it rather than opened one by one ...
    assert fleet.tickets("cross.fleet_dns_outage", kind="host", state="open") == []
    # ... and nothing at all for site B, on its own DNS server.
    for host in ("ws-b-001", "ws-b-002", "ws-b-003", "ws-b-004"):
        fleet.assert_no_ticket(agent_id=f"sim-{host}")
    # Every simulated cycle reached the collector.
    assert fleet.result.snapshots == 12 * 360


def test_the_collector_fixture_is_a_real_collector(collector):
    # Started on first use, on a free loopback port, with an empty database.
    host, _, port = collector.address.rpartition(":")
    assert host == "127.0.0.1" and int(port) > 0
    assert collector.tickets() == []
