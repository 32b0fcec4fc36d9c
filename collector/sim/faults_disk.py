"""Disk faults: volumes filling, ... (edits of disk_usage, win_volumes, smartctl output)."""

from __future__ import annotations

import json

from collector.sim.faults import FaultKind, Files, HostView, Param, register


@register
class VolumeFill(FaultKind):
    name = "volume_fill"
    doc = "a volume fills at a steady rate (a runaway log, a sync client) until it is full"
    oses = ("linux", "windows")
    params = {
        "mount": Param("str", "the mount point (Linux) or drive letter (Windows: C:)"),
        "rate": Param("rate", "how fast, such as 2GB/h"),
    }

    def state(self, t: float, host: HostView) -> object:
        # Changes every cycle while active; the used bytes are the state.
        return int(self.elapsed(t) * self.p["rate"]) if self.active(t) else None

    def apply(self, files: Files, host: HostView, t: float) -> None:
        grown = int(self.elapsed(t) * self.p["rate"])
        if host.os == "linux" and "disk_usage" in files:
            data = json.loads(files["disk_usage"])
            for m in data.get("mounts", []):
                if m.get("mount") == self.p["mount"]:
                    st = m["statvfs"]
                    blocks = grown // int(st["f_frsize"])
                    st["f_bfree"] = max(0, int(st["f_bfree"]) - blocks)
                    st["f_bavail"] = max(0, int(st["f_bavail"]) - blocks)
            files["disk_usage"] = json.dumps(data)
        elif host.os == "windows" and "win_volumes" in files:
            letter = self.p["mount"].rstrip(":\\").upper()
            volumes = json.loads(files["win_volumes"])
            for v in volumes:
                if (v.get("DriveLetter") or "") == letter:
                    v["SizeRemaining"] = max(0, int(v["SizeRemaining"]) - grown)
            files["win_volumes"] = json.dumps(volumes, separators=(",", ":"))
