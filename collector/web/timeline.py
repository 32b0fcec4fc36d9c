"""A host's history as the host page shows it: records in, charts and latest values out.

Pure: host_timeline takes the snapshots and events the store read back (oldest first)
and returns sections, each with its charts (inline SVG, collector.web.plots), the
series behind them (for the JSON export) and a small table of the latest values. A
section with nothing to show says why instead of disappearing, so an empty SMART section
reads "no SMART data" rather than looking like a healthy disk.

Counters the agent reports as totals since boot (interface errors and drops) are plotted
as rates between consecutive snapshots; a counter that went down was reset (a reboot, a
driver reload) and counts from zero again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from agent.records import BootInfo, DiskIo, Event, NetInterface, Severity, SmartDevice, Snapshot
from collector.web.plots import (
    MARK_KINDS,
    Mark,
    Series,
    event_strip,
    format_value,
    human_bytes,
    line_chart,
    stamp,
)

WIDTH = 720
MAX_SERIES = 8  # colours in the palette; more lines than that are unreadable anyway
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
FIT_SPAN_MS = 24 * HOUR_MS  # the fill forecast fits the last day of readings
MIN_FIT_SPAN_MS = 10 * 60_000  # a slope over less than ten minutes is noise
NOT_FILLING_BYTES_PER_DAY = 1024**2  # under 1 MiB a day is not filling
FOREVER_MS = 365 * DAY_MS
CLEANUP_DROP = 0.01  # used space falling by 1 % of the volume at once: someone cleaned up
SAME_MARK_MS = 5 * 60_000  # a boot or crash seen by two sources within this is one

K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    unit: str
    series: tuple[Series, ...]
    svg: str


@dataclass(frozen=True, slots=True)
class Forecast:
    """When a volume fills at the rate of its recent readings (a least-squares line)."""

    mount: str
    used_bytes: int
    usable_bytes: int  # used + available, as df counts it
    bytes_per_hour: float  # the fitted growth; 0 when not known
    full_at_ms: int | None  # None: not filling, or not enough readings
    text: str  # "full in 3.2 days", "not filling", ...
    points_used: int = 0


@dataclass(frozen=True, slots=True)
class Section:
    key: str  # disk | io | smart | network | boot
    title: str
    charts: tuple[Chart, ...]
    rows: tuple[tuple[str, str], ...]  # the latest values: (label, value)
    empty: str = ""  # why there is nothing to show; "" when there is something
    marks: tuple[Mark, ...] = ()

    @property
    def svg(self) -> str:
        return "".join(c.svg for c in self.charts)


@dataclass(frozen=True, slots=True)
class HostTimeline:
    start_ms: int
    end_ms: int
    now_ms: int
    sections: tuple[Section, ...]
    forecasts: tuple[Forecast, ...]
    snapshots: int  # how many snapshots the charts are drawn from
    events: int
    skipped: int = 0  # stored records that could not be decoded

    def section(self, key: str) -> Section:
        for s in self.sections:
            if s.key == key:
                return s
        raise KeyError(key)


def host_timeline(
    snapshots: Sequence[Snapshot],
    events: Sequence[Event],
    *,
    start_ms: int,
    end_ms: int,
    now_ms: int,
    skipped: int = 0,
    width: int = WIDTH,
) -> HostTimeline:
    snaps = sorted((s for s in snapshots if start_ms <= s.taken_at_ms <= end_ms),
                   key=lambda s: s.taken_at_ms)  # fmt: skip
    evs = sorted((e for e in events if start_ms <= e.time_ms <= end_ms), key=lambda e: e.time_ms)
    view = _View(start_ms, end_ms, now_ms, width)
    disk, forecasts = _disk_section(snaps, view)
    return HostTimeline(
        start_ms=start_ms,
        end_ms=end_ms,
        now_ms=now_ms,
        sections=(
            disk,
            _io_section(snaps, evs, view),
            _smart_section(snaps, view),
            _network_section(snaps, view),
            _boot_section(snaps, evs, view),
        ),
        forecasts=forecasts,
        snapshots=len(snaps),
        events=len(evs),
        skipped=skipped,
    )


@dataclass(frozen=True, slots=True)
class _View:
    start_ms: int
    end_ms: int
    now_ms: int
    width: int

    def chart(
        self,
        title: str,
        series: Sequence[Series],
        unit: str = "",
        *,
        end_ms: int | None = None,
        y_min: float | None = None,
        y_max: float | None = None,
        thresholds: Sequence[tuple[float, str]] = (),
    ) -> Chart:
        svg = line_chart(
            series, title=title, unit=unit, start_ms=self.start_ms,
            end_ms=end_ms or self.end_ms, width=self.width, y_min=y_min, y_max=y_max,
            thresholds=thresholds,
        )  # fmt: skip
        return Chart(title, unit, tuple(series), svg)


# -- disk usage -----------------------------------------------------------------------


def fill_forecast(mount: str, readings: Sequence[tuple[int, int, int]], *, now_ms: int) -> Forecast:
    """When the volume is full if it keeps growing as over its recent readings.

    readings: (time ms, used bytes, usable bytes), oldest first. The line is fitted to the
    last FIT_SPAN_MS of readings after the latest clean-up (a sudden drop in used space:
    the growth before it says nothing about the growth after), so a log that was rotated
    yesterday does not hide that the disk fills again today."""
    if not readings:
        return Forecast(mount, 0, 0, 0.0, None, "no readings")
    t_last, used, usable = readings[-1]
    segment_start = 0
    for i in range(1, len(readings)):
        drop = readings[i - 1][1] - readings[i][1]
        if drop > CLEANUP_DROP * max(readings[i][2], 1):
            segment_start = i
    segment = readings[segment_start:]
    recent = [r for r in segment if r[0] >= t_last - FIT_SPAN_MS]
    if len(recent) < 3:
        recent = list(segment[-3:])
    if len(recent) < 2 or recent[-1][0] - recent[0][0] < MIN_FIT_SPAN_MS:
        return Forecast(mount, used, usable, 0.0, None, "not enough readings to forecast",
                        len(recent))  # fmt: skip
    slope, fitted_last = _fit([(t, float(u)) for t, u, _ in recent], t_last)
    per_hour = slope * HOUR_MS
    if slope * DAY_MS < NOT_FILLING_BYTES_PER_DAY:
        return Forecast(mount, used, usable, per_hour, None, "not filling", len(recent))
    full_at = t_last + round((usable - fitted_last) / slope)
    remaining = full_at - now_ms
    if remaining <= 0:
        text = "full now at this rate"
    elif remaining > FOREVER_MS:
        return Forecast(mount, used, usable, per_hour, None,
                        "not filling fast (full in over a year)", len(recent))  # fmt: skip
    elif remaining < 48 * HOUR_MS:
        text = f"full in {max(round(remaining / HOUR_MS), 1)} h"
    else:
        text = f"full in {remaining / DAY_MS:.1f} days"
    return Forecast(mount, used, usable, per_hour, full_at, text, len(recent))


def _fit(points: Sequence[tuple[int, float]], at_ms: int) -> tuple[float, float]:
    """Least squares: (slope per ms, the line's value at at_ms). Times are centred first:
    squared epoch milliseconds lose the precision a float has."""
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0, mean_v
    slope = sum((t - mean_t) * (v - mean_v) for t, v in points) / var
    return slope, mean_v + slope * (at_ms - mean_t)


def _disk_section(snaps: Sequence[Snapshot], view: _View) -> tuple[Section, tuple[Forecast, ...]]:
    readings: dict[str, list[tuple[int, int, int]]] = {}
    for s in snaps:
        for v in s.volumes:
            usable = v.used_bytes + v.free_bytes
            if usable > 0:
                readings.setdefault(v.mount, []).append((s.taken_at_ms, v.used_bytes, usable))
    title = "Disk usage"
    if not readings:
        return Section("disk", title, (), (), "No volumes reported in this window."), ()
    # The fullest volumes first: they are the ones a person opens the page for.
    mounts = sorted(readings, key=lambda m: (-_pct(readings[m][-1]), m))
    forecasts = tuple(fill_forecast(m, readings[m], now_ms=view.now_ms) for m in mounts)
    plotted = mounts[: MAX_SERIES // 2] if any(f.full_at_ms for f in forecasts) else mounts
    plotted = plotted[:MAX_SERIES]
    horizon = max((view.end_ms - view.start_ms) // 4, HOUR_MS)
    chart_end = view.end_ms + horizon if any(f.full_at_ms for f in forecasts) else view.end_ms
    series: list[Series] = []
    for index, mount in enumerate(plotted):
        points = tuple((t, _pct((t, u, c))) for t, u, c in readings[mount])
        series.append(Series(mount, points, colour=index))
    for index, (mount, f) in enumerate(zip(mounts, forecasts, strict=True)):
        if mount in plotted and f.full_at_ms is not None and f.usable_bytes:
            series.append(_forecast_series(f, readings[mount][-1][0], chart_end, index))
    chart = view.chart("Used space per volume (%), with the fill forecast dashed", series, "%",
                       end_ms=chart_end, y_min=0, y_max=100,
                       thresholds=((100.0, "full"),))  # fmt: skip
    rows = []
    for f in forecasts:
        growth = (
            f"{'+' if f.bytes_per_hour >= 0 else '-'}{human_bytes(abs(f.bytes_per_hour) * 24)}"
            "/day; "
            if f.bytes_per_hour
            else ""
        )
        when = f" ({stamp(f.full_at_ms)})" if f.full_at_ms else ""
        rows.append((f.mount, f"{100 * f.used_bytes / f.usable_bytes:.1f} % used "
                     f"({human_bytes(f.used_bytes)} of {human_bytes(f.usable_bytes)}); "
                     f"{growth}{f.text}{when}"))  # fmt: skip
    if len(mounts) > len(plotted):
        rows.append(("Not plotted", f"{len(mounts) - len(plotted)} emptier volume(s)"))
    return Section("disk", title, (chart,), tuple(rows)), forecasts


def _pct(reading: tuple[int, int, int]) -> float:
    return 100.0 * reading[1] / reading[2] if reading[2] else 0.0


def _forecast_series(f: Forecast, t_last: int, chart_end: int, colour: int) -> Series:
    """The dashed line from the fit's value now to full (or the chart's edge)."""
    assert f.full_at_ms is not None
    slope = f.bytes_per_hour / HOUR_MS
    used_now = f.usable_bytes - slope * (f.full_at_ms - t_last)
    stop = max(min(f.full_at_ms, chart_end), t_last)
    used_then = used_now + slope * (stop - t_last)
    pct = [min(max(100.0 * u / f.usable_bytes, 0.0), 100.0) for u in (used_now, used_then)]
    return Series(f"{f.mount} forecast", ((t_last, pct[0]), (stop, pct[1])), dashed=True,
                  colour=colour)  # fmt: skip


# -- disk I/O -------------------------------------------------------------------------

# Disk events that mean an I/O went wrong (the kinds agent/parsers produce).
_DISK_ERROR_PREFIX = "disk."
_NOT_ERRORS = frozenset({"disk.ntfs_healthy", "disk.fs_unclean"})
_PSEUDO_DISKS = ("loop", "ram", "zram", "fd")


def _io_section(snaps: Sequence[Snapshot], evs: Sequence[Event], view: _View) -> Section:
    title = "Disk latency and errors"
    io: dict[str, list[tuple[int, DiskIo]]] = {}
    for s in snaps:
        for reading in s.disk_io:
            if not reading.device.startswith(_PSEUDO_DISKS):
                io.setdefault(reading.device, []).append((s.taken_at_ms, reading))
    errors: dict[str, list[Event]] = {}
    for e in evs:
        if (e.kind.startswith(_DISK_ERROR_PREFIX) and e.kind not in _NOT_ERRORS
                and e.severity >= Severity.WARNING):  # fmt: skip
            device = e.fields.get("device") or e.fields.get("disk") or "unnamed device"
            errors.setdefault(device, []).append(e)
    if not io and not errors:
        return Section("io", title, (), (), "No disk I/O counters or disk errors in this window.")
    charts: list[Chart] = []
    rows: list[tuple[str, str]] = []
    if io:
        # The slowest disks first; two lines (read, write) per disk.
        disks = sorted(io, key=lambda d: (-max(max(x.read_await_ms, x.write_await_ms)
                                                for _, x in io[d]), d))  # fmt: skip
        latency: list[Series] = []
        for d in disks[: MAX_SERIES // 2]:
            latency.append(Series(f"{d} read", tuple((t, x.read_await_ms) for t, x in io[d])))
            latency.append(Series(f"{d} write", tuple((t, x.write_await_ms) for t, x in io[d])))
        charts.append(view.chart("Disk latency (average wait per I/O)", latency, "ms"))
        util = [Series(d, tuple((t, x.util_pct) for t, x in io[d])) for d in disks[:MAX_SERIES]]
        charts.append(view.chart("Disk utilisation", util, "%", y_min=0, y_max=100))
        for d in sorted(io):
            x = io[d][-1][1]
            rows.append((d, f"read {format_value(x.read_await_ms, 'ms')}, "
                            f"write {format_value(x.write_await_ms, 'ms')}, "
                            f"busy {format_value(x.util_pct, '%')}, "
                            f"queue {x.queue_depth:.2g}"))  # fmt: skip
    if errors:
        counted = sorted(errors, key=lambda d: (-len(errors[d]), d))[:MAX_SERIES]
        counts = [Series(d, _running_count(errors[d], view), step=True) for d in counted]
        charts.append(view.chart("Disk error events (running count in this window)", counts,
                                 ""))  # fmt: skip
        for d in sorted(errors):
            last = errors[d][-1]
            rows.append((f"{d} errors", f"{len(errors[d])} in this window; last "
                                        f"{stamp(last.time_ms)} {last.kind}"))  # fmt: skip
    else:
        rows.append(("Disk errors", "none in this window"))
    return Section("io", title, tuple(charts), tuple(rows))


def _running_count(evs: Sequence[Event], view: _View) -> tuple[tuple[int, float], ...]:
    """0 at the window's start, one more at each event, held to the end (a step series)."""
    points = [(view.start_ms, 0.0), *((e.time_ms, float(n)) for n, e in enumerate(evs, 1))]
    points.append((view.end_ms, float(len(evs))))
    return tuple(points)


