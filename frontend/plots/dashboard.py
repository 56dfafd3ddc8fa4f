"""The campaign dashboard's figure: classifications per day, from ``labeling.inspect.dashboard``'s numbers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bokeh.embed import json_item
from bokeh.models import ColumnDataSource, HoverTool
from bokeh.plotting import figure

from frontend.plots.style import dark_panel

BAR = "#58a6ff"


def classifications_per_day_plot(stats: dict[str, Any]) -> dict:
    """A bokeh json_item of classifications per day (embedded by static JS)."""
    days = [dt.date.fromisoformat(r["day"]) for r in stats["per_day"]]
    source = ColumnDataSource(
        {
            "day": [dt.datetime.combine(d, dt.time(12)) for d in days],
            "n": [r["classifications"] for r in stats["per_day"]],
            "people": [r["volunteers"] for r in stats["per_day"]],
        }
    )
    plot = figure(
        height=260,
        sizing_mode="stretch_width",
        x_axis_type="datetime",
        title="Classifications per day (UTC)",
        toolbar_location=None,
    )
    dark_panel(plot)
    plot.vbar(x="day", top="n", width=dt.timedelta(hours=20), source=source, color=BAR)
    plot.add_tools(
        HoverTool(
            tooltips=[("day", "@day{%F}"), ("classifications", "@n"), ("volunteers", "@people")],
            formatters={"@day": "datetime"},
        )
    )
    plot.y_range.start = 0
    plot.yaxis.axis_label = "classifications"
    return json_item(plot)
