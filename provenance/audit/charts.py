"""Inline SVG charts for the audit report: no JavaScript, no fonts or files to fetch.

A chart is a string of SVG markup that goes straight into the page.  Every label is
escaped here (generator names come from the ledger), and every bar carries a `<title>`, so
hovering shows the exact count without any script.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from html import escape

#: At most this many bars: beyond it days are grouped into weeks, then months.
MAX_BUCKETS = 62
_WIDTH, _HEIGHT = 760, 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 12, 12, 44
_X_LABELS = 10
_MAX_BAR = 56


@dataclass(frozen=True)
class Series:
    """One stacked layer: a name, its colour, and one value per bucket."""

    name: str
    colour: str
    values: Sequence[int]


@dataclass(frozen=True)
class TimeAxis:
    """Buckets covering a day range without gaps: `unit` is day, week or month."""

    unit: str
    labels: list[str]
    bucket_of: Callable[[str], str]


def time_axis(days: Iterable[str]) -> TimeAxis:
    """Buckets for the days seen: daily when few, else weekly (Mondays), else monthly."""
    seen = sorted({date.fromisoformat(d) for d in days})
    if not seen:
        return TimeAxis("day", [], lambda d: d)
    first, last = seen[0], seen[-1]
    if (last - first).days < MAX_BUCKETS:
        return TimeAxis("day", _days(first, last), lambda d: d)
    monday = first - timedelta(days=first.weekday())
    if (last - monday).days // 7 < MAX_BUCKETS:

        def week_of(day: str) -> str:
            parsed = date.fromisoformat(day)
            return (parsed - timedelta(days=parsed.weekday())).isoformat()

        return TimeAxis("week", _days(monday, last, step=7), week_of)
    return TimeAxis("month", _months(first, last), lambda d: d[:7])


def _days(first: date, last: date, step: int = 1) -> list[str]:
    count = (last - first).days // step + 1
    return [(first + timedelta(days=i * step)).isoformat() for i in range(count)]


def _months(first: date, last: date) -> list[str]:
    out, year, month = [], first.year, first.month
    while (year, month) <= (last.year, last.month):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def _nice_step(top: int, ticks: int = 4) -> int:
    """A round tick step (1, 2, 5 x 10^n) so that `ticks` steps reach at least `top`."""
    raw = max(top, 1) / ticks
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= raw:
            return max(1, int(factor * magnitude))
    return int(10 * magnitude)  # pragma: no cover - the loop always returns


def stacked_bars(labels: Sequence[str], series: Sequence[Series], *, title: str) -> str:
    """A stacked bar chart: one bar per label, one coloured layer per series."""
    if not labels:
        return '<p class="empty">No entries in this period.</p>'
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    step = _nice_step(max(totals))
    top = step * max(1, math.ceil(max(totals) / step))
    plot_w, plot_h = _WIDTH - _LEFT - _RIGHT, _HEIGHT - _TOP - _BOTTOM
    band = plot_w / len(labels)
    parts = [
        f'<svg class="chart" viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    parts += _y_axis(top, step, plot_w, plot_h)
    width = min(max(band * 0.8, 1), _MAX_BAR)
    for i, label in enumerate(labels):
        x = _LEFT + (i + 0.5) * band - width / 2
        base = 0
        for layer in series:
            value = layer.values[i]
            if value <= 0:
                continue
            y = _TOP + plot_h * (1 - (base + value) / top)
            h = plot_h * value / top
            parts.append(
                f'<rect x="{x:.2f}" y="{y:.2f}" width="{width:.2f}" '
                f'height="{h:.2f}" fill="{escape(layer.colour)}">'
                f"<title>{escape(label)} · {escape(layer.name)}: {value}</title></rect>"
            )
            base += value
    parts += _x_labels(labels, band, plot_h)
    parts.append("</svg>")
    return "".join(parts)


def _y_axis(top: int, step: int, plot_w: float, plot_h: float) -> list[str]:
    out = []
    for tick in range(0, top + 1, step):
        y = _TOP + plot_h * (1 - tick / top)
        out.append(
            f'<line class="grid" x1="{_LEFT}" x2="{_LEFT + plot_w:.2f}" '
            f'y1="{y:.2f}" y2="{y:.2f}"/>'
            f'<text class="tick" x="{_LEFT - 6}" y="{y + 4:.2f}" text-anchor="end">{tick}</text>'
        )
    return out


def _x_labels(labels: Sequence[str], band: float, plot_h: float) -> list[str]:
    every = max(1, math.ceil(len(labels) / _X_LABELS))
    y = _TOP + plot_h + 16
    return [
        f'<text class="tick" x="{_LEFT + (i + 0.5) * band:.2f}" y="{y:.2f}" '
        f'text-anchor="middle">{escape(label)}</text>'
        for i, label in enumerate(labels)
        if i % every == 0
    ]


def legend(series: Sequence[Series]) -> str:
    """An HTML legend for a chart's series (with their totals)."""
    items = "".join(
        f'<li><span class="swatch" style="background:{escape(s.colour)}"></span>'
        f'{escape(s.name)} <span class="muted">({sum(s.values)})</span></li>'
        for s in series
    )
    return f'<ul class="legend">{items}</ul>'
