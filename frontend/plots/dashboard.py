"""The campaign dashboard's figure: classifications per day, from ``labeling.inspect.dashboard``'s numbers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bokeh.embed import json_item
from bokeh.models import BasicTicker, ColumnDataSource, DatetimeTickFormatter, DaysTicker, HoverTool, Range1d
from bokeh.plotting import figure

from frontend.plots.style import dark_panel

BAR = "#58a6ff"
# A campaign's first day would otherwise fill the width with one block ticked in hours: the axis spans a week
# at least (the days before the first one empty), ticked in days, each bar most of a day wide.
MIN_DAYS_SHOWN = 7
BAR_WIDTH = dt.timedelta(hours=18)
DAY_FORMAT = "%b %d"


def day_axis_range(days: list[dt.date]) -> tuple[dt.datetime, dt.datetime]:
    """The x range: the campaign's days (today when it has none), widened back to ``MIN_DAYS_SHOWN`` days,
    with half a day of margin either side so the end bars are whole."""
    last = max(days) if days else dt.datetime.now(dt.UTC).date()
    first = min([*days, last - dt.timedelta(days=MIN_DAYS_SHOWN - 1)])
    start = dt.datetime.combine(first, dt.time(0)) - dt.timedelta(hours=12)
    end = dt.datetime.combine(last, dt.time(0)) + dt.timedelta(hours=12)
    return start, end


def classifications_per_day_figure(stats: dict[str, Any]):
    days = [dt.date.fromisoformat(r["day"]) for r in stats["per_day"]]
    source = ColumnDataSource(
        {
            # Each bar centred on its day's midnight, where the day ticks are, so a tick names the bar above it.
            "day": [dt.datetime.combine(d, dt.time(0)) for d in days],
            "n": [r["classifications"] for r in stats["per_day"]],
            "people": [r["volunteers"] for r in stats["per_day"]],
        }
    )
    start, end = day_axis_range(days)
    plot = figure(
        height=260,
        sizing_mode="stretch_width",
        x_axis_type="datetime",
        x_range=Range1d(start, end),
        title="Classifications per day (UTC)",
        toolbar_location=None,
    )
    dark_panel(plot)
    plot.vbar(x="day", top="n", width=BAR_WIDTH, source=source, color=BAR)
    plot.add_tools(
        HoverTool(
            tooltips=[("day", "@day{%F}"), ("classifications", "@n"), ("volunteers", "@people")],
            formatters={"@day": "datetime"},
        )
    )
    span_days = (end - start).days
    if span_days <= 62:
        # Whole days only: bokeh's own ticker would tick a short range in hours.
        step = 1 if span_days <= 10 else 2 if span_days <= 21 else 7
        plot.xaxis.ticker = DaysTicker(days=list(range(1, 32, step)))
    plot.xaxis.formatter = DatetimeTickFormatter(hours=DAY_FORMAT, days=DAY_FORMAT, months="%b %Y", years="%Y")
    plot.y_range.start = 0
    plot.yaxis.ticker = BasicTicker(min_interval=1)  # whole classifications, even on a first day of three
    plot.yaxis.axis_label = "classifications"
    return plot


def classifications_per_day_plot(stats: dict[str, Any]) -> dict:
    """A bokeh json_item of classifications per day (embedded by static JS)."""
    return json_item(classifications_per_day_figure(stats))
