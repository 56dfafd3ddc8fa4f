"""Bokeh figures of the ML lead console.

Written for someone who has never seen Blink: every figure has a title that says what it shows, labelled axes
with units, a legend, and the flagged nights marked in one colour that means "look here".

A bokeh figure takes a noticeable share of a second to build, so the figures are kept in the console's shared
cache (:mod:`classifiers.console.cache`) under a key that moves with their data; the drift page's are built once
per drift recompute, when ``drift_recomputed`` arrives (``frontend/receivers.py``), so a visitor finds them ready.
"""

from __future__ import annotations

import datetime as dt
import logging

from bokeh.core.properties import value
from bokeh.embed import json_item
from bokeh.models import BoxAnnotation, ColumnDataSource, HoverTool, Label, Range1d
from bokeh.plotting import figure

from classifiers.console.cache import cache_key, inputs_key, memoized
from classifiers.drift.config import VARIABLES
from classifiers.drift.selectors import drift_nights
from classifiers.models import ModelVersion, Task
from frontend.plots.style import MUTED, TEXT, dark_legend, dark_panel

log = logging.getLogger(__name__)

BAND = "#58a6ff"
FLAG = "#f85149"
A_COLOUR, B_COLOUR = "#8b949e", "#f0883e"
TOOLS = "pan,wheel_zoom,box_zoom,reset,save"
FONT_SIZE = "10pt"
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
    "snr": "signal-to-noise ratio",
    "drb": "Rubin reliability (0 = bogus, 1 = real)",
    "stamp_diff_std": "pixel std (counts)",
    "stamp_diff_mad": "robust spread (of unit-norm stamp)",
    "stamp_template_mad": "robust spread (of unit-norm stamp)",
    "agreement": "agreement (1 = same answer)",
}
HOVER_NAMES = {"fpr": "FPR", "tpr": "TPR"}
# (title, x axis, y axis) of the comparison figures, for a reader who has never seen an ROC curve.
ROC_WORDS = (
    "ROC curve on the same candidates (up and left is better)",
    "false-positive rate (bogus called real)",
    "true-positive rate (real found = recall)",
)
PR_WORDS = (
    "Precision–recall on the same candidates (up and right is better)",
    "recall (share of real candidates found)",
    "precision (share of 'real' calls that are real)",
)
# The same figures against Rubin's reliability score, where no human label exists: the titles say whose opinion.
RELIABILITY_ROC_WORDS = (
    "ROC against Rubin reliability (a model's opinion, not human labels)",
    "false-positive rate (Rubin-bogus, reliability < 0.2, called real)",
    "true-positive rate (Rubin-real, reliability > 0.8, found)",
)
RELIABILITY_PR_WORDS = (
    "Precision–recall vs Rubin reliability (not human labels)",
    "recall (share of Rubin-real found, reliability > 0.8)",
    "precision (share of 'real' calls that Rubin calls real)",
)
DRIFT_PLOTS_SECONDS = 7 * 24 * 3600  # the key moves with every recompute; this only bounds a forgotten entry


def _console_figure(**kwargs):
    fig = figure(sizing_mode="stretch_width", tools=TOOLS, toolbar_location="above", **kwargs)
    # The plot's Tab stops (its drawing layer, its tools) take this name in static/blink.js's namePlot.
    fig.html_attributes = {"role": "figure", "aria-label": kwargs.get("title", "Plot")}
    fig.toolbar.logo = None  # a Tab stop that leads off to bokeh.org
    dark_panel(fig, font_size=FONT_SIZE)
    fig.title.text_font_size = "12pt"
    return fig


def _legend(fig, location: str = "top_left") -> None:
    if fig.legend:
        fig.legend.location = location
        dark_legend(fig, font_size="9pt")


def _ms(day: dt.date) -> float:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000.0


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.3f}"


# ---------------------------------------------------------------------------------------------------------
# Drift, night by night.


