"""Light curves: the stored points of an object as JSON, and as a bokeh figure for the pages.

Points come from ``LightCurvePoint`` (detections and upper limits gathered at ingest from every alert of the
object, each (jd, filter) once). The figure follows what ZTF scanners are used to: magnitude against time,
one colour per filter (g green, r red, i amber), error bars on detections, upper limits as open downward
triangles (the source was fainter than that), brighter up (y axis inverted), and the alert being looked at
marked. BokehJS is served by Blink from the installed bokeh package; pages embed the figure with
``Bokeh.embed.embed_item`` on the ``json_item`` this module returns (no inline script).
"""

from __future__ import annotations

from bokeh.embed import json_item
from bokeh.models import ColumnDataSource, HoverTool, Span
from bokeh.plotting import figure

from labeling.models import FILTER_NAMES, Alert, LightCurvePoint

FILTER_COLOURS = {1: "#3fb950", 2: "#f85149", 3: "#d29922"}  # g, r, i on the dark page
MJD_OFFSET = 2400000.5
# The page's dark panel, so the plot sits in it rather than on a white card.
PANEL, GRID, TEXT, MUTED = "#161b22", "#30363d", "#e6edf3", "#9da7b3"


def light_curve_points(object_id: str) -> list[dict]:
    """Every stored point of an object, oldest first, as plain dicts (selector: no writes)."""
    rows = LightCurvePoint.objects.filter(object_id=object_id).order_by("jd", "fid")
    return [
        {
            "jd": p.jd,
            "mjd": round(p.jd - MJD_OFFSET, 6),
            "fid": p.fid,
            "filter": FILTER_NAMES.get(p.fid, str(p.fid)),
            "is_detection": p.is_detection,
            "magpsf": p.magpsf,
            "sigmapsf": p.sigmapsf,
            "diffmaglim": p.diffmaglim,
            "isdiffpos": p.isdiffpos,
            "candid": p.candid,
        }
        for p in rows.only(
            "jd", "fid", "is_detection", "magpsf", "sigmapsf", "diffmaglim", "isdiffpos", "candid"
        ).iterator()
    ]


def light_curve_json(alert: Alert) -> dict:
    points = light_curve_points(alert.object_id)
    return {
        "object_id": alert.object_id,
        "candid": alert.candid,
        "alert_jd": alert.jd,
        "n_detections": sum(p["is_detection"] for p in points),
        "n_upper_limits": sum(not p["is_detection"] for p in points),
        "points": points,
    }


def light_curve_figure(points: list[dict], *, alert_jd: float | None = None, height: int = 280):
    """Magnitude against days relative to the alert (or MJD when there is no alert), per filter."""
    reference = alert_jd if alert_jd is not None else MJD_OFFSET
    x_label = "days relative to this alert" if alert_jd is not None else "MJD"
    fig = figure(
        height=height,
        sizing_mode="stretch_width",
        x_axis_label=x_label,
        y_axis_label="PSF magnitude",
        tools="pan,wheel_zoom,box_zoom,reset,save",
        toolbar_location="above",
        background_fill_color=PANEL,
        border_fill_color=PANEL,
        outline_line_color=GRID,
    )
    fig.y_range.flipped = True  # brighter is up, as astronomers read magnitudes
    for axis in (fig.xaxis, fig.yaxis):
        axis.axis_line_color = MUTED
        axis.major_tick_line_color = MUTED
        axis.minor_tick_line_color = MUTED
        axis.major_label_text_color = TEXT
        axis.axis_label_text_color = MUTED
        axis.axis_label_text_font_style = "normal"
    fig.grid.grid_line_color = GRID
    fig.grid.grid_line_alpha = 0.6

    hover_renderers = []
    for fid in sorted({p["fid"] for p in points}):
        colour = FILTER_COLOURS.get(fid, "#c9d1d9")
        name = FILTER_NAMES.get(fid, str(fid))
        detections = [p for p in points if p["fid"] == fid and p["is_detection"] and p["magpsf"] is not None]
        limits = [p for p in points if p["fid"] == fid and not p["is_detection"] and p["diffmaglim"] is not None]
        if detections:
            sigma = [p["sigmapsf"] or 0.0 for p in detections]
            source = ColumnDataSource(
                {
                    "x": [p["jd"] - reference for p in detections],
                    "mag": [p["magpsf"] for p in detections],
                    "lo": [p["magpsf"] - s for p, s in zip(detections, sigma, strict=True)],
                    "hi": [p["magpsf"] + s for p, s in zip(detections, sigma, strict=True)],
                    "sigma": sigma,
                    "mjd": [p["jd"] - MJD_OFFSET for p in detections],
                    "filter": [name] * len(detections),
                }
            )
            fig.segment(x0="x", y0="lo", x1="x", y1="hi", source=source, line_color=colour, line_width=1.5)
            hover_renderers.append(
                fig.scatter(
                    "x",
                    "mag",
                    source=source,
                    size=8,
                    color=colour,
                    line_color="#0d1117",
                    legend_label=f"{name} detection",
                )
            )
        if limits:
            source = ColumnDataSource(
                {
                    "x": [p["jd"] - reference for p in limits],
                    "mag": [p["diffmaglim"] for p in limits],
                    "mjd": [p["jd"] - MJD_OFFSET for p in limits],
                    "filter": [name] * len(limits),
                }
            )
            fig.scatter(
                "x",
                "mag",
                source=source,
                marker="inverted_triangle",
                size=9,
                fill_alpha=0.0,
                line_color=colour,
                line_width=1.5,
                legend_label=f"{name} upper limit",
            )
    if alert_jd is not None:
        fig.add_layout(Span(location=0, dimension="height", line_color=MUTED, line_dash="dashed", line_width=1))
    if hover_renderers:
        fig.add_tools(
            HoverTool(
                renderers=hover_renderers,
                tooltips=[("filter", "@filter"), ("mag", "@mag{0.00} ± @sigma{0.00}"), ("MJD", "@mjd{0.000}")],
            )
        )
    if fig.legend:
        # Beside the plot, not over it: the newest points sit top right and the oldest top left.
        legend = fig.legend[0]
        fig.center = [item for item in fig.center if item is not legend]
        fig.add_layout(legend, "below")
        legend.orientation = "horizontal"
        # Two entries a row: four in one row overflow the classify page's narrow light-curve column.
        legend.ncols = min(2, len(legend.items))
        fig.legend.background_fill_color = PANEL
        fig.legend.background_fill_alpha = 0.8
        fig.legend.border_line_color = GRID
        fig.legend.label_text_color = TEXT
        fig.legend.label_text_font_size = "8pt"
        fig.legend.click_policy = "hide"
    else:
        fig.title.text = "No light-curve points stored for this object"
        fig.title.text_color = MUTED
    return fig


def light_curve_item(alert: Alert) -> dict:
    """The alert's light curve as a bokeh ``json_item`` for ``Bokeh.embed.embed_item``."""
    return json_item(light_curve_figure(light_curve_points(alert.object_id), alert_jd=alert.jd))
