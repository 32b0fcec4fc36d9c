"""Probes: one module per domain, each a thin gatherer (pick specs per OS, call parsers).

PROBES is the explicit list the agent runs, in this order; no decorators, no registry.
"""

from agent.probes.base import Probe, ProbeOutput
from agent.probes.disk import DiskProbe
from agent.probes.inventory import InventoryProbe
from agent.probes.smart import SmartProbe

PROBES: tuple[Probe, ...] = (InventoryProbe(), DiskProbe(), SmartProbe())

__all__ = ["PROBES", "DiskProbe", "InventoryProbe", "Probe", "ProbeOutput", "SmartProbe"]
