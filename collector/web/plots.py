"""Server-side plots as inline SVG: no script, no external asset, readable by a screen reader.

Every chart is one self-contained <svg role="img"> whose accessible name is its <title>
and whose <desc> says in words what the lines show (latest, lowest and highest value of
each series), so the numbers are there for someone who cannot see the lines. All text
that comes from a host (volume names, NIC names, event messages) is escaped here.

Colours: series carry the classes s0..s7 (the console's stylesheet and the exported
report's colour them) and the same colours as presentation attributes, which any CSS
overrides, so an SVG copied out on its own still looks right.
"""

from __future__ import annotations

import hashlib
import html
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

PALETTE = ("#0a5bd3", "#c2410c", "#1a7f37", "#8250df", "#b00020", "#0e7490", "#8a6d00", "#4b5563")
MUTED = "#57606a"
GRID = "#d0d7de"
FONT_FAMILY = 'font-family="system-ui, sans-serif"'
FONT = FONT_FAMILY + ' font-size="11"'
EMPTY_TEXT = "no data in this window"

# Plot area margins: room for "1023.5 GiB" on the left and a time label below.
_LEFT, _RIGHT, _TOP, _BOTTOM = 72, 16, 12, 28
_LEGEND_ROW = 16
_CHAR_W = 6.2  # an 11 px system-ui character, on average: enough to lay the legend out
_MAX_LEGEND_CHARS = 48


@dataclass(frozen=True, slots=True)
class Series:
    """One line: (time in ms, value) points, oldest first. dashed: a forecast, not a reading.

    colour: the palette index (class s<colour>); None takes the series' position, so a
    forecast can share the colour of the readings it extends. step: a value that holds
    until the next point (a running count), drawn as steps and never broken at gaps."""

    name: str
    points: tuple[tuple[int, float], ...]
    dashed: bool = False
    colour: int | None = None
    step: bool = False


@dataclass(frozen=True, slots=True)
class Mark:
    """One event on a time line (a boot, a crash): kind picks its lane and shape."""

    time_ms: int
    kind: str
    label: str


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


