"""The geometry of the dashboard's charts: scales, round axis steps and where each bar goes.

Pure functions over numbers and labels; the Jinja macros in templates/_macros/charts.html
draw what these return as inline SVG (no script, no style attribute: colours come from the
CSS classes named by each series' key). Coordinates are in the SVG's user units; the SVG
scales to its box with its viewBox.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# Column charts (orders and revenue per week): the plot sits right of the value axis' labels
# and above the week labels.
COLUMN_WIDTH = 400
COLUMN_HEIGHT = 230
COLUMN_LEFT = 62  # room for the value labels ("$120,000")
COLUMN_TOP = 12
COLUMN_BOTTOM = 28  # room for the week labels
MAX_X_LABELS = 6  # week labels shown at most; the others are in each bar's title and the table

# Horizontal bar charts (the funnel, the offers): one row per item, its label above its bar.
ROW_WIDTH = 400
ROW_LABEL = 18  # from the row's top to the label's baseline
ROW_BAR_TOP = 26
ROW_BAR = 16
ROW_NOTE = 18  # an optional line under the bar
ROW_GAP = 14
VALUE_ROOM = 150  # right of the longest bar: the value's text


@dataclass(frozen=True)
class Series:
    """One set of values drawn in one colour: ``key`` names its CSS class."""

    key: str
    name: str
    values: Sequence[int]


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: str
    title: str  # the bar's tooltip and accessible name: what it is and its value


@dataclass(frozen=True)
class Tick:
    position: float  # y of a value axis line (column charts)
    text: str


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class ColumnChart:
    width: int
    height: int
    left: float  # the plot's box
    right: float
    top: float
    baseline: float
    ticks: list[Tick]
    bars: list[Bar]
    labels: list[Label]  # under the baseline, centred on their group


@dataclass(frozen=True)
class Row:
    label: Label
    bar: Bar
    value: Label
    note: Label | None


@dataclass(frozen=True)
class RowChart:
    width: int
    height: int
    longest: float  # the length of the longest bar
    rows: list[Row]


def nice_ticks(maximum: int, count: int = 4) -> list[int]:
    """Whole, round values from 0 to at least ``maximum`` in about ``count`` equal steps
    (1, 2, 2.5 or 5 times a power of ten; never a step below 1): 0 → [0, 1],
    7 → [0, 2, 4, 6, 8], 45_000 → [0, 10_000, 20_000, 30_000, 40_000, 50_000]."""
    if maximum <= 0:
        return [0, 1]
    raw = maximum / count
    magnitude = 10 ** max(0, math.floor(math.log10(raw))) if raw >= 1 else 1
    multipliers = (1, 2, 2.5, 5, 10) if magnitude >= 10 else (1, 2, 5, 10)
    step = next(int(m * magnitude) for m in multipliers if m * magnitude >= raw)
    top = math.ceil(maximum / step) * step
    return list(range(0, top + 1, step))


def scale(value: float, maximum: float, length: float) -> float:
    """``value`` of a scale from 0 to ``maximum`` as a length out of ``length``."""
    return 0.0 if maximum <= 0 else length * value / maximum


def label_every(count: int, at_most: int = MAX_X_LABELS) -> int:
    """Label one category in this many so that at most ``at_most`` labels show."""
    return max(1, math.ceil(count / at_most))


def column_chart(
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    value_text: Callable[[int], str] = str,
    title: Callable[[str, Series, int], str] | None = None,
    width: int = COLUMN_WIDTH,
    height: int = COLUMN_HEIGHT,
) -> ColumnChart:
    """Vertical bars, grouped by category (a week), one bar per series in each group, on a
    value axis of round ticks from 0. ``value_text`` writes a value (the ticks, the titles);
    ``title(category, series, value)`` a bar's title."""
    left, right = COLUMN_LEFT, width - 4
    top, baseline = COLUMN_TOP, height - COLUMN_BOTTOM
    highest = max((value for one in series for value in one.values), default=0)
    ticks = nice_ticks(highest)
    plot_height = baseline - top
    group = (right - left) / max(1, len(categories))
    padding = group * 0.18
    bar_width = (group - 2 * padding) / max(1, len(series))
    write = title or (lambda category, one, value: f"{category}: {value_text(value)} {one.name}")
    bars = []
    for index, category in enumerate(categories):
        for number, one in enumerate(series):
            value = one.values[index]
            size = scale(value, ticks[-1], plot_height)
            bars.append(
                Bar(
                    x=round(left + index * group + padding + number * bar_width, 2),
                    y=round(baseline - size, 2),
                    width=round(bar_width, 2),
                    height=round(size, 2),
                    series=one.key,
                    title=write(category, one, value),
                )
            )
    every = label_every(len(categories))
    labels = [
        Label(x=round(left + (index + 0.5) * group, 2), y=baseline + 18, text=category)
        for index, category in enumerate(categories)
        if index % every == 0
    ]
    return ColumnChart(
        width=width,
        height=height,
        left=left,
        right=right,
        top=top,
        baseline=baseline,
        ticks=[
            Tick(
                position=round(baseline - scale(tick, ticks[-1], plot_height), 2),
                text=value_text(tick),
            )
            for tick in ticks
        ],
        bars=bars,
        labels=labels,
    )


def row_chart(
    items: Sequence[tuple[str, int, str, str | None]],
    *,
    series: str,
    width: int = ROW_WIDTH,
    value_room: int = VALUE_ROOM,
) -> RowChart:
    """Horizontal bars, one row per ``(label, value, value text, note or None)``: the label
    above the bar, the value's text right of it, the note (if any) under it. The longest bar
    leaves ``value_room`` for its text."""
    highest = max((value for _, value, _, _ in items), default=0)
    length = width - value_room
    rows = []
    y = 0.0
    for label, value, text, note in items:
        size = round(scale(value, highest, length), 2)
        bar_y = y + ROW_BAR_TOP
        rows.append(
            Row(
                label=Label(x=0, y=y + ROW_LABEL, text=label),
                bar=Bar(
                    x=0,
                    y=bar_y,
                    width=size,
                    height=ROW_BAR,
                    series=series,
                    title=f"{label}: {text}",
                ),
                value=Label(x=round(size + 6, 2), y=bar_y + ROW_BAR - 3, text=text),
                note=Label(x=0, y=bar_y + ROW_BAR + ROW_NOTE - 2, text=note) if note else None,
            )
        )
        y = bar_y + ROW_BAR + (ROW_NOTE if note else 0) + ROW_GAP
    return RowChart(
        width=width, height=max(1, math.ceil(y - ROW_GAP + 4)), longest=length, rows=rows
    )
