"""Probes: one module per domain, each a thin gatherer (pick specs per OS, call parsers).

PROBES is the explicit list the agent runs, in this order; no decorators, no registry.
Windows and macOS gathering lives in agent/probes/windows.py and macos.py, called by the
domain probes, so that each domain reads the same on every OS.
"""

from agent.probes.base import Probe, ProbeContext, ProbeOutput
from agent.probes.boot import BootProbe
from agent.probes.disk import DiskProbe
from agent.probes.drivers import DriversProbe
from agent.probes.inventory import InventoryProbe
from agent.probes.network import NetworkProbe
from agent.probes.smart import SmartProbe

PROBES: tuple[Probe, ...] = (
    InventoryProbe(),
    DiskProbe(),
    SmartProbe(),
    NetworkProbe(),
    DriversProbe(),
    BootProbe(),
)

__all__ = [
    "PROBES",
    "BootProbe",
    "DiskProbe",
    "DriversProbe",
    "InventoryProbe",
    "NetworkProbe",
    "Probe",
    "ProbeContext",
    "ProbeOutput",
    "SmartProbe",
]