# -- line charts ----------------------------------------------------------------------


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    unit: str = "",
    start_ms: int,
    end_ms: int,
    width: int = 720,
    height: int = 200,
    y_min: float | None = None,
    y_max: float | None = None,
    thresholds: Sequence[tuple[float, str]] = (),
    chart_id: str | None = None,
) -> str:
    """Lines over [start_ms, end_ms] with UTC time ticks, y ticks in unit, and a legend.

    unit "bytes" shows binary sizes (KiB..TiB), "%" percentages, anything else is
    appended to the number ("ms", "°C", "/h"). Points outside the window or not finite
    are left out; a series with no point left still appears in the legend as "no data".
    thresholds: (value, label) horizontal reference lines, drawn when inside the y range.
    """
    if end_ms <= start_ms:
        end_ms = start_ms + 1
    width, height = max(width, 200), max(height, 80)
    cid = chart_id or _uid("line", title, start_ms, end_ms, *series)
    shown = [_visible(s, start_ms, end_ms) for s in series]
    plot_w = width - _LEFT - _RIGHT
    plot_h = height - _TOP - _BOTTOM
    legend, legend_h = _legend(series, shown, width, height)
    total_h = height + legend_h
    values = [v for s in shown for _, v in s]
    lines = [
        _open_svg(cid, width, total_h, "chart"),
        _titles(cid, title, _describe(series, shown, unit)),
    ]
    frame = (
        f'<rect x="{_LEFT}" y="{_TOP}" width="{plot_w}" height="{plot_h}" fill="none" '
        f'stroke="{GRID}"/>'
    )
    if not values:
        lines += [frame, _time_axis(start_ms, end_ms, plot_w, plot_h),
                  f'<text x="{_LEFT + plot_w / 2:.1f}" y="{_TOP + plot_h / 2:.1f}" '
                  f'text-anchor="middle" fill="{MUTED}" {FONT} class="empty">{EMPTY_TEXT}</text>',
                  legend, "</svg>"]  # fmt: skip
        return "".join(lines)

    lo, hi, ticks = _y_scale(values, unit, y_min, y_max, [t for t, _ in thresholds])

    def x_of(t: int) -> float:
        return _LEFT + (t - start_ms) / (end_ms - start_ms) * plot_w

    def y_of(v: float) -> float:
        v = min(max(v, lo), hi)
        return _TOP + plot_h - (v - lo) / (hi - lo) * plot_h

    lines.append(frame)
    for tick in ticks:
        y = y_of(tick)
        lines.append(
            f'<line x1="{_LEFT}" x2="{_LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{GRID}" stroke-width="0.5"/>'
            f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}" {FONT}>'
            f"{esc(format_value(tick, unit))}</text>"
        )
    lines.append(_time_axis(start_ms, end_ms, plot_w, plot_h))
    for value, label in thresholds:
        if lo <= value <= hi and math.isfinite(value):
            y = y_of(value)
            lines.append(
                f'<g class="threshold"><title>{esc(label)}: {esc(format_value(value, unit))}'
                f'</title><line x1="{_LEFT}" x2="{_LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
                f'stroke="{PALETTE[4]}" stroke-width="1" stroke-dasharray="2 3"/>'
                f'<text x="{_LEFT + plot_w - 4}" y="{y - 3:.1f}" text-anchor="end" '
                f'fill="{PALETTE[4]}" {FONT}>{esc(label)}</text></g>'
            )
    for index, (s, points) in enumerate(zip(series, shown, strict=True)):
        if not points:
            continue
        cls = _colour(s, index)
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        kind = "series forecast" if s.dashed else "series"
        parts = [f'<g class="{kind}"><title>{esc(s.name)}</title>']
        for run in [_steps(points)] if s.step else _runs(points):
            if len(run) == 1:
                t, v = run[0]
                parts.append(
                    f'<circle class="s{cls}" cx="{x_of(t):.1f}" cy="{y_of(v):.1f}" r="2.5" '
                    f'fill="{PALETTE[cls]}" stroke="{PALETTE[cls]}"/>'
                )
                continue
            xy = " ".join(f"{x_of(t):.1f},{y_of(v):.1f}" for t, v in run)
            parts.append(
                f'<polyline class="s{cls}" fill="none" stroke="{PALETTE[cls]}" '
                f'stroke-width="1.8" stroke-linejoin="round"{dash} points="{xy}"/>'
            )
        parts.append("</g>")
        lines.append("".join(parts))
    lines += [legend, "</svg>"]
    return "".join(lines)


def _visible(s: Series, start_ms: int, end_ms: int) -> list[tuple[int, float]]:
    return sorted(
        (int(t), float(v)) for t, v in s.points if start_ms <= t <= end_ms and math.isfinite(v)
    )


def _colour(s: Series, index: int) -> int:
    return (index if s.colour is None else s.colour) % len(PALETTE)


