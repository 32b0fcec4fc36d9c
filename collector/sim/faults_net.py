"""Network faults: DNS servers that stop answering, dead gateways, flapping links, interface
errors, skewed clocks.

Each edits the raw output the network probe reads (agent/probes/network.py on Linux,
windows.py and macos.py elsewhere): the dns_checks JSON, /proc/net/arp and the ping of the
gateway, the sysfs_net JSON (carrier and error counters), Get-NetAdapter's statistics,
chronyc / w32tm / sntp output, and for link flaps the NIC driver's "Link is Down/Up" kernel
lines.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Hashable, Iterable
from pathlib import Path
from typing import Any

from collector.sim.faults import FaultKind, Files, HostView, Param, register
from collector.sim.scenario import Fault


@register
class DnsServerDown(FaultKind):
    name = "dns_server_down"
    doc = "a DNS server stops answering the host's test queries (the checks time out)"
    params = {
        "server": Param("str", "the server's address, as the hosts have it configured"),
    }

    def apply(self, files: Files, host: HostView, t: float) -> None:
        text = files.get("dns_checks")
        if text is None:
            return
        data = json.loads(text)
        timeout_ms = float(data.get("timeout_s", 2.0)) * 1000
        for check in data.get("checks", []):
            if check.get("server") == self.p["server"]:
                check.update(status="timeout", rtt_ms=timeout_ms, answers=0,
                             detail="no answer within the timeout")  # fmt: skip
        files["dns_checks"] = json.dumps(data)


def default_route(files: Files) -> tuple[str, str] | None:
    """(gateway, interface) of the capture's IPv4 default route, from /proc/net/route or
    `ip route`, as the probe reads them (agent/probes/network.py _routes)."""
    text = files.get("net_route")
    if text is not None:
        for line in text.splitlines()[1:]:
            cols = line.split()
            if len(cols) >= 8 and cols[1] == "00000000" and cols[7] == "00000000":
                raw = int(cols[2], 16)  # little-endian dotted quad
                return ".".join(str((raw >> s) & 0xFF) for s in (0, 8, 16, 24)), cols[0]
        return None
    for line in (files.get("ip_route") or "").splitlines():
        words = line.split()
        if words[:2] == ["default", "via"] and "dev" in words:
            return words[2], words[words.index("dev") + 1]
    return None


@register
class GatewayUnreachable(FaultKind):
    name = "gateway_unreachable"
    doc = (
        "the default gateway stops answering (router down, wrong VLAN, 802.1X quarantine): "
        "its ARP entry goes incomplete and the agent's ping gets no reply. Triggers "
        "network.gateway_unreachable after 5 minutes (Linux: only its probe checks gateways)"
    )
    oses = ("linux",)
    params = {
        "gateway": Param(
            "str",
            "the gateway's address; default: the capture's default route",
            required=False,
            default="",
        ),
    }

    def apply(self, files: Files, host: HostView, t: float) -> None:
        route = default_route(files)
        gateway = self.p["gateway"] or (route[0] if route else "")
        interface = route[1] if route else "eth0"
        if not gateway:
            return
        # The kernel keeps the neighbour it keeps asking for as an incomplete entry.
        rows = [
            line
            for line in (files.get("net_arp") or _ARP_HEADER).splitlines()
            if line.split()[:1] != [gateway]
        ]
        rows.append(
            f"{gateway:<17}0x1         0x0         00:00:00:00:00:00     *        {interface}"
        )
        files["net_arp"] = "\n".join(rows) + "\n"
        # iputils ping -c 1 -W 1 with no reply (exit 1, which the spec accepts as data).
        files["ping_gateway"] = (
            f"PING {gateway} ({gateway}) from {interface}: 56(84) bytes of data.\n\n"
            f"--- {gateway} ping statistics ---\n"
            "1 packets transmitted, 0 received, 100% packet loss, time 0ms\n\n"
        )


_ARP_HEADER = "IP address       HW type     Flags       HW address            Mask     Device\n"


def steady_times(fault: Fault, t0: float, t1: float, per_hour: float) -> Iterable[float]:
    """Times in (t0, t1] of something happening at a steady rate while the fault lasts:
    the first at its start, then one every 3600 / per_hour seconds, none from its end."""
    if per_hour <= 0:
        return
    period = 3600 / per_hour
    k = max(0, math.floor((t0 - fault.start_s) / period))
    while True:
        when = fault.start_s + k * period
        if when > t1 or (fault.end_s is not None and when >= fault.end_s):
            return
        if when > t0:
            yield when
        k += 1


def steady_count(fault: Fault, t: float, per_hour: float) -> int:
    """How many of steady_times happened by t (inclusive)."""
    if t < fault.start_s or per_hour <= 0:
        return 0
    period = 3600 / per_hour
    n = math.floor((t - fault.start_s) / period) + 1
    if fault.end_s is not None:
        n = min(n, math.ceil((fault.end_s - fault.start_s) / period))
    return n


class Lingering(FaultKind):
    """A fault whose traces stay after it ends: counters keep their value, logged events
    stay in the log. `end` stops new occurrences; apply() keeps running after it."""

    def active(self, t: float) -> bool:
        return t >= self.fault.start_s

    def occurrences(self, t: float, per_hour: float) -> int:
        return steady_count(self.fault, t, per_hour)

    def times(self, t0: float, t1: float, per_hour: float) -> Iterable[float]:
        return steady_times(self.fault, t0, t1, per_hour)


def _sysfs_edit(files: Files, interface: str, edit: Any) -> None:
    text = files.get("sysfs_net")
    if text is None:
        return
    data = json.loads(text)
    for item in data.get("interfaces", []):
        if item.get("name") == interface:
            edit(item)
    files["sysfs_net"] = json.dumps(data)


@register
class LinkFlapping(Lingering):
    name = "link_flapping"
    doc = (
        "a wired link drops and comes back `per_hour` times an hour (bad cable, dock, switch "
        "port): the NIC driver logs 'NIC Link is Down' / 'NIC Link is Up' and the sysfs "
        "carrier_changes counter rises by 2 a flap (and keeps its value after `end`). "
        "Triggers network.link_flapping (3 link-downs or 6 carrier changes in 1 h)"
    )
    oses = ("linux",)
    params = {
        "per_hour": Param("float", "flaps an hour", required=False, default=4.0),
        "interface": Param(
            "str", "default: the default route's interface", required=False, default=""
        ),
        "driver": Param("str", "the NIC driver logging it", required=False, default="e1000e"),
        "bus_id": Param("str", "its PCI address", required=False, default="0000:00:1f.6"),
    }

    def _interface(self, files: Files) -> str:
        route = default_route(files)
        return str(self.p["interface"] or (route[1] if route else "eth0"))

    def state(self, t: float, host: HostView) -> Hashable:
        return self.occurrences(t, self.p["per_hour"])

    def apply(self, files: Files, host: HostView, t: float) -> None:
        flaps = self.occurrences(t, self.p["per_hour"])  # counted at the link-down

        def edit(item: dict[str, Any]) -> None:
            # Down and up again within seconds: every snapshot sees the link up.
            item["carrier_changes"] = int(item.get("carrier_changes") or 0) + 2 * flaps

        _sysfs_edit(files, self._interface(files), edit)

    def kernel(self, host: HostView, t0: float, t1: float) -> Iterable[tuple[float, str]]:
        interface = self.p["interface"] or capture_interface(host)
        prefix = f"{self.p['driver']} {self.p['bus_id']} {interface}:"
        # A flap at w: down at w, up 3 s later; either may fall in (t0, t1].
        for when in self.times(t0 - _FLAP_S, t1, self.p["per_hour"]):
            if when > t0:
                yield when, f"{prefix} NIC Link is Down"
            if when + _FLAP_S <= t1:
                up = f"{prefix} NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx/Tx"
                yield when + _FLAP_S, up


_FLAP_S = 3.0


@functools.cache
def _capture_route(folder: Path, overrides: tuple[tuple[str, str], ...]) -> tuple[str, str] | None:
    files: dict[str, str] = dict(overrides)
    for name in ("net_route", "ip_route"):
        if name not in files and (folder / name).is_file():
            files[name] = (folder / name).read_text(encoding="utf-8", errors="replace")
    return default_route(files)


def capture_interface(host: HostView) -> str:
    """The default route's interface of the host's capture (kernel() gets no files)."""
    profile = host.spec.profile
    overrides = tuple(sorted((k, v) for k, v in profile.files.items()
                             if k in ("net_route", "ip_route")))  # fmt: skip
    route = _capture_route(profile.capture, overrides)
    return route[1] if route else "eth0"


@register
class InterfaceErrors(Lingering):
    name = "interface_errors"
    doc = (
        "a NIC counts receive errors (CRC errors from a damaged cable, a duplex mismatch) at "
        "`per_minute`, in the sysfs statistics (Linux) or Get-NetAdapter's "
        "ReceivedPacketErrors (Windows); the counter keeps its value after `end`. Triggers "
        "network.interface_errors at 5 a minute or more (50 new errors in 10 minutes)"
    )
    oses = ("linux", "windows")
    params = {
        "per_minute": Param("float", "new receive errors a minute", required=False, default=20.0),
        "interface": Param(
            "str",
            "default: the default route's (Linux) / the first up adapter (Windows)",
            required=False,
            default="",
        ),
    }

    def _errors(self, t: float) -> int:
        end = self.fault.end_s
        upto = t if end is None else min(t, end)
        return int(max(0.0, upto - self.fault.start_s) * self.p["per_minute"] / 60)

    def state(self, t: float, host: HostView) -> Hashable:
        # The counter moves every cycle while the fault lasts: so does the output.
        return self._errors(t) if self.active(t) else None

    def apply(self, files: Files, host: HostView, t: float) -> None:
        errors = self._errors(t)
        if host.os == "linux":
            route = default_route(files)
            interface = self.p["interface"] or (route[1] if route else "eth0")

            def edit(item: dict[str, Any]) -> None:
                stats = item.setdefault("statistics", {})
                stats["rx_errors"] = int(stats.get("rx_errors") or 0) + errors

            _sysfs_edit(files, interface, edit)
        elif "win_net_adapters" in files:
            adapters = json.loads(files["win_net_adapters"])
            adapters = adapters if isinstance(adapters, list) else [adapters]
            name = self.p["interface"] or next(
                (a.get("Name") for a in adapters if a.get("Status") == "Up"), ""
            )
            for a in adapters:
                if a.get("Name") == name:
                    stats = a.setdefault("Statistics", {})
                    stats["ReceivedPacketErrors"] = (
                        int(stats.get("ReceivedPacketErrors") or 0) + errors
                    )
            files["win_net_adapters"] = json.dumps(adapters, separators=(",", ":"))


@register
class TimeSkew(FaultKind):
    name = "time_skew"
    doc = (
        "the clock is `offset` off its time source (a VM host pushing a wrong time, a time "
        "service that stopped steering), or with `synchronized: false` not synchronised at "
        "all. An offset over 5 minutes triggers network.time_clock_skew; not synchronised "
        "(on a host up more than 17 minutes) network.time_not_synchronising. Linux: chronyc "
        "tracking; Windows: w32tm /query /status /verbose; macOS: sntp"
    )
    params = {
        "offset": Param("duration", "how far the clock is off (default: 0)", required=False),
        "behind": Param("bool", "the clock is slow (default: fast)", required=False, default=False),
        "synchronized": Param(
            "bool",
            "false: no time source selected (the offset is then unknown to Linux chrony)",
            required=False,
            default=True,
        ),
    }

    def _offset_s(self) -> float:
        return float(self.p["offset"] or 0.0) * (-1 if self.p["behind"] else 1)

    def apply(self, files: Files, host: HostView, t: float) -> None:
        offset, synced = self._offset_s(), self.p["synchronized"]
        if host.os == "linux":
            files["chronyc_tracking"] = _chronyc(offset, synced, host.start_ms / 1000 + t)
            files["timedatectl"] = (
                "Timezone=Etc/UTC\nLocalRTC=no\nCanNTP=yes\nNTP=yes\n"
                f"NTPSynchronized={'yes' if synced else 'no'}\n"
            )
        elif host.os == "windows":
            files["win_w32tm"] = _w32tm(files.get("win_w32tm") or "", offset, synced)
        else:
            server = "time.apple.com 17.253.52.125"
            old = (files.get("sntp") or "").split()
            if len(old) >= 5 and old[1] == "+/-":
                server = " ".join(old[3:5])
            # timed keeps a steered clock within milliseconds; the agent counts more than
            # 1 s off as not synchronised, so a clock left alone shows a few seconds.
            if not synced and abs(offset) <= 1.0:
                offset = -2.5 if self.p["behind"] else 2.5
            files["sntp"] = f"{offset:+.6f} +/- 0.027419 {server}\n"


def _chronyc(offset_s: float, synced: bool, now_s: float) -> str:
    """`chronyc -c tracking`; column 5 is the correction chronyd applies (slow: positive)."""
    if not synced:
        return (
            "00000000,,0,0.000000000,0.000000000,0.000000000,0.000000000,0.000,0.000,"
            "0.000,1.000000000,1.000000000,0.0,Not synchronised\n"
        )
    return (
        f"C0A80035,192.168.0.53,3,{now_s - 600:.9f},{-offset_s:.9f},0.000012345,"
        "0.000023456,-12.345,0.002,0.127,0.012345678,0.001234567,1024.0,Normal\n"
    )


def _w32tm(text: str, offset_s: float, synced: bool) -> str:
    lines = text.replace("\r\n", "\n").split("\n")
    values: dict[int, str] = {}  # line index -> new value, by the parser's positions
    if synced:
        values[9] = f"{offset_s:.7f}s"  # Phase Offset
    else:
        values |= {
            0: "3(not synchronized)",
            1: "0 (unspecified)",
            9: f"{offset_s:.7f}s",
            11: "1 (Hold)",
            14: "0x800705B4 (This operation returned because the timeout period expired.)",
            15: "93611.2183121s",
        }
    if len([line for line in lines if ":" in line]) < 16:
        lines = _W32TM_DEFAULT.split("\n")
    out: list[str] = []
    position = 0
    for line in lines:
        label, sep, _ = line.partition(":")
        if sep and label.strip():
            if position in values:
                line = f"{label}: {values[position]}"
            position += 1
        out.append(line)
    return "\r\n".join(out)


_W32TM_DEFAULT = """Leap Indicator: 0(no warning)
Stratum: 3 (secondary reference - syncd by (S)NTP)
Precision: -23 (119.209ns per tick)
Root Delay: 0.0312500s
Root Dispersion: 0.1068113s
ReferenceId: 0x0A140035 (source IP:  10.20.0.53)
Last Successful Sync Time: 11/23/2026 10:29:23 AM
Source: DC02.corp.example.com
Poll Interval: 10 (1024s)

Phase Offset: 0.0004473s
ClockRate: 0.0156250s
State Machine: 2 (Sync)
Time Source Flags: 0 (None)
Server Role: 0 (None)
Last Sync Error: 0 (The command completed successfully.)
Time since Last Good Sync Time: 708.5203425s
"""
