"""SMART health of every disk smartctl can see: scan, then `smartctl --json -x` per device.

No smartctl on the host (the common case on workstations) gives one "unavailable" error;
a device that cannot be read (permission, standby, RAID controller, garbled JSON) gives an
error naming it, and the other devices still report.
"""

from __future__ import annotations

from agent.parsers import (
    ParseError,
    smartctl_json,
    smartctl_scan_json,
    smartctl_scan_text,
    smartctl_text,
)
from agent.probes.base import DEFAULT_CONTEXT, ProbeContext, ProbeOutput
from agent.records import ParseWarnings, ProbeError, SmartDevice
from agent.sources import Source, SourceTimeout, Unavailable
from agent.specs import SMARTCTL_SCAN, SMARTCTL_SCAN_TEXT, Spec, smartctl_x, smartctl_x_text


class SmartProbe:
    name = "smart"

    def specs(self, os: str) -> tuple[Spec, ...]:
        match os:
            case "windows":
                from agent.probes import windows  # only on Windows: its parsers cost RSS

                return windows.specs("smart")
            case "darwin":
                from agent.probes import macos  # only on macOS

                return macos.specs("smart")
        return (SMARTCTL_SCAN,)

    def collect(self, source: Source, context: ProbeContext = DEFAULT_CONTEXT) -> ProbeOutput:
        match source.os:
            case "windows":
                from agent.probes import windows  # only on Windows: its parsers cost RSS

                return windows.smart(source)
            case "darwin":
                from agent.probes import macos  # only on macOS

                return macos.smart(source)
        text_mode = False
        warnings: list[ParseWarnings] = []
        try:
            devices = smartctl_scan_json.parse(source.read(SMARTCTL_SCAN))
        except Unavailable as exc:
            if not _no_json_option(exc):
                return ProbeOutput(errors=(self._unavailable(exc, ""),))
            # smartctl older than 7.0: the same questions, answered in text.
            try:
                scanned = smartctl_scan_text.parse(source.read(SMARTCTL_SCAN_TEXT))
            except Unavailable as exc2:
                return ProbeOutput(errors=(self._unavailable(exc2, ""),))
            devices, text_mode = scanned.value, True
        found: list[SmartDevice] = []
        errors: list[ProbeError] = []
        for dev in devices:
            if dev.open_error:
                errors.append(ProbeError(self.name, "unavailable", f"{dev.name}: {dev.open_error}"))
                continue
            try:
                if text_mode:
                    spec = smartctl_x_text(dev.name, dev.type)
                    parsed = smartctl_text.parse(source.read(spec), device=dev.name)
                    if parsed.warnings:
                        warnings.append(ParseWarnings(spec.name, parsed.warnings, parsed.examples))
                    found.append(parsed.value)
                else:
                    found.append(smartctl_json.parse(source.read(smartctl_x(dev.name, dev.type))))
            except Unavailable as exc:
                errors.append(self._unavailable(exc, dev.name))
            except ParseError as exc:
                errors.append(ProbeError(self.name, "parse", f"{dev.name}: {exc}"))
        return ProbeOutput(smart=tuple(found), errors=tuple(errors), warnings=tuple(warnings))

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


def _no_json_option(exc: Unavailable) -> bool:
    """smartctl < 7.0 rejects --json: exit status 1 (bit 0, the command line did not parse)
    and "UNRECOGNIZED OPTION: json" / "unrecognized option '--json'" on stdout."""
    said = (exc.output + " " + str(exc)).lower()
    return "exited with status 1" in str(exc) and "option" in said and "json" in said