def drift_figure(name: str, title: str, nights: list[dict], *, height: int = 300) -> dict:
    """Percentile bands of one variable over nights, the median as a line, the reference window shaded, and the
    nights where this variable drifted marked in red. Every variable's figure spans all nights, so the plots
    line up one above the other."""
    rows = [n for n in nights if name in n["percentiles"]]
    day = 24 * 3600 * 1000
    span = (_ms(nights[0]["night"]) - day, _ms(nights[-1]["night"]) + day) if nights else (0, day)
    fig = _console_figure(
        x_range=Range1d(*span),
        height=height,
        x_axis_type="datetime",
        x_axis_label="night (UTC date)",
        y_axis_label=AXIS_LABELS.get(name, name),
        title=title,
    )
    if not rows:
        fig.title.text = f"{title}: no values stored yet"
        return json_item(fig)
    data = _drift_columns(name, rows)
    source = ColumnDataSource(data)
    for low, high, legend, alpha in BANDS:
        if len(rows) == 1:
            # An area over one night has no width (the shared Rubin alerts are one night): a bar shows the spread.
            fig.vbar(
                x="x",
                width=day / 2,
                bottom=low,
                top=high,
                source=source,
                fill_color=BAND,
                fill_alpha=alpha,
                line_color=None,
                legend_label=legend,
            )
        else:
            fig.varea(x="x", y1=low, y2=high, source=source, fill_color=BAND, fill_alpha=alpha, legend_label=legend)
    fig.line("x", "p50", source=source, line_color=TEXT, line_width=2, legend_label="median")
    medians = fig.scatter("x", "p50", source=source, size=6, color=TEXT, legend_label="median")
    _shade_reference(fig, [n for n in rows if n["reference"]])
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
        # The word as well as the red: a marker must not need colour vision to read.
        fig.text(
            "x",
            "max",
            text=value("drift"),
            source=flagged,
            text_color=FLAG,
            text_font_size="9pt",
            text_align="right",
            text_baseline="middle",
            x_offset=-10,  # beside the triangle: above it would leave the frame
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


def _drift_columns(name: str, rows: list[dict]) -> dict[str, list]:
    stats = [n["statistics"].get(name, {}) for n in rows]
    data = {
        "x": [_ms(n["night"]) for n in rows],
        "night": [n["night"].isoformat() for n in rows],
        "n": [s.get("n") for s in stats],
    }
    for key in ("max", "p93", "p84", "p69", "p50", "p31", "p16", "p7", "min"):
        data[key] = [n["percentiles"][name][key] for n in rows]
    data["psi"] = [_fmt(s.get("psi")) for s in stats]
    data["ks"] = [_fmt(s.get("ks")) for s in stats]
    data["status"] = [
        "reference window" if n["reference"] else ("DRIFT" if s.get("drifted") else "ok")
        for n, s in zip(rows, stats, strict=True)
    ]
    return data


def _shade_reference(fig, refs: list[dict]) -> None:
    if not refs:
        return
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


def drift_plot_items(task: str, data: dict | None = None) -> list[dict]:
    """One figure per variable with stored values, for the drift page (``data``: ``drift_nights(task)``)."""
    task = str(task)  # Task.REAL_BOGUS and "real_bogus" must share one cache entry
    data = data if data is not None else drift_nights(task)
    stamp = data["computed_at"].isoformat() if data["computed_at"] else "none"
    version = data["version"]["id"] if data["version"] else 0
    key = cache_key("drift-plots", task, version, stamp, len(data["nights"]))
    return memoized(key, lambda: _drift_plots(data["nights"]), DRIFT_PLOTS_SECONDS)


def _drift_plots(nights: list[dict]) -> list[dict]:
    return [
        {
            "id": f"drift-{name}",
            "script_id": f"drift-{name}-json",
            "name": name,
            "title": title,
            "item": drift_figure(name, f"{title}, night by night", nights),
        }
        for name, title in VARIABLES.items()
        if any(name in n["percentiles"] for n in nights)
    ]


def warm_drift_plots() -> None:
    """Build the drift page's figures now (after a recompute), so the first visitor does not wait for them."""
    for task in Task.values:
        try:
            drift_plot_items(task)
        except Exception:  # noqa: BLE001 - figures are a convenience; the page builds them itself if need be
            log.exception("building the drift figures of %s failed", task)


# ---------------------------------------------------------------------------------------------------------
# Two versions compared.


def _curve_figure(title: str, x_label: str, y_label: str, *, height: int):
    return _console_figure(
        height=height,
        title=title,
        x_axis_label=x_label,
        y_axis_label=y_label,
        x_range=Range1d(-0.02, 1.02),
        y_range=Range1d(-0.02, 1.02),
    )


def _version_curves(fig, versions: list[tuple[str, dict]], key: str, axes: tuple[str, str], point, legend) -> None:
    """Each version's curve ``metrics[key]`` (x and y named by ``axes``) with a hover naming each point's
    threshold, and its operating point (``point``: the metrics' x and y keys); ``legend(label, metrics)``."""
    for (label, metrics), colour in zip(versions, (A_COLOUR, B_COLOUR), strict=False):
        points = metrics.get(key) or {}
        if not points.get(axes[0]):
            continue
        source = ColumnDataSource({"x": points[axes[0]], "y": points[axes[1]], "t": points["thresholds"]})
        line = fig.line("x", "y", source=source, line_color=colour, line_width=3, legend_label=legend(label, metrics))
        x_name, y_name = (HOVER_NAMES.get(axis, axis) for axis in axes)
        hover = [(label, ""), (x_name, "@x{0.000}"), (y_name, "@y{0.000}"), ("threshold", "@t{0.000}")]
        fig.add_tools(HoverTool(renderers=[line], tooltips=hover))
        x, y = (metrics.get(k) for k in point)
        if x is not None and y is not None:
            at = f"{label} at threshold {metrics['threshold']:.2f}"
            fig.scatter([x], [y], size=11, color=colour, line_color=TEXT, legend_label=at)


def _with_auc(label: str, metrics: dict) -> str:
    auc = metrics.get("roc_auc")
    return f"{label} (AUC {auc:.3f})" if auc is not None else label


def roc_figure(versions: list[tuple[str, dict]], *, height: int = 380, words: tuple = ROC_WORDS) -> dict:
    """ROC curves of the versions (``versions``: (label, metrics) of a, then b), the diagonal for chance."""
    fig = _curve_figure(*words, height=height)
    fig.line([0, 1], [0, 1], line_color=MUTED, line_dash="dashed", legend_label="chance")
    _version_curves(fig, versions, "roc", ("fpr", "tpr"), ("fpr", "recall"), _with_auc)
    _legend(fig, "bottom_right")
    return json_item(fig)


def pr_figure(versions: list[tuple[str, dict]], *, height: int = 380, words: tuple = PR_WORDS) -> dict:
    """Precision-recall curves of the versions; chance is the share of positives among the candidates."""
    fig = _curve_figure(*words, height=height)
    first = versions[0][1]
    if first.get("n"):
        base = first.get("n_positive", 0) / first["n"]
        fig.line([0, 1], [base, base], line_color=MUTED, line_dash="dashed", legend_label=f"chance ({base:.2f})")
    _version_curves(fig, versions, "pr", ("recall", "precision"), ("recall", "precision"), lambda label, _: label)
    _legend(fig, "bottom_left")
    return json_item(fig)


def compare_plot_items(a: ModelVersion, b: ModelVersion, result: dict) -> dict:
    """The ROC and precision-recall figures of a comparison (``result``: ``compare_versions(a, b)``): ``roc`` and
    ``pr`` on labelled candidates (none when no candidate was labelled), and for Rubin versions ``reliability_roc``
    and ``reliability_pr`` against Rubin's reliability score (none when they share no scored Rubin alert)."""
    key = inputs_key("compare-plots", a.pk, b.pk)
    return memoized(key, lambda: _compare_plots(a, b, result))


def _compare_plots(a: ModelVersion, b: ModelVersion, result: dict) -> dict:
    items = {}
    if result["metrics_a"] and result["metrics_a"]["n"]:
        versions = [(a.label, result["metrics_a"]), (b.label, result["metrics_b"])]
        items.update({"roc": roc_figure(versions), "pr": pr_figure(versions)})
    reliability = result.get("reliability") or {}
    if reliability.get("n"):
        versions = [(a.label, reliability["metrics_a"]), (b.label, reliability["metrics_b"])]
        items["reliability_roc"] = roc_figure(versions, words=RELIABILITY_ROC_WORDS)
        items["reliability_pr"] = pr_figure(versions, words=RELIABILITY_PR_WORDS)
    return items