# -- SMART ----------------------------------------------------------------------------

# (field, label) per protocol: the counters that mean a failing drive.
_ATA = (("reallocated_sectors", "reallocated sectors"), ("pending_sectors", "pending sectors"),
        ("offline_uncorrectable", "offline uncorrectable"),
        ("reported_uncorrect", "reported uncorrectable"), ("udma_crc_errors", "CRC errors"),
        ("command_timeout", "command timeouts"))  # fmt: skip
_NVME = (("nvme_media_errors", "media errors"), ("nvme_error_log_entries", "error log entries"),
         ("nvme_unsafe_shutdowns", "unsafe shutdowns"))  # fmt: skip
_SCSI = (("scsi_grown_defects", "grown defects"),
         ("scsi_uncorrected_errors", "uncorrected errors"))  # fmt: skip
_ALL_COUNTERS = (*_ATA, *_NVME, *_SCSI, ("selftest_failures", "failed self-tests"),
                 ("ata_error_count", "ATA error log entries"))  # fmt: skip


def _counters_for(protocol: str, history: Sequence[SmartDevice]) -> list[tuple[str, str]]:
    p = protocol.lower()
    base = _NVME if "nvme" in p else _SCSI if "scsi" in p else _ATA
    extra = [c for c in _ALL_COUNTERS if c not in base
             and any(getattr(d, c[0]) for d in history)]  # fmt: skip
    return [*base, *extra]


