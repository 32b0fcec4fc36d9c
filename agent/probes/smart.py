"""SMART health of every disk smartctl can see: scan, then `smartctl --json -x` per device.

No smartctl on the host (the common case on workstations) gives one "unavailable" error;
a device that cannot be read (permission, standby, RAID controller, garbled JSON) gives an
error naming it, and the other devices still report.
"""

from __future__ import annotations

from agent.parsers import ParseError, smartctl_json, smartctl_scan_json
from agent.probes.base import ProbeOutput
from agent.records import ProbeError, SmartDevice
from agent.sources import Source, SourceTimeout, Unavailable
from agent.specs import SMARTCTL_SCAN, Spec, smartctl_x


class SmartProbe:
    name = "smart"

    def specs(self, os: str) -> tuple[Spec, ...]:
        return (SMARTCTL_SCAN,)

    def collect(self, source: Source) -> ProbeOutput:
        try:
            devices = smartctl_scan_json.parse(source.read(SMARTCTL_SCAN))
        except Unavailable as exc:
            return ProbeOutput(errors=(self._unavailable(exc, ""),))
        found: list[SmartDevice] = []
        errors: list[ProbeError] = []
        for dev in devices:
            if dev.open_error:
                errors.append(ProbeError(self.name, "unavailable", f"{dev.name}: {dev.open_error}"))
                continue
            try:
                found.append(smartctl_json.parse(source.read(smartctl_x(dev.name, dev.type))))
            except Unavailable as exc:
                errors.append(self._unavailable(exc, dev.name))
            except ParseError as exc:
                errors.append(ProbeError(self.name, "parse", f"{dev.name}: {exc}"))
        return ProbeOutput(smart=tuple(found), errors=tuple(errors))

    def _unavailable(self, exc: Unavailable, device: str) -> ProbeError:
        message = str(exc)
        # smartctl explains failures (open failed, standby, unknown USB bridge) in its JSON.
        try:
            said = smartctl_json.messages(exc.output) if exc.output else ()
        except ParseError:
            said = ()
        if said:
            message += f" ({'; '.join(said)})"
        kind = "timeout" if isinstance(exc, SourceTimeout) else "unavailable"
        return ProbeError(self.name, kind, f"{device}: {message}" if device else message)
