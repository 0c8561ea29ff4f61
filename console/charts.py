"""Bar charts drawn on the server as SVG: one bar per day, scaled to the largest value, with its label.

The console's Content-Security-Policy runs no inline script or style, and a chart library would need one or a
build step; a bar chart is a few rectangles, so the template draws what this computes (presentation
attributes only, no `style`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

WIDTH = 720
HEIGHT = 160
TOP = 12
BOTTOM = 20


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: str


@dataclass(frozen=True)
class Chart:
    title: str
    bars: list[Bar]
    maximum: str
    width: int = WIDTH
    height: int = HEIGHT
    baseline: int = HEIGHT - BOTTOM


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def bar_chart(title: str, values: dict[date, Decimal | int], first: date, last: date, unit: str = "") -> Chart:
    """Every day from `first` to `last` gets a slot, days without usage a zero-height bar."""
    slots = days(first, last)
    top = max((Decimal(v) for v in values.values()), default=Decimal(0))
    step = WIDTH / max(len(slots), 1)
    room = HEIGHT - TOP - BOTTOM
    bars = []
    for n, day in enumerate(slots):
        value = Decimal(values.get(day, 0))
        height = float(value / top) * room if top > 0 else 0.0
        bars.append(
            Bar(
                x=round(n * step + step * 0.1, 2),
                y=round(HEIGHT - BOTTOM - height, 2),
                width=round(step * 0.8, 2),
                height=round(height, 2),
                label=day.isoformat(),
                value=f"{unit}{value.normalize():f}" if value else f"{unit}0",
            )
        )
    return Chart(title=title, bars=bars, maximum=f"{unit}{top.normalize():f}" if top else f"{unit}0")
