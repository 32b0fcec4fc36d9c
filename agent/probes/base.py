"""What every probe is and returns; re-exported by agent.probes.

Kept apart from __init__.py so probe modules can import it while the package builds PROBES.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from agent.records import HostInventory, ProbeError, SmartDevice, Volume
from agent.sources import Source
from agent.specs import Spec


@dataclass(frozen=True, slots=True)
class ProbeOutput:
    """Records a probe found, and its partial failures (one device unreadable, ...).

    A probe that cannot run at all raises instead (Unavailable, ParseError, anything);
    the runner turns that into a ProbeError.
    """

    inventory: HostInventory | None = None
    volumes: tuple[Volume, ...] = ()
    smart: tuple[SmartDevice, ...] = ()
    errors: tuple[ProbeError, ...] = ()


class Probe(Protocol):
    @property
    def name(self) -> str: ...

    def specs(self, os: str) -> tuple[Spec, ...]:
        """The specs this probe reads up front on `os` (capture uses them); specs found
        while collecting (smartctl per device) are not listed."""
        ...

    def collect(self, source: Source) -> ProbeOutput: ...


def not_yet(probe: str, os: str) -> ProbeOutput:
    return ProbeOutput(errors=(ProbeError(probe, "unavailable", f"not implemented on {os} yet"),))
