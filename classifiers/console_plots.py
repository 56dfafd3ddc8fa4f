"""Bokeh figures of the ML lead console, as ``json_item`` dicts for ``Bokeh.embed.embed_item``.

Written for someone who has never seen Blink: every figure has a title that says what it shows, labelled
axes with units, a legend, and the flagged nights marked in one colour that means "look here".

Building a bokeh figure costs 0.1-0.2 s of CPU, so the drift page's nine figures are built once per drift
recompute — by the background task, right after it stores the rows — and kept in Django's shared cache (Redis
or the database), so every web server and worker reads them; a page only reads them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging

from bokeh.embed import json_item
from bokeh.models import BoxAnnotation, ColumnDataSource, HoverTool, Label, Range1d
from bokeh.plotting import figure
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.db import connection

log = logging.getLogger(__name__)

# The page's dark panel, as the light curves use, so plots sit in their cards.
PANEL, GRID, TEXT, MUTED = "#161b22", "#30363d", "#e6edf3", "#9da7b3"
BAND = "#58a6ff"
FLAG = "#f85149"
A_COLOUR, B_COLOUR = "#8b949e", "#f0883e"
# (lower key, upper key, legend, alpha): outermost first, as TensorBoard draws its distributions.
BANDS = (
    ("min", "max", "min – max", 0.12),
    ("p7", "p93", "7th – 93rd percentile", 0.22),
    ("p16", "p84", "16th – 84th percentile", 0.34),
    ("p31", "p69", "31st – 69th percentile", 0.5),
)
AXIS_LABELS = {
    "score": "model score (0 = bogus, 1 = real)",
    "magpsf": "magnitude (brighter is up)",
    "fwhm": "FWHM (pixels)",
    "elong": "elongation (a/b)",
    "sgscore1": "star/galaxy score (1 = star)",
    "stamp_diff_std": "pixel std (counts)",
    "stamp_diff_mad": "robust spread (of unit-norm stamp)",
    "stamp_template_mad": "robust spread (of unit-norm stamp)",
    "agreement": "agreement (1 = same answer)",
}


def _style(fig) -> None:
    fig.background_fill_color = PANEL
    fig.border_fill_color = PANEL
    fig.outline_line_color = GRID
    fig.title.text_color = TEXT
    fig.title.text_font_size = "12pt"
    for axis in (fig.xaxis, fig.yaxis):
        axis.axis_line_color = MUTED
        axis.major_tick_line_color = MUTED
        axis.minor_tick_line_color = MUTED
        axis.major_label_text_color = TEXT
        axis.major_label_text_font_size = "10pt"
        axis.axis_label_text_color = TEXT
        axis.axis_label_text_font_style = "normal"
        axis.axis_label_text_font_size = "10pt"
    fig.grid.grid_line_color = GRID
    fig.grid.grid_line_alpha = 0.6


def _legend(fig, location: str = "top_left") -> None:
    if not fig.legend:
        return
    fig.legend.location = location
    fig.legend.background_fill_color = PANEL
    fig.legend.background_fill_alpha = 0.85
    fig.legend.border_line_color = GRID
    fig.legend.label_text_color = TEXT
    fig.legend.label_text_font_size = "9pt"
    fig.legend.click_policy = "hide"


def _ms(day: dt.date) -> float:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000.0


def drift_figure(name: str, title: str, nights: list[dict], *, height: int = 300):
    """Percentile bands of one variable over nights, the median as a line, the reference window shaded, and the
    nights where this variable drifted marked in red. Every variable's figure spans all nights, so the plots
    line up one above the other."""
    rows = [n for n in nights if name in n["percentiles"]]
    day = 24 * 3600 * 1000
    span = (_ms(nights[0]["night"]) - day, _ms(nights[-1]["night"]) + day) if nights else (0, day)
    fig = figure(
        x_range=Range1d(*span),
        height=height,
        sizing_mode="stretch_width",
        x_axis_type="datetime",
        x_axis_label="night (UTC date)",
        y_axis_label=AXIS_LABELS.get(name, name),
        title=title,
        tools="pan,wheel_zoom,box_zoom,reset,save",
        toolbar_location="above",
    )
    _style(fig)
    if not rows:
        fig.title.text = f"{title}: no values stored yet"
        return json_item(fig)
    x = [_ms(n["night"]) for n in rows]
    data = {
        "x": x,
        "night": [n["night"].isoformat() for n in rows],
        "n": [n["statistics"].get(name, {}).get("n") for n in rows],
    }
    for key in ("max", "p93", "p84", "p69", "p50", "p31", "p16", "p7", "min"):
        data[key] = [n["percentiles"][name][key] for n in rows]
    data["psi"] = [_fmt(n["statistics"].get(name, {}).get("psi")) for n in rows]
    data["ks"] = [_fmt(n["statistics"].get(name, {}).get("ks")) for n in rows]
    data["status"] = [
        "reference window" if n["reference"] else ("DRIFT" if n["statistics"].get(name, {}).get("drifted") else "ok")
        for n in rows
    ]
    source = ColumnDataSource(data)
    for low, high, legend, alpha in BANDS:
        fig.varea(x="x", y1=low, y2=high, source=source, fill_color=BAND, fill_alpha=alpha, legend_label=legend)
    fig.line("x", "p50", source=source, line_color=TEXT, line_width=2, legend_label="median")
    medians = fig.scatter("x", "p50", source=source, size=6, color=TEXT, legend_label="median")
    refs = [n for n in rows if n["reference"]]
    if refs:
        half_day = 12 * 3600 * 1000
        left, right = _ms(refs[0]["night"]) - half_day, _ms(refs[-1]["night"]) + half_day
        fig.add_layout(BoxAnnotation(left=left, right=right, fill_color=MUTED, fill_alpha=0.12, line_alpha=0))
        fig.add_layout(
            Label(
                x=left,
                y=8,
                x_units="data",
                y_units="screen",
                text=" reference window",
                text_color=MUTED,
                text_font_size="9pt",
            )
        )
    drifted = [i for i, n in enumerate(rows) if n["statistics"].get(name, {}).get("drifted")]
    if drifted:
        flagged = ColumnDataSource({k: [v[i] for i in drifted] for k, v in data.items()})
        fig.vspan(x="x", source=flagged, line_color=FLAG, line_width=2, line_alpha=0.6)
        fig.scatter(
            "x",
            "max",
            source=flagged,
            marker="inverted_triangle",
            size=13,
            color=FLAG,
            legend_label="drifted night (PSI or KS over threshold)",
        )
    fig.add_tools(
        HoverTool(
            renderers=[medians],
            tooltips=[
                ("night", "@night"),
                ("alerts with a value", "@n"),
                ("median", "@p50{0.000}"),
                ("16th – 84th", "@p16{0.000} – @p84{0.000}"),
                ("PSI", "@psi"),
                ("KS", "@ks"),
                ("status", "@status"),
            ],
        )
    )
    _legend(fig)
    # Beside the plot, not on it: the bands fill the whole frame.
    fig.add_layout(fig.legend[0], "right")
    return json_item(fig)


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def roc_figure(a_label: str, b_label: str, metrics_a: dict, metrics_b: dict, *, height: int = 380):
    fig = figure(
        height=height,
        sizing_mode="stretch_width",
        title="ROC curve on the same candidates (up and left is better)",
        x_axis_label="false-positive rate (bogus called real)",
        y_axis_label="true-positive rate (real found = recall)",
        tools="pan,wheel_zoom,box_zoom,reset,save",
        toolbar_location="above",
        x_range=Range1d(-0.02, 1.02),
        y_range=Range1d(-0.02, 1.02),
    )
    _style(fig)
    fig.line([0, 1], [0, 1], line_color=MUTED, line_dash="dashed", legend_label="chance")
    for label, metrics, colour in ((a_label, metrics_a, A_COLOUR), (b_label, metrics_b, B_COLOUR)):
        roc = metrics.get("roc") or {}
        if not roc.get("fpr"):
            continue
        auc = metrics.get("roc_auc")
        name = f"{label} (AUC {auc:.3f})" if auc is not None else label
        source = ColumnDataSource({"x": roc["fpr"], "y": roc["tpr"], "t": roc["thresholds"]})
        line = fig.line("x", "y", source=source, line_color=colour, line_width=3, legend_label=name)
        fig.add_tools(
            HoverTool(
                renderers=[line],
                tooltips=[(label, ""), ("FPR", "@x{0.000}"), ("TPR", "@y{0.000}"), ("threshold", "@t{0.000}")],
            )
        )
        if metrics.get("fpr") is not None and metrics.get("recall") is not None:
            fig.scatter(
                [metrics["fpr"]],
                [metrics["recall"]],
                size=11,
                color=colour,
                line_color=TEXT,
                legend_label=f"{label} at threshold {metrics['threshold']:.2f}",
            )
    _legend(fig, "bottom_right")
    return json_item(fig)


def pr_figure(a_label: str, b_label: str, metrics_a: dict, metrics_b: dict, *, height: int = 380):
    fig = figure(
        height=height,
        sizing_mode="stretch_width",
        title="Precision–recall on the same candidates (up and right is better)",
        x_axis_label="recall (share of real candidates found)",
        y_axis_label="precision (share of 'real' calls that are real)",
        tools="pan,wheel_zoom,box_zoom,reset,save",
        toolbar_location="above",
        x_range=Range1d(-0.02, 1.02),
        y_range=Range1d(-0.02, 1.02),
    )
    _style(fig)
    base = metrics_a.get("n_positive", 0) / metrics_a["n"] if metrics_a.get("n") else None
    if base is not None:
        fig.line([0, 1], [base, base], line_color=MUTED, line_dash="dashed", legend_label=f"chance ({base:.2f})")
    for label, metrics, colour in ((a_label, metrics_a, A_COLOUR), (b_label, metrics_b, B_COLOUR)):
        pr = metrics.get("pr") or {}
        if not pr.get("recall"):
            continue
        source = ColumnDataSource({"x": pr["recall"], "y": pr["precision"], "t": pr["thresholds"]})
        line = fig.line("x", "y", source=source, line_color=colour, line_width=3, legend_label=label)
        fig.add_tools(
            HoverTool(
                renderers=[line],
                tooltips=[(label, ""), ("recall", "@x{0.000}"), ("precision", "@y{0.000}"), ("threshold", "@t{0.000}")],
            )
        )
        if metrics.get("precision") is not None and metrics.get("recall") is not None:
            fig.scatter(
                [metrics["recall"]],
                [metrics["precision"]],
                size=11,
                color=colour,
                line_color=TEXT,
                legend_label=f"{label} at threshold {metrics['threshold']:.2f}",
            )
    _legend(fig, "bottom_left")
    return json_item(fig)


# ---------------------------------------------------------------------------------------------------------
# The shared cache of built figures.

PLOT_CACHE_SECONDS = 7 * 24 * 3600


def plot_cache() -> BaseCache:
    """Django's default cache (Redis when REDIS_URL is set, else a database table): every web server and worker
    of this Blink, on any machine, reads the same entries."""
    return caches["default"]


def cache_key(*parts) -> str:
    # The database name keeps two Blinks (or two test databases) on one disk apart.
    raw = repr((connection.settings_dict.get("NAME"), parts))
    return "blink-console-" + hashlib.sha256(raw.encode()).hexdigest()


def drift_plot_items(task: str, data: dict | None = None) -> list[dict]:
    """One figure per variable with stored values, for the drift page; built once per recompute."""
    from classifiers.console import drift_nights
    from classifiers.drift import VARIABLES

    task = str(task)  # Task.REAL_BOGUS and "real_bogus" must share one cache entry
    data = data if data is not None else drift_nights(task)
    stamp = data["computed_at"].isoformat() if data["computed_at"] else "none"
    version = data["version"]["id"] if data["version"] else 0
    key = cache_key("drift-plots", task, version, stamp, len(data["nights"]))
    plots = plot_cache().get(key)
    if plots is None:
        plots = []
        for name, title in VARIABLES.items():
            if not any(name in n["percentiles"] for n in data["nights"]):
                continue
            plots.append(
                {
                    "id": f"drift-{name}",
                    "script_id": f"drift-{name}-json",
                    "name": name,
                    "title": title,
                    "item": drift_figure(name, f"{title}, night by night", data["nights"]),
                }
            )
        plot_cache().set(key, plots, PLOT_CACHE_SECONDS)
    return plots


def warm_drift_plots() -> None:
    """Build the drift page's figures now (after a recompute), so the first visitor does not wait for them."""
    from classifiers.models import Task

    for task in Task.values:
        try:
            drift_plot_items(task)
        except Exception:  # noqa: BLE001 - figures are a convenience; the page builds them itself if need be
            log.exception("building the drift figures of %s failed", task)
