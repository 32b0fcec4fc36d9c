"""Disk usage per mounted filesystem (Linux; Windows and macOS come with their specs)."""

from __future__ import annotations

from agent.parsers import disk_usage_json
from agent.probes.base import ProbeOutput, not_yet
from agent.records import ProbeError
from agent.sources import Source
from agent.specs import DISK_USAGE, Spec


class DiskProbe:
    name = "disk"

    def specs(self, os: str) -> tuple[Spec, ...]:
        return (DISK_USAGE,) if os == "linux" else ()

    def collect(self, source: Source) -> ProbeOutput:
        match source.os:
            case "linux":
                report = disk_usage_json.parse_report(source.read(DISK_USAGE))
            case other:
                return not_yet(self.name, other)
        # A mount that did not answer (hung NFS) is a partial failure, not a failed probe.
        errors = tuple(
            ProbeError(self.name, f.kind, f"{f.mount}: {f.message}") for f in report.failures
        )
        return ProbeOutput(volumes=report.volumes, errors=errors)
