"""The light curve of an alert's object as a bokeh figure, for the alert, classify and Talk pages.

The points are ``labeling.lightcurves``'s. The figure follows what ZTF scanners are used to: magnitude against
time, one colour per filter (g green, r red, i amber), error bars on detections, upper limits as open downward
triangles (the source was fainter than that), brighter up (y axis inverted), and the alert being looked at
marked. Pages embed it with ``Bokeh.embed.embed_item`` on the ``json_item`` returned here (no inline script).
"""

from __future__ import annotations

from bokeh.embed import json_item
from bokeh.models import ColumnDataSource, HoverTool, Span
from bokeh.plotting import figure

from frontend.plots.style import MUTED, dark_legend, dark_panel
from labeling.lightcurves import MJD_OFFSET, light_curve_points
from labeling.models import FILTER_NAMES, Alert

FILTER_COLOURS = {1: "#3fb950", 2: "#f85149", 3: "#d29922"}  # g, r, i on the dark page


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
    )
    dark_panel(fig, axis_label_colour=MUTED)
    fig.y_range.flipped = True  # brighter is up, as astronomers read magnitudes
    # Bokeh's drawing surface and toolbar are Tab stops: the page names them after this (static/blink.js),
    # so someone who cannot see the plot hears what it holds.
    fig.html_attributes = {"role": "figure", "aria-label": light_curve_summary(points)}
    fig.toolbar.logo = None  # a Tab stop that leads off to bokeh.org

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
        dark_legend(fig, font_size="8pt", alpha=0.8)
    else:
        fig.title.text = "No light-curve points stored for this object"
        fig.title.text_color = MUTED
    return fig


def light_curve_summary(points: list[dict]) -> str:
    """The figure in words: how many detections and upper limits in which filters, and the magnitude range."""
    detected = [p for p in points if p["is_detection"] and p["magpsf"] is not None]
    limits = [p for p in points if not p["is_detection"] and p["diffmaglim"] is not None]
    if not detected and not limits:
        return "Light curve: no points stored for this object"
    filters = " and ".join(FILTER_NAMES.get(fid, str(fid)) for fid in sorted({p["fid"] for p in points}))
    text = f"Light curve in {filters}: {len(detected)} detection{'s' if len(detected) != 1 else ''}"
    if detected:
        mags = [p["magpsf"] for p in detected]
        text += f" from magnitude {min(mags):.2f} to {max(mags):.2f}"
    return text + f", {len(limits)} upper limit{'s' if len(limits) != 1 else ''}; brighter is up"


def light_curve_item(alert: Alert) -> dict:
    """The alert's light curve as a bokeh ``json_item`` for ``Bokeh.embed.embed_item``."""
    return json_item(light_curve_figure(light_curve_points(alert.object_id), alert_jd=alert.jd))
