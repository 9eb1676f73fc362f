"""Sparklines drawn on the server: a day of hourly counts as the bars of an inline SVG.

No JavaScript and no inline styles (the CSP forbids both): each bar carries a class the
stylesheet colours with the palette's variables, so dark mode follows. The SVG is
``role="img"`` with an ``aria-label`` stating the total and the peak, and each bar has a
``<title>`` (its hour and count) that a pointer shows on hover.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from statewave_server.services.admin.activity import LastDay

WIDTH: Final = 240  # 24 bars of 10 units
HEIGHT: Final = 40
_SLOT: Final = WIDTH / 24
_GAP: Final = 1.5


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass(frozen=True)
class Sparkline:
    id: str
    heading: str
    label: str  # the accessible name: what, total and peak
    caption: str
    bars: list[Bar]
    width: int = WIDTH
    height: int = HEIGHT


@dataclass(frozen=True)
class Layer:
    """One stacked series: its counts, its CSS class and the noun of one count."""

    counts: Sequence[int]
    css: str
    noun: str


def _span(hour: datetime) -> str:
    return f"{hour:%H:%M}–{hour + timedelta(hours=1):%H:%M} UTC"


def _bars(hours: Sequence[datetime], layers: Sequence[Layer]) -> list[Bar]:
    """Each hour's layers stacked bottom-up, scaled so the tallest hour fills the height."""
    totals = [sum(layer.counts[i] for layer in layers) for i in range(len(hours))]
    scale = HEIGHT / max(max(totals, default=0), 1)
    bars: list[Bar] = []
    for i, hour in enumerate(hours):
        base = float(HEIGHT)
        for layer in layers:
            n = layer.counts[i]
            if not n:
                continue
            height = n * scale
            base -= height
            bars.append(
                Bar(
                    x=round(i * _SLOT + _GAP / 2, 2),
                    y=round(base, 2),
                    width=round(_SLOT - _GAP, 2),
                    height=round(height, 2),
                    css=layer.css,
                    title=f"{_span(hour)}: {n} {layer.noun}",
                )
            )
    return bars


def _peak(hours: Sequence[datetime], counts: Sequence[int]) -> str:
    top = max(counts, default=0)
    if not top:
        return "peak 0"
    return f"peak {top} at {hours[list(counts).index(top)]:%H:%M} UTC"


def counts_chart(
    chart_id: str, heading: str, hours: Sequence[datetime], layers: Sequence[Layer]
) -> Sparkline:
    """Counts per hour (stacked when several layers): the label gives each layer's total
    and the busiest hour."""
    per_hour = [sum(layer.counts[i] for layer in layers) for i in range(len(hours))]
    totals = ", ".join(f"{sum(layer.counts)} {layer.noun}" for layer in layers)
    summary = f"{totals}; {_peak(hours, per_hour)}"
    return Sparkline(
        id=chart_id,
        heading=heading,
        label=f"{heading}, last 24 hours: {summary}",
        caption=summary,
        bars=_bars(hours, layers),
    )


def level_chart(
    chart_id: str, heading: str, hours: Sequence[datetime], layer: Layer, how: str
) -> Sparkline:
    """A level sampled at each hour's end (a queue's depth): peak and latest, and ``how``
    the level is derived."""
    latest = layer.counts[-1] if layer.counts else 0
    summary = f"{_peak(hours, layer.counts)}, now {latest} {layer.noun}"
    return Sparkline(
        id=chart_id,
        heading=heading,
        label=f"{heading}, last 24 hours: {summary}. {how}",
        caption=f"{summary}. {how}",
        bars=_bars(hours, [layer]),
    )


QUEUE_DEPTH_HOW: Final = (
    "Jobs waiting at each hour's end: created by then and not yet started "
    "(from created_at and the latest started_at; purged jobs are not counted)."
)


def last_day_charts(day: LastDay) -> list[Sparkline]:
    """The dashboard's four sparklines."""
    hours = day.hours
    return [
        counts_chart(
            "episodes", "Episodes recorded", hours, [Layer(day.episodes, "spark-bar", "episodes")]
        ),
        counts_chart(
            "compiles",
            "Jobs completed",
            hours,
            [Layer(day.jobs_completed, "spark-bar", "jobs")],
        ),
        counts_chart(
            "deliveries",
            "Webhook deliveries",
            hours,
            [
                Layer(day.delivered, "spark-ok", "delivered"),
                Layer(day.failed, "spark-bad", "failed or dead-lettered"),
            ],
        ),
        level_chart(
            "queue",
            "Job queue depth",
            hours,
            Layer(day.queue_depth, "spark-bar", "waiting"),
            QUEUE_DEPTH_HOW,
        ),
    ]
