"""Simulated hosts for CI: scenario files, a fleet simulator and expected-ticket verification.

A scenario (scenario.py) names a fleet built from capture folders, a timeline of faults
applied to their raw outputs (faults.py), a duration and an interval, and the tickets and
incidents that must result. The simulator (run.py) runs every host's cycles through the
agent's real probes and parsers, its real spool and uplink, over real gRPC to a real
collector, in simulated time; verify.py compares what the collector opened with what the
scenario expects. `rdiag-agent simulate` and the pytest plugin (pytest_plugin.py) drive it.

It lives in the collector's package, not the agent's: it needs YAML and the store, and a
workstation never runs it (agent/launch.py hands `rdiag-agent simulate` over to it).
"""