def _smart_section(snaps: Sequence[Snapshot], view: _View) -> Section:
    title = "SMART"
    history: dict[str, list[tuple[int, SmartDevice]]] = {}
    for s in snaps:
        for d in s.smart:
            history.setdefault(d.device, []).append((s.taken_at_ms, d))
    if not history:
        return Section("smart", title, (), (), "No SMART data reported in this window.")
    charts: list[Chart] = []
    rows: list[tuple[str, str]] = []

    # A failing drive first, then the one with the most error counts.
    def badness(name: str) -> tuple[int, int, str]:
        last = history[name][-1][1]
        return (0 if last.failed else 1, -sum(getattr(last, c) for c, _ in _ALL_COUNTERS), name)

    devices = sorted(history, key=badness)
    for name in devices[:MAX_SERIES]:
        points = history[name]
        last = points[-1][1]
        counters = _counters_for(last.protocol, [d for _, d in points])
        series = [Series(label, tuple((t, float(getattr(d, field))) for t, d in points))
                  for field, label in counters[:MAX_SERIES]]  # fmt: skip
        label = " ".join(x for x in (name, last.model) if x)
        charts.append(view.chart(f"{label}: error counters", series, "", y_min=0))
    temps = [Series(n, tuple((t, float(d.temperature_c)) for t, d in history[n]
                             if d.temperature_c > 0)) for n in devices[:MAX_SERIES]]  # fmt: skip
    if any(s.points for s in temps):
        charts.append(view.chart("Drive temperature", temps, "°C"))
    nvme = [n for n in devices if "nvme" in history[n][-1][1].protocol.lower()][: MAX_SERIES // 2]
    if nvme:
        wear: list[Series] = []
        for n in nvme:
            wear.append(Series(f"{n} used", tuple((t, float(d.nvme_percentage_used))
                                                   for t, d in history[n])))  # fmt: skip
            wear.append(Series(f"{n} spare left", tuple((t, float(d.nvme_available_spare))
                                                         for t, d in history[n])))  # fmt: skip
        top = max([100.0, *(v for s in wear for _, v in s.points)])
        charts.append(view.chart("NVMe wear (percentage used) and available spare", wear, "%",
                                 y_min=0, y_max=top))  # fmt: skip
    for name in devices:
        d = history[name][-1][1]
        health = ("FAILED" if d.failed else "passed") if d.health_known else "unknown"
        parts = [f"health {health}"]
        if d.temperature_c:
            parts.append(f"{d.temperature_c} °C")
        if d.power_on_hours:
            parts.append(f"{d.power_on_hours:,} h powered on")
        if "nvme" in d.protocol.lower():
            parts.append(f"{d.nvme_percentage_used} % used, {d.nvme_available_spare} % spare")
        counters = _counters_for(d.protocol, [x for _, x in history[name]])
        parts += [f"{label} {getattr(d, field):,}" for field, label in counters]
        label = " ".join(x for x in (name, d.model) if x)
        rows.append((label, ", ".join(parts)))
    return Section("smart", title, tuple(charts), tuple(rows))


# -- network --------------------------------------------------------------------------


def counter_rates(
    points: Sequence[tuple[int, int]], *, per_ms: int = HOUR_MS
) -> tuple[tuple[int, float], ...]:
    """A cumulative counter's rate (per per_ms) between consecutive readings, at the later
    one. A reading below the one before is a reset (reboot, driver reload): the counter
    started again from zero, so its whole value is the increase since."""
    out: list[tuple[int, float]] = []
    for (t0, c0), (t1, c1) in zip(points, points[1:], strict=False):
        if t1 <= t0:
            continue
        delta = c1 - c0 if c1 >= c0 else c1
        out.append((t1, delta * per_ms / (t1 - t0)))
    return tuple(out)


def _nic_errors(n: NetInterface) -> int:
    return n.rx_errors + n.tx_errors


def _nic_drops(n: NetInterface) -> int:
    return n.rx_dropped + n.tx_dropped


def _network_section(snaps: Sequence[Snapshot], view: _View) -> Section:
    title = "Network"
    nics: dict[str, list[tuple[int, NetInterface]]] = {}
    for s in snaps:
        for n in s.interfaces:
            if n.kind != "loopback" and n.name != "lo":
                nics.setdefault(n.name, []).append((s.taken_at_ms, n))
    has_checks = any(s.gateway_checks or s.dns_checks for s in snaps)
    if not nics and not has_checks:
        return Section("network", title, (), (),
                       "No interfaces or network checks reported in this window.")  # fmt: skip
    charts: list[Chart] = []
    rows: list[tuple[str, str]] = []
    if nics:
        rates: list[Series] = []
        for name in sorted(nics):
            for what, count in (("errors", _nic_errors), ("drops", _nic_drops)):
                r = counter_rates([(t, count(n)) for t, n in nics[name]])
                rates.append(Series(f"{name} {what}", r))
        # Lines that move first: a flat zero is the same for every interface.
        rates.sort(key=lambda s: -max((v for _, v in s.points), default=0.0))
        charts.append(view.chart("Interface errors and drops (per hour)", rates[:MAX_SERIES],
                                 "/h", y_min=0))  # fmt: skip
        for name in sorted(nics):
            n = nics[name][-1][1]
            link = n.oper_state or ("up" if n.carrier else "down")
            speed = f", {n.speed_mbps} Mb/s" if n.speed_mbps else ""
            duplex = f" {n.duplex}" if n.duplex else ""
            rows.append((name, f"{link}{speed}{duplex}; since boot: rx errors {n.rx_errors:,}, "
                               f"tx errors {n.tx_errors:,}, rx dropped {n.rx_dropped:,}, "
                               f"tx dropped {n.tx_dropped:,}"))  # fmt: skip
    if has_checks:
        charts += _check_charts(snaps, view)
        rows += _check_rows(snaps)
    return Section("network", title, tuple(charts), tuple(rows))


def _check_charts(snaps: Sequence[Snapshot], view: _View) -> list[Chart]:
    gateways: dict[str, list[tuple[int, float]]] = {}
    dns: dict[str, list[tuple[int, float]]] = {}
    gw_failed: list[tuple[int, float]] = []
    dns_failed: list[tuple[int, float]] = []
    for s in snaps:
        t = s.taken_at_ms
        for g in s.gateway_checks:
            line = gateways.setdefault(_gateway_name(g.gateway, g.interface), [])
            if g.reachable:
                line.append((t, g.rtt_ms))
        by_server: dict[str, list[float]] = {}
        for c in s.dns_checks:
            if c.status == "ok":
                by_server.setdefault(c.server or "system resolver", []).append(c.rtt_ms)
            else:
                dns.setdefault(c.server or "system resolver", [])
        for server, rtts in by_server.items():
            dns.setdefault(server, []).append((t, sum(rtts) / len(rtts)))
        if s.gateway_checks:
            gw_failed.append((t, float(sum(not g.reachable for g in s.gateway_checks))))
        if s.dns_checks:
            dns_failed.append((t, float(sum(c.status != "ok" for c in s.dns_checks))))
    charts = []
    if gateways:
        charts.append(view.chart("Gateway round trip", _top(gateways), "ms"))
    if dns:
        charts.append(view.chart("DNS resolution time", _top(dns), "ms"))
    pairs = (("gateway unreachable", gw_failed), ("DNS checks failed", dns_failed))
    failed = [Series(name, tuple(points)) for name, points in pairs if points]
    charts.append(view.chart("Failed network checks per snapshot", failed, "", y_min=0))
    return charts


def _top(lines: Mapping[str, list[tuple[int, float]]]) -> list[Series]:
    return [Series(name, tuple(lines[name])) for name in sorted(lines)[:MAX_SERIES]]


def _gateway_name(gateway: str, interface: str) -> str:
    return f"{gateway} via {interface}" if interface else gateway


def _check_rows(snaps: Sequence[Snapshot]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    gw_total: dict[str, list[bool]] = {}
    dns_total: dict[str, list[str]] = {}
    for s in snaps:
        for g in s.gateway_checks:
            gw_total.setdefault(_gateway_name(g.gateway, g.interface), []).append(g.reachable)
        for c in s.dns_checks:
            dns_total.setdefault(c.server or "system resolver", []).append(c.status or "unknown")
    latest = snaps[-1] if snaps else None
    for name, results in sorted(gw_total.items()):
        last = next((g for g in (latest.gateway_checks if latest else ())
                     if _gateway_name(g.gateway, g.interface) == name), None)  # fmt: skip
        now = ("reachable" + (f" by {last.method}" if last.method else "")
               + f", {format_value(last.rtt_ms, 'ms')}" if last and last.reachable
               else "unreachable" if last else "not checked in the latest snapshot")  # fmt: skip
        failed = results.count(False)
        rows.append((f"Gateway {name}", f"{now}; unreachable in {failed} of {len(results)} "
                                        "checks"))  # fmt: skip
    for server, statuses in sorted(dns_total.items()):
        bad = [x for x in statuses if x != "ok"]
        kinds = _counts(bad)
        detail = f" ({', '.join(f'{k} {n}' for k, n in kinds.items())})" if bad else ""
        rows.append((f"DNS {server}", f"failed {len(bad)} of {len(statuses)} checks{detail}"))
    return rows


def _counts(items: Iterable[K]) -> dict[K, int]:
    out: dict[K, int] = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out


# -- boot history ---------------------------------------------------------------------

# Agent event kinds (agent/parsers, agent/probes) → the strip's lanes.
EVENT_MARKS = {
    "boot.started": "boot",
    "boot.clean_shutdown": "clean_shutdown",
    "boot.unexpected_shutdown": "unclean_shutdown",
    "boot.dirty_shutdown": "unclean_shutdown",
    "boot.panic": "panic",
    "boot.bugcheck": "bluescreen",
    "boot.oops": "crash",
    "boot.bug": "crash",
    "boot.hard_lockup": "crash",
    "boot.service_failed": "failed_unit",
}


def _crash_kind(kind: str, stop_code: str, panicked: bool) -> str:
    if kind == "bugcheck" or stop_code:
        return "bluescreen"
    if kind == "panic" or panicked:
        return "panic"
    return "crash"


def boot_marks(snaps: Sequence[Snapshot], evs: Sequence[Event]) -> list[Mark]:
    """Boots, shutdowns, crashes and failed units, from the events and from the snapshots'
    boot information; one mark where both saw the same thing."""
    marks = [Mark(e.time_ms, EVENT_MARKS[e.kind], _event_label(e)) for e in evs
             if e.kind in EVENT_MARKS]  # fmt: skip

    def add(mark: Mark, since_ms: int | None = None) -> None:
        # since_ms: the same kind anywhere after it counts as this one (a Windows clean
        # shutdown is logged when it happens, hours before the boot that reports it).
        lo = mark.time_ms - SAME_MARK_MS if since_ms is None else since_ms
        if not any(m.kind == mark.kind and lo < m.time_ms <= mark.time_ms + SAME_MARK_MS
                   for m in marks):  # fmt: skip
            marks.append(mark)

    previous_boot: int | None = None
    seen_boots: set[str] = set()
    seen_units: set[tuple[str, str]] = set()
    seen_crashes: set[tuple[str, int, str]] = set()
    for s in snaps:
        b = s.boot
        if b is None:
            continue
        key = b.boot_id or str(b.boot_time_unix)
        boot_ms = b.boot_time_unix * 1000 or s.taken_at_ms
        if key not in seen_boots:
            seen_boots.add(key)
            add(Mark(boot_ms, "boot", _boot_label(b)))
            shutdown = {"clean": "clean_shutdown", "unclean": "unclean_shutdown"}.get(
                b.previous_shutdown
            )
            if shutdown is not None:
                text = "Clean" if shutdown == "clean_shutdown" else "Unclean"
                detail = f": {b.previous_shutdown_detail}" if b.previous_shutdown_detail else ""
                # Any shutdown event since the boot before (a day, for the first one seen)
                # is this one.
                since = previous_boot if previous_boot is not None else boot_ms - DAY_MS
                add(Mark(boot_ms - 1, shutdown, f"{text} shutdown before this boot{detail}"),
                    since_ms=since)  # fmt: skip
            previous_boot = boot_ms
        for c in b.crashes:
            ident = (c.kind, c.time_ms, c.title)
            if ident in seen_crashes:
                continue
            seen_crashes.add(ident)
            label = "; ".join(x for x in (f"{c.kind} ({c.source})", c.title,
                                          c.stop_code and f"stop code {c.stop_code}",
                                          c.module and f"module {c.module}") if x)  # fmt: skip
            add(Mark(c.time_ms or boot_ms, _crash_kind(c.kind, c.stop_code, c.panicked), label))
        for unit in b.failed_units:
            if (key, unit) not in seen_units:
                seen_units.add((key, unit))
                add(Mark(s.taken_at_ms, "failed_unit", f"Failed unit: {unit}"))
    return sorted(marks, key=lambda m: (m.time_ms, m.kind))


def _event_label(e: Event) -> str:
    message = " ".join(e.message.split())
    if len(message) > 160:
        message = message[:159] + "…"
    return f"{e.kind}: {message}" if message else e.kind


def _boot_label(b: BootInfo) -> str:
    parts = ["Boot" + (f" {b.boot_id[:8]}" if b.boot_id else "")]
    if b.boot_duration_s:
        parts.append(f"took {b.boot_duration_s:.0f} s")
    if b.emergency_mode:
        parts.append("emergency mode")
    return ", ".join(parts)


def _boot_section(snaps: Sequence[Snapshot], evs: Sequence[Event], view: _View) -> Section:
    title = "Boot history"
    marks = boot_marks(snaps, evs)
    latest = next((s.boot for s in reversed(snaps) if s.boot is not None), None)
    inside = [m for m in marks if view.start_ms <= m.time_ms <= view.end_ms]
    if latest is None and not inside:
        return Section("boot", title, (), (),
                       "No boot information or boot events in this window.")  # fmt: skip
    svg = event_strip(marks, title="Boots, shutdowns and crashes", start_ms=view.start_ms,
                      end_ms=view.end_ms, width=view.width)  # fmt: skip
    chart = Chart("Boots, shutdowns and crashes", "", (), svg)
    rows: list[tuple[str, str]] = []
    if latest is not None:
        since = stamp(latest.boot_time_unix * 1000) if latest.boot_time_unix else "unknown"
        rows.append(("Current boot", f"since {since}"
                     + (f" (boot id {latest.boot_id[:8]})" if latest.boot_id else "")))  # fmt: skip
        rows.append(("Previous shutdown", latest.previous_shutdown
                     + (f": {latest.previous_shutdown_detail}"
                        if latest.previous_shutdown_detail else "")))  # fmt: skip
        if latest.system_state:
            rows.append(("System state", latest.system_state))
        rows.append(("Failed units", ", ".join(latest.failed_units) or "none"))
        if latest.emergency_mode:
            rows.append(("Emergency mode", "yes"))
    counts = _counts(m.kind for m in inside)
    summary = ", ".join(f"{MARK_KINDS[k][0] if k in MARK_KINDS else k}: {n}"
                        for k, n in counts.items())  # fmt: skip
    rows.append(("In this window", summary or "no boots, shutdowns or crashes"))
    return Section("boot", title, (chart,), tuple(rows), marks=tuple(inside))