def _steps(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    out = points[:1]
    for t, v in points[1:]:
        out += [(t, out[-1][1]), (t, v)]
    return out


def _runs(points: list[tuple[int, float]]) -> list[list[tuple[int, float]]]:
    """The points split where the host went quiet: a gap of more than four typical
    intervals is drawn as a gap, not as a straight line pretending to be readings."""
    if len(points) < 3:
        return [points]
    gaps = sorted(b[0] - a[0] for a, b in zip(points, points[1:], strict=False))
    limit = max(4 * gaps[len(gaps) // 2], 1)
    runs: list[list[tuple[int, float]]] = [[points[0]]]
    for prev, point in zip(points, points[1:], strict=False):
        if point[0] - prev[0] > limit:
            runs.append([])
        runs[-1].append(point)
    return runs


def _legend(
    series: Sequence[Series], shown: list[list[tuple[int, float]]], width: int, top: int
) -> tuple[str, int]:
    """The legend below the time axis (from y = top) and its height; it wraps to rows."""
    if not series:
        return "", 0
    items: list[str] = []
    x, row = float(_LEFT), 0
    for index, (s, points) in enumerate(zip(series, shown, strict=True)):
        name = s.name if len(s.name) <= _MAX_LEGEND_CHARS else s.name[: _MAX_LEGEND_CHARS - 1] + "…"
        text = name + ("" if points else " (no data)")
        item_w = 30 + len(text) * _CHAR_W + 14
        if x + item_w > width - _RIGHT and x > _LEFT:
            x, row = float(_LEFT), row + 1
        y = top + (row + 1) * _LEGEND_ROW
        cls = _colour(s, index)
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        items.append(
            f'<line class="s{cls}" x1="{x:.1f}" x2="{x + 22:.1f}" y1="{y - 4}" y2="{y - 4}" '
            f'stroke="{PALETTE[cls]}" stroke-width="2.5"{dash}/>'
            f'<text x="{x + 28:.1f}" y="{y}" fill="currentColor" {FONT}>{esc(text)}</text>'
        )
        x += item_w
    return f'<g class="legend">{"".join(items)}</g>', (row + 1) * _LEGEND_ROW + 6


def _open_svg(cid: str, width: int, height: float, cls: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{cls}" role="img" '
        f'aria-labelledby="{cid}-t {cid}-d" width="{width}" height="{height:.0f}" '
        f'viewBox="0 0 {width} {height:.0f}">'
    )


def _titles(cid: str, title: str, desc: str) -> str:
    return f'<title id="{cid}-t">{esc(title)}</title><desc id="{cid}-d">{esc(desc)}</desc>'


def _describe(series: Sequence[Series], shown: list[list[tuple[int, float]]], unit: str) -> str:
    if not any(shown):
        return EMPTY_TEXT + "."
    parts = []
    for s, points in zip(series, shown, strict=True):
        what = "forecast" if s.dashed else "latest"
        if not points:
            parts.append(f"{s.name}: no data")
            continue
        t, v = points[-1]
        vs = [p[1] for p in points]
        parts.append(
            f"{s.name}: {what} {format_value(v, unit)} at {stamp(t)}, "
            f"lowest {format_value(min(vs), unit)}, highest {format_value(max(vs), unit)}"
        )
    return "; ".join(parts) + "."


def _uid(*parts: object) -> str:
    return "c" + hashlib.blake2b(repr(parts).encode(), digest_size=6).hexdigest()


# -- scales ---------------------------------------------------------------------------


_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def format_value(value: float, unit: str = "") -> str:
    """A number as a tick or table shows it: bytes in binary units, % without a space."""
    if unit == "bytes":
        return human_bytes(value)
    number = _num(value)
    if unit == "%":
        return f"{number} %"
    return f"{number} {unit}" if unit else number


def human_bytes(value: float) -> str:
    size, index = abs(value), 0
    while size >= 1024 and index < len(_BYTE_UNITS) - 1:
        size /= 1024
        index += 1
    sign = "-" if value < 0 else ""
    if index == 0:
        return f"{sign}{size:.0f} B"
    return f"{sign}{_num(size)} {_BYTE_UNITS[index]}"


def _num(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.3g}" if abs(value) >= 1 else f"{value:.2g}"


def _y_scale(
    values: list[float], unit: str, y_min: float | None, y_max: float | None,
    thresholds: list[float],
) -> tuple[float, float, list[float]]:  # fmt: skip
    """(low, high, ticks). Magnitudes start at zero (a latency chart that starts at 40 ms
    exaggerates every wobble); fixed limits are kept as given."""
    data_lo, data_hi = min(values), max(values)
    lo = y_min if y_min is not None else min(0.0, data_lo)
    hi = y_max if y_max is not None else data_hi
    if y_max is None:
        # A threshold close above the data is worth showing ("full" just above 93 %).
        hi = max([hi, *(t for t in thresholds if data_hi < t <= data_hi * 1.25)])
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    base = 1.0
    if unit == "bytes":
        # Steps of whole binary units: 256 MiB, 512 MiB, 1 GiB, not 1.07 GB.
        while hi / base >= 1024 and base < 1024**5:
            base *= 1024
    # Counts get whole-number ticks: "1.5 events" is not a reading anyone can have.
    whole = unit != "bytes" and all(float(v).is_integer() for v in values)
    ticks = [t * base for t in nice_ticks(lo / base, hi / base, min_step=1.0 if whole else 0.0)]
    if y_min is None:
        lo = min(lo, ticks[0])
    if y_max is None:
        hi = max(hi, ticks[-1])
    return lo, hi, [t for t in ticks if lo <= t <= hi]


def nice_ticks(lo: float, hi: float, count: int = 5, *, min_step: float = 0.0) -> list[float]:
    """About count round values covering [lo, hi] (1, 2, 2.5 or 5 times a power of ten),
    no closer together than min_step."""
    span = hi - lo
    if span <= 0 or not math.isfinite(span):
        return [lo]
    raw = max(span / max(count - 1, 1), min_step)
    power = 10 ** math.floor(math.log10(raw))
    multiples = (1, 2, 5, 10) if min_step >= 1 else (1, 2, 2.5, 5, 10)
    step = next(m * power for m in multiples if m * power >= raw)
    first = math.floor(lo / step) * step
    ticks, tick = [], first
    while tick < hi + step * 0.999:
        ticks.append(round(tick, 10))
        tick += step
    return ticks


# -- time -----------------------------------------------------------------------------

_MINUTE, _HOUR, _DAY = 60_000, 3_600_000, 86_400_000
_TIME_STEPS = (
    _MINUTE, 2 * _MINUTE, 5 * _MINUTE, 10 * _MINUTE, 15 * _MINUTE, 30 * _MINUTE,
    _HOUR, 2 * _HOUR, 3 * _HOUR, 6 * _HOUR, 12 * _HOUR,
    _DAY, 2 * _DAY, 7 * _DAY, 14 * _DAY, 28 * _DAY, 91 * _DAY, 364 * _DAY,
)  # fmt: skip


def stamp(ms: int | float) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def time_ticks(start_ms: int, end_ms: int, max_ticks: int) -> list[tuple[int, str]]:
    """Round UTC times across the window with their labels: HH:MM within a day or two
    (a date at midnight), dates for longer spans."""
    span = max(end_ms - start_ms, 1)
    step = next((s for s in _TIME_STEPS if span / s <= max(max_ticks, 2)), _TIME_STEPS[-1])
    first = -(-start_ms // step) * step
    out = []
    for t in range(first, end_ms + 1, step):
        when = datetime.fromtimestamp(t / 1000, UTC)
        if step >= _DAY or t % _DAY == 0:
            label = when.strftime("%Y-%m-%d" if step >= 91 * _DAY else "%m-%d")
        else:
            label = when.strftime("%H:%M")
        out.append((t, label))
    return out


def _time_axis(start_ms: int, end_ms: int, plot_w: int, plot_h: int, left: int = _LEFT) -> str:
    base = _TOP + plot_h
    parts = []
    for t, label in time_ticks(start_ms, end_ms, plot_w // 80):
        x = left + (t - start_ms) / (end_ms - start_ms) * plot_w
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{base}" y2="{base + 4}" stroke="{MUTED}"/>'
            f'<text x="{x:.1f}" y="{base + 16}" text-anchor="middle" fill="{MUTED}" {FONT}>'
            f"{esc(label)}</text>"
        )
    parts.append(
        f'<text x="{left + plot_w}" y="{base + 26}" text-anchor="end" fill="{MUTED}" '
        f'{FONT_FAMILY} font-size="9">UTC</text>'
    )
    return f'<g class="axis time">{"".join(parts)}</g>'


# -- event strips ---------------------------------------------------------------------

# kind → (lane label, colour, shape). Kinds not listed get a lane of their own, in grey.
MARK_KINDS: dict[str, tuple[str, str, str]] = {
    "boot": ("Boots", "#1a7f37", "up"),
    "clean_shutdown": ("Clean shutdowns", "#4b5563", "square"),
    "unclean_shutdown": ("Unclean shutdowns", "#c2410c", "diamond"),
    "crash": ("Crashes", "#b00020", "cross"),
    "panic": ("Kernel panics", "#b00020", "circle"),
    "bluescreen": ("Bluescreens", "#0a5bd3", "square"),
    "failed_unit": ("Failed units", "#8250df", "down"),
}
_LANE_H = 22
_STRIP_LEFT = 130
_SAFE_CLASS = re.compile(r"[^a-z0-9_-]+")


def event_strip(
    marks: Sequence[Mark],
    *,
    title: str,
    start_ms: int,
    end_ms: int,
    width: int = 720,
    chart_id: str | None = None,
) -> str:
    """One lane per kind of mark present (boots, shutdowns, crashes...), one marker per
    mark at its time, each with a tooltip (<title>) saying what and when."""
    if end_ms <= start_ms:
        end_ms = start_ms + 1
    width = max(width, 240)
    cid = chart_id or _uid("strip", title, start_ms, end_ms, *marks)
    inside = sorted((m for m in marks if start_ms <= m.time_ms <= end_ms), key=lambda m: m.time_ms)
    kinds = [k for k in MARK_KINDS if any(m.kind == k for m in inside)]
    kinds += sorted({m.kind for m in inside} - set(kinds))
    lanes = max(len(kinds), 1)
    plot_w = width - _STRIP_LEFT - _RIGHT
    plot_h = lanes * _LANE_H
    height = _TOP + plot_h + _BOTTOM
    counts = [f"{sum(m.kind == k for m in inside)} {_lane(k).lower()}" for k in kinds]
    desc = (", ".join(counts) if inside else "no events in this window") + "."
    out = [_open_svg(cid, width, height, "chart strip"), _titles(cid, title, desc)]
    out.append(
        f'<rect x="{_STRIP_LEFT}" y="{_TOP}" width="{plot_w}" height="{plot_h}" fill="none" '
        f'stroke="{GRID}"/>'
    )
    if not inside:
        out.append(
            f'<text x="{_STRIP_LEFT + plot_w / 2:.1f}" y="{_TOP + plot_h / 2 + 4:.1f}" '
            f'text-anchor="middle" fill="{MUTED}" {FONT} class="empty">'
            "no events in this window</text>"
        )
    for lane, kind in enumerate(kinds):
        y = _TOP + lane * _LANE_H + _LANE_H / 2
        _, colour, shape = MARK_KINDS.get(kind, (kind, MUTED, "circle"))
        out.append(
            f'<line x1="{_STRIP_LEFT}" x2="{_STRIP_LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{GRID}" stroke-width="0.5"/>'
            f'<text x="{_STRIP_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="currentColor" '
            f"{FONT}>{esc(_lane(kind))}</text>"
        )
        cls = _SAFE_CLASS.sub("-", kind.lower()).strip("-") or "other"
        for m in inside:
            if m.kind != kind:
                continue
            x = _STRIP_LEFT + (m.time_ms - start_ms) / (end_ms - start_ms) * plot_w
            out.append(
                f'<g class="mark m-{cls}"><title>{esc(m.label)} ({stamp(m.time_ms)})</title>'
                f"{_shape(shape, x, y, colour)}</g>"
            )
    out.append(_time_axis(start_ms, end_ms, plot_w, plot_h, _STRIP_LEFT))
    out.append("</svg>")
    return "".join(out)


def _lane(kind: str) -> str:
    return MARK_KINDS[kind][0] if kind in MARK_KINDS else kind.replace("_", " ").capitalize()


# Marker outlines around (0, 0), one unit = the marker's radius.
_OUTLINES: dict[str, tuple[tuple[float, float], ...]] = {
    "up": ((0, -1), (1, 0.8), (-1, 0.8)),
    "down": ((0, 1), (1, -0.8), (-1, -0.8)),
    "square": ((-0.8, -0.8), (0.8, -0.8), (0.8, 0.8), (-0.8, 0.8)),
    "diamond": ((0, -1), (1, 0), (0, 1), (-1, 0)),
}


def _shape(shape: str, x: float, y: float, colour: str) -> str:
    r = 6.0
    if shape == "cross":
        s = r * 0.8
        return (
            f'<path d="M{x - s:.1f},{y - s:.1f} L{x + s:.1f},{y + s:.1f} M{x - s:.1f},'
            f'{y + s:.1f} L{x + s:.1f},{y - s:.1f}" fill="none" stroke="{colour}" '
            'stroke-width="2.5"/>'
        )
    outline = _OUTLINES.get(shape)
    if outline is None:
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r * 0.8:.1f}" fill="{colour}"/>'
    points = " ".join(f"{x + dx * r:.1f},{y + dy * r:.1f}" for dx, dy in outline)
    return f'<polygon points="{points}" fill="{colour}"/>'
