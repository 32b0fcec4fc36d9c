"""The inline SVG plots: well-formed, accessible, escaped, and saying what they show."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from collector.web.plots import (
    EMPTY_TEXT,
    Mark,
    Series,
    event_strip,
    format_value,
    human_bytes,
    line_chart,
    nice_ticks,
    time_ticks,
)

NS = "{http://www.w3.org/2000/svg}"
T0 = 1_760_000_000_000  # 2025-10-09 08:53:20 UTC
MIN = 60_000
HOUR = 3_600_000
GIB = 1024**3
HOSTILE = '<script>alert("x")</script> & co'


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg"
    return root


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{NS}text")]


def ramp(n: int = 10, step: int = 10 * MIN, slope: float = 1.0) -> tuple[tuple[int, float], ...]:
    return tuple((T0 + i * step, i * slope) for i in range(n))


def test_a_line_chart_is_an_image_named_by_its_title_and_described() -> None:
    svg = line_chart([Series("/home", ramp())], title="Used space", unit="%",
                     start_ms=T0, end_ms=T0 + 2 * HOUR)  # fmt: skip
    root = parse(svg)
    assert root.get("role") == "img"
    title_id, desc_id = root.get("aria-labelledby", "").split()
    by_id = {e.get("id"): e for e in root.iter() if e.get("id")}
    assert by_id[title_id].tag == f"{NS}title" and by_id[title_id].text == "Used space"
    desc = by_id[desc_id].text or ""
    assert by_id[desc_id].tag == f"{NS}desc"
    # The numbers are in words for whoever cannot see the line.
    assert "/home: latest 9 % at 2025-10-09 10:23 UTC, lowest 0 %, highest 9 %" in desc


def test_hostile_names_are_escaped_everywhere() -> None:
    svg = line_chart([Series(HOSTILE, ramp())], title=HOSTILE, unit=HOSTILE,
                     start_ms=T0, end_ms=T0 + 2 * HOUR,
                     thresholds=((5.0, HOSTILE),))  # fmt: skip
    assert "<script>" not in svg
    root = parse(svg)  # still well-formed: every & and < was escaped
    assert root.find(f"{NS}title") is not None
    assert root.find(f"{NS}title").text == HOSTILE  # type: ignore[union-attr]
    assert HOSTILE in texts(root)  # the legend shows the name as text, not as markup


def test_no_points_in_the_window_shows_the_empty_state() -> None:
    outside = Series("old", ((T0 - 10 * HOUR, 1.0),))
    for series in ([], [outside], [Series("nan", ((T0 + MIN, float("nan")),))]):
        root = parse(line_chart(series, title="Empty", start_ms=T0, end_ms=T0 + HOUR))
        assert EMPTY_TEXT in texts(root)
        assert root.find(f".//{NS}polyline") is None
        assert root.get("role") == "img"
    # A chart with data has no empty-state text.
    full = parse(line_chart([Series("a", ramp())], title="x", start_ms=T0, end_ms=T0 + 2 * HOUR))
    assert EMPTY_TEXT not in texts(full)


def test_a_forecast_is_dashed_and_can_share_its_series_colour() -> None:
    svg = line_chart(
        [Series("/", ramp()), Series("/var", ramp(slope=2)),
         Series("/ forecast", ((T0 + 90 * MIN, 9.0), (T0 + 3 * HOUR, 30.0)), dashed=True,
                colour=0)],
        title="Disk", unit="%", start_ms=T0, end_ms=T0 + 3 * HOUR,
    )  # fmt: skip
    lines = parse(svg).findall(f".//{NS}g[@class='series']/{NS}polyline")
    forecast = parse(svg).findall(f".//{NS}g[@class='series forecast']/{NS}polyline")
    assert [p.get("class") for p in lines] == ["s0", "s1"]
    assert all(p.get("stroke-dasharray") is None for p in lines)
    assert len(forecast) == 1
    assert forecast[0].get("class") == "s0" and forecast[0].get("stroke-dasharray")
    # The legend draws the forecast's swatch dashed too.
    swatches = parse(svg).findall(f".//{NS}g[@class='legend']/{NS}line")
    assert [s.get("stroke-dasharray") is not None for s in swatches] == [False, False, True]


def test_byte_axes_are_labelled_in_binary_units() -> None:
    points = tuple((T0 + i * 10 * MIN, i * 0.5 * GIB) for i in range(7))  # 0 .. 3 GiB
    labels = texts(parse(line_chart([Series("used", points)], title="Used", unit="bytes",
                                    start_ms=T0, end_ms=T0 + HOUR)))  # fmt: skip
    y_labels = [t for t in labels if t.endswith("iB") or t.endswith(" B")]
    assert "0 B" in y_labels and "1 GiB" in y_labels and "3 GiB" in y_labels
    assert not any("e+" in t or "GB" in t for t in labels)
    assert human_bytes(1536) == "1.5 KiB" and human_bytes(512) == "512 B"
    assert format_value(2.5 * 1024**4, "bytes") == "2.5 TiB"
    assert format_value(50, "%") == "50 %" and format_value(12.345, "ms") == "12.3 ms"


def test_counts_get_whole_number_ticks() -> None:
    points = ((T0, 0.0), (T0 + HOUR, 2.0))
    labels = texts(parse(line_chart([Series("n", points)], title="n", start_ms=T0,
                                    end_ms=T0 + HOUR)))  # fmt: skip
    assert "1" in labels and "0.5" not in labels and "1.5" not in labels
    assert nice_ticks(0, 2, min_step=1.0) == [0, 1, 2]
    assert nice_ticks(0, 100) == [0, 25, 50, 75, 100]


def test_time_ticks_are_utc_clock_times_or_dates() -> None:
    short = time_ticks(T0, T0 + 6 * HOUR, 8)
    assert [label for _, label in short][:3] == ["09:00", "10:00", "11:00"]
    assert all(t % HOUR == 0 for t, _ in short)
    week = time_ticks(T0, T0 + 7 * 24 * HOUR, 8)
    assert [label for _, label in week][:2] == ["10-10", "10-11"]
    # Midnight within a short span says which day it is.
    night = dict(time_ticks(T0 + 14 * HOUR, T0 + 18 * HOUR, 8))
    assert "10-10" in night.values()


def test_a_gap_in_the_readings_breaks_the_line_but_a_step_series_does_not() -> None:
    points = (*ramp(5), *((T0 + 5 * HOUR + i * 10 * MIN, float(i)) for i in range(5)))
    root = parse(line_chart([Series("a", points)], title="gap", start_ms=T0,
                            end_ms=T0 + 6 * HOUR))  # fmt: skip
    assert len(root.findall(f".//{NS}polyline")) == 2
    steps = Series("count", ((T0, 0.0), (T0 + HOUR, 1.0), (T0 + 5 * HOUR, 2.0)), step=True)
    [line] = parse(line_chart([steps], title="n", start_ms=T0, end_ms=T0 + 6 * HOUR)).findall(
        f".//{NS}polyline"
    )
    # Each new value starts where the old one held: a horizontal run, then the rise.
    xy = [tuple(map(float, p.split(","))) for p in (line.get("points") or "").split()]
    assert len(xy) == 5
    assert xy[0][1] == xy[1][1] and xy[1][0] == xy[2][0]


def test_thresholds_are_drawn_with_their_label_when_in_range() -> None:
    svg = line_chart([Series("/", ramp())], title="t", unit="%", start_ms=T0,
                     end_ms=T0 + 2 * HOUR, y_min=0, y_max=100,
                     thresholds=((100.0, "full"), (150.0, "never")))  # fmt: skip
    root = parse(svg)
    drawn = [g.find(f"{NS}title").text for g in root.iter(f"{NS}g")  # type: ignore[union-attr]
             if g.get("class") == "threshold"]  # fmt: skip
    assert drawn == ["full: 100 %"]


def test_event_strip_has_one_marker_per_mark_with_a_tooltip() -> None:
    marks = [
        Mark(T0 + HOUR, "boot", "Boot abc"),
        Mark(T0 + HOUR - 1, "unclean_shutdown", "Unclean shutdown: power loss"),
        Mark(T0 + 30 * MIN, "panic", HOSTILE),
        Mark(T0 + 2 * HOUR, "bluescreen", "bugcheck 0x9f"),
        Mark(T0 + 3 * HOUR, "weird kind!", "something else"),
        Mark(T0 - HOUR, "boot", "before the window"),
    ]
    svg = event_strip(marks, title="Boot history", start_ms=T0, end_ms=T0 + 4 * HOUR)
    assert "<script>" not in svg
    root = parse(svg)
    assert root.get("role") == "img"
    groups = [g for g in root.iter(f"{NS}g") if (g.get("class") or "").startswith("mark ")]
    assert sorted(g.get("class") or "" for g in groups) == [
        "mark m-bluescreen", "mark m-boot", "mark m-panic", "mark m-unclean_shutdown",
        "mark m-weird-kind",
    ]  # fmt: skip
    tips = {g.get("class"): g.find(f"{NS}title").text for g in groups}  # type: ignore[union-attr]
    assert tips["mark m-panic"] == f"{HOSTILE} (2025-10-09 09:23 UTC)"
    lanes = texts(root)
    for lane in ("Boots", "Unclean shutdowns", "Kernel panics", "Bluescreens", "Weird kind!"):
        assert lane in lanes
    desc = root.find(f"{NS}desc").text or ""  # type: ignore[union-attr]
    assert "1 boots" in desc  # the one before the window is not counted


def test_an_empty_event_strip_says_so() -> None:
    root = parse(event_strip([], title="Boot history", start_ms=T0, end_ms=T0 + HOUR))
    assert "no events in this window" in texts(root)
    assert not [g for g in root.iter(f"{NS}g") if (g.get("class") or "").startswith("mark")]
