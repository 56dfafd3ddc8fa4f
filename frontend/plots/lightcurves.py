"""The light curve of an alert's object as a bokeh figure, for the alert, classify and Talk pages.

The points are ``labeling.lightcurves``'s. The figure follows what ZTF scanners are used to: magnitude against
time, one colour per filter (g green, r red, i amber), error bars on detections, upper limits as open downward
triangles (the source was fainter than that), brighter up (y axis inverted), and the alert being looked at
marked. Pages embed it with ``Bokeh.embed.embed_item`` on the ``json_item`` returned here (no inline script).

Rubin measures fluxes, and at every visit, detected or not (forced photometry): its light curve is also drawn in
flux (nJy, not inverted), detections filled and forced photometry open, each with its error bar, so a faint
source below the detection threshold still shows. A Rubin alert's page opens in flux and offers magnitude
(``SCALES``); a ZTF alert has magnitudes only.
"""

from __future__ import annotations

from bokeh.embed import json_item
from bokeh.models import ColumnDataSource, HoverTool, Span
from bokeh.plotting import figure

from frontend.plots.style import MUTED, dark_legend, dark_panel
from labeling.lightcurves import MJD_OFFSET, light_curve_points
from labeling.models import FILTER_NAMES, Alert

FILTER_COLOURS = {1: "#3fb950", 2: "#f85149", 3: "#d29922", 4: "#58a6ff", 5: "#db61a2", 6: "#a371f7"}  # g r i u z y
MAG, FLUX = "mag", "flux"
SCALE_LABELS = {FLUX: "Flux (nJy)", MAG: "Magnitude"}


def scales_for(alert: Alert) -> tuple[str, ...]:
    """The scales the alert's light curve can be drawn in, its default first: Rubin flux then magnitude, ZTF
    magnitude only (it sends no fluxes)."""
    return (FLUX, MAG) if alert.survey == "rubin" else (MAG,)


def light_curve_figure(points: list[dict], *, alert_jd: float | None = None, height: int = 280, scale: str = MAG):
    """Magnitude (or, ``scale="flux"``, flux in nJy) against days relative to the alert (or MJD when there is no
    alert), per filter."""
    if scale not in SCALE_LABELS:
        raise ValueError(f"unknown scale {scale!r}; expected one of {', '.join(SCALE_LABELS)}")
    reference = alert_jd if alert_jd is not None else MJD_OFFSET
    x_label = "days relative to this alert" if alert_jd is not None else "MJD"
    fig = figure(
        height=height,
        sizing_mode="stretch_width",
        x_axis_label=x_label,
        y_axis_label="PSF flux (nJy)" if scale == FLUX else "PSF magnitude",
        tools="pan,wheel_zoom,box_zoom,reset,save",
        toolbar_location="above",
    )
    dark_panel(fig, axis_label_colour=MUTED)
    # Bokeh's drawing surface and toolbar are Tab stops: the page names them after this (static/blink.js),
    # so someone who cannot see the plot hears what it holds.
    summary = flux_summary(points) if scale == FLUX else light_curve_summary(points)
    fig.html_attributes = {"role": "figure", "aria-label": summary}
    fig.toolbar.logo = None  # a Tab stop that leads off to bokeh.org
    if scale == FLUX:
        hover_renderers = _flux_glyphs(fig, points, reference)
        tooltips = [("filter", "@filter"), ("flux", "@flux{0.0} ± @err{0.0} nJy"), ("MJD", "@mjd{0.000}")]
        # Zero flux: where a difference image shows nothing; negative points are fainter than the reference.
        fig.add_layout(Span(location=0, dimension="width", line_color=MUTED, line_dash="dotted", line_width=1))
    else:
        fig.y_range.flipped = True  # brighter is up, as astronomers read magnitudes
        hover_renderers = _magnitude_glyphs(fig, points, reference)
        tooltips = [("filter", "@filter"), ("mag", "@mag{0.00} ± @sigma{0.00}"), ("MJD", "@mjd{0.000}")]
    if alert_jd is not None:
        fig.add_layout(Span(location=0, dimension="height", line_color=MUTED, line_dash="dashed", line_width=1))
    if hover_renderers:
        fig.add_tools(HoverTool(renderers=hover_renderers, tooltips=tooltips))
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


def _flux_glyphs(fig, points: list[dict], reference: float) -> list:
    """Flux ± error per filter: detections filled, forced photometry (measured, not detected) open."""
    hover_renderers = []
    for fid in sorted({p["fid"] for p in points}):
        colour = FILTER_COLOURS.get(fid, "#c9d1d9")
        name = FILTER_NAMES.get(fid, str(fid))
        for detected, label in ((True, "detection"), (False, "forced photometry (no detection)")):
            chosen = [
                p for p in points if p["fid"] == fid and p["is_detection"] == detected and p.get("flux_njy") is not None
            ]
            if not chosen:
                continue
            err = [p.get("flux_err_njy") or 0.0 for p in chosen]
            source = ColumnDataSource(
                {
                    "x": [p["jd"] - reference for p in chosen],
                    "flux": [p["flux_njy"] for p in chosen],
                    "lo": [p["flux_njy"] - e for p, e in zip(chosen, err, strict=True)],
                    "hi": [p["flux_njy"] + e for p, e in zip(chosen, err, strict=True)],
                    "err": err,
                    "mjd": [p["jd"] - MJD_OFFSET for p in chosen],
                    "filter": [name] * len(chosen),
                }
            )
            legend = f"{name} {label}"
            fig.segment(
                x0="x", y0="lo", x1="x", y1="hi", source=source, line_color=colour, line_width=1.5, legend_label=legend
            )
            style = (
                {"color": colour, "line_color": "#0d1117"} if detected else {"fill_alpha": 0.0, "line_color": colour}
            )
            hover_renderers.append(
                fig.scatter("x", "flux", source=source, size=8, line_width=1.5, legend_label=legend, **style)
            )
    return hover_renderers


def _magnitude_glyphs(fig, points: list[dict], reference: float) -> list:
    """Magnitude ± error of detections and upper limits (open inverted triangles) per filter."""
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
    return hover_renderers


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


def flux_summary(points: list[dict]) -> str:
    """The flux figure in words: detections and forced measurements, and the flux range."""
    measured = [p for p in points if p.get("flux_njy") is not None]
    if not measured:
        return "Light curve in flux: no fluxes stored for this object"
    filters = " and ".join(FILTER_NAMES.get(fid, str(fid)) for fid in sorted({p["fid"] for p in measured}))
    detected = sum(p["is_detection"] for p in measured)
    forced = len(measured) - detected
    fluxes = [p["flux_njy"] for p in measured]
    return (
        f"Light curve in flux, {filters}: {detected} detection{'s' if detected != 1 else ''} and {forced} forced "
        f"measurement{'s' if forced != 1 else ''}, from {min(fluxes):.0f} to {max(fluxes):.0f} nJy; brighter is up"
    )


def light_curve_item(alert: Alert, scale: str | None = None) -> dict:
    """The alert's light curve as a bokeh ``json_item`` for ``Bokeh.embed.embed_item``, in ``scale`` (default:
    the survey's, ``scales_for``)."""
    scale = scale or scales_for(alert)[0]
    return json_item(light_curve_figure(light_curve_points(alert.object_id), alert_jd=alert.jd, scale=scale))
