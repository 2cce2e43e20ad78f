"""Inline SVG charts: time buckets, bar geometry, escaping, well-formed markup."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

from provenance.audit import charts
from provenance.audit.charts import MAX_BUCKETS, Series, legend, stacked_bars, time_axis

SVG = "{http://www.w3.org/2000/svg}"


def _days(first: str, count: int, step: int = 1) -> list[str]:
    start = date.fromisoformat(first)
    return [(start + timedelta(days=i * step)).isoformat() for i in range(count)]


def test_a_short_period_gets_one_bar_per_day_without_gaps() -> None:
    axis = time_axis(["2025-01-05", "2025-01-01", "2025-01-05"])
    assert axis.unit == "day"
    assert axis.labels == _days("2025-01-01", 5)
    assert axis.bucket_of("2025-01-03") == "2025-01-03"
    assert time_axis([]).labels == []


def test_longer_periods_group_into_weeks_then_months() -> None:
    weeks = time_axis(["2025-01-01", "2025-06-30"])  # a Wednesday to a Monday
    assert weeks.unit == "week" and weeks.labels[0] == "2024-12-30"
    assert all(date.fromisoformat(label).weekday() == 0 for label in weeks.labels)
    assert weeks.bucket_of("2025-01-05") == "2024-12-30"
    assert weeks.bucket_of("2025-06-30") == weeks.labels[-1] == "2025-06-30"
    assert len(weeks.labels) <= MAX_BUCKETS

    months = time_axis(["2023-11-15", "2026-02-01"])
    assert months.unit == "month" and months.labels[:3] == ["2023-11", "2023-12", "2024-01"]
    assert months.labels[-1] == "2026-02" and len(months.labels) == 28
    assert months.bucket_of("2024-02-29") == "2024-02"


@pytest.mark.parametrize("top", [0, 1, 3, 4, 7, 10, 19, 99, 101, 4_999, 123_456])
def test_tick_steps_are_round_and_reach_the_top(top: int) -> None:
    step = charts._nice_step(top)
    digits = str(step).rstrip("0")
    assert digits in {"1", "2", "5"} and step * 4 >= top


def _bars(svg: str) -> list[ET.Element]:
    return ET.fromstring(svg).findall(f"{SVG}rect")


def test_bars_stack_to_scale() -> None:
    labels = ["2025-01-01", "2025-01-02", "2025-01-03"]
    series = [Series("gan", "#111111", [2, 0, 4]), Series("diffusion", "#222222", [1, 0, 4])]
    svg = stacked_bars(labels, series, title="Outputs")
    rects = _bars(svg)
    assert len(rects) == 4  # zero values draw nothing
    heights = [float(r.get("height", 0)) for r in rects]
    assert heights[0] * 2 == pytest.approx(heights[1] * 4)  # 2 vs 1, and 4 vs 4 below
    assert heights[2] == pytest.approx(heights[3])
    third_bar = heights[2] + heights[3]
    assert third_bar == pytest.approx((heights[0] + heights[1]) * 8 / 3)
    titles = [r.find(f"{SVG}title").text for r in rects]  # type: ignore[union-attr]
    assert titles[0] == "2025-01-01 · gan: 2" and titles[-1] == "2025-01-03 · diffusion: 4"
    assert {r.get("fill") for r in rects} == {"#111111", "#222222"}


def test_one_wide_band_still_draws_a_slim_bar() -> None:
    rect = _bars(stacked_bars(["2025-01-01"], [Series("a", "#000", [3])], title="t"))[0]
    assert float(rect.get("width", 0)) <= 56


def test_labels_and_names_are_escaped() -> None:
    hostile = '<script>alert("x")</script>&'
    svg = stacked_bars([hostile], [Series(hostile, "#000", [1])], title=hostile)
    ET.fromstring(svg)  # well-formed: every < and & was escaped
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    key = legend([Series(hostile, "#000", [2, 3])])
    assert "<script>" not in key and "&lt;script&gt;alert(&quot;x&quot;)" in key
    assert "(5)" in key


def test_no_labels_is_a_note_not_a_chart() -> None:
    assert stacked_bars([], [], title="t") == '<p class="empty">No entries in this period.</p>'


def test_y_axis_ticks_cover_the_tallest_bar() -> None:
    svg = stacked_bars(["d"], [Series("a", "#000", [7])], title="t")
    ticks = [int(t) for t in re.findall(r'text-anchor="end">(\d+)</text>', svg)]
    assert ticks[0] == 0 and ticks[-1] >= 7 and len(ticks) >= 3
