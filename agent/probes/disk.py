"""Disk: usage and inodes per mounted filesystem (with read-only remounts), md RAID
state, and per-disk latency and queue counters.

Linux: psutil/statvfs (disk_usage), /proc/mdstat, /proc/diskstats; the growth rate and
the latency over the interval are derived from successive samples (agent/derive.py).
Kernel I/O and filesystem errors arrive as events from the kernel-log follower
(agent/follow.py). Windows and macOS: agent/probes/windows.py and macos.py.
"""

from __future__ import annotations

from agent.parsers import ParseError, disk_usage_json, proc_diskstats, proc_mdstat
from agent.probes.base import DEFAULT_CONTEXT, Gather, ProbeContext, ProbeOutput
from agent.records import Volume
from agent.sources import Source
from agent.specs import DISK_USAGE, DISKSTATS, MDSTAT, Spec


class DiskProbe:
    name = "disk"

    def specs(self, os: str) -> tuple[Spec, ...]:
        match os:
            case "linux":
                return (DISK_USAGE, DISKSTATS, MDSTAT)
            case "windows":
                from agent.probes import windows  # only on Windows: its parsers cost RSS

                return windows.specs("disk")
            case "darwin":
                from agent.probes import macos  # only on macOS

                return macos.specs("disk")
        return ()

    def collect(self, source: Source, context: ProbeContext = DEFAULT_CONTEXT) -> ProbeOutput:
        match source.os:
            case "windows":
                from agent.probes import windows  # only on Windows: its parsers cost RSS

                return windows.disk(source)
            case "darwin":
                from agent.probes import macos  # only on macOS

                return macos.disk(source)
        g = Gather(self.name)
        volumes: tuple[Volume, ...] = ()
        text = g.read(source, DISK_USAGE)
        if text is not None:
            try:
                report = disk_usage_json.parse_report(text)
            except ParseError as exc:
                g.error("parse", f"{DISK_USAGE.name}: {exc}")
            else:
                volumes = report.volumes
                # A mount that did not answer (hung NFS) is a partial failure.
                for f in report.failures:
                    g.error(f.kind, f"{f.mount}: {f.message}")
        disk_io = g.parse(source, DISKSTATS, proc_diskstats.parse) or ()
        # No md driver loaded: no /proc/mdstat, no arrays, nothing wrong.
        raid = g.parse_optional(source, MDSTAT, proc_mdstat.parse) or ()
        return ProbeOutput(
            volumes=volumes, disk_io=disk_io, raid=raid, errors=g.errors, warnings=g.warnings
        )
