"""A whole simulation: every strategy x seed as JSON lines, then the learning-curve plots and the summary."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from activelearning.simulation.curves import Saving, label_savings, mean_curves
from activelearning.simulation.data import ORACLE_NOTES, Dataset, split_test
from activelearning.simulation.replay import MODEL_NOTES, Point, Settings, replay
from activelearning.strategies import STRATEGIES

# The quality each curve follows, as the plots name it.
METRIC_NAMES = {"auc": "ROC AUC", "spearman": "Spearman with drb"}
PALETTE = {
    "random": (157, 167, 179),
    "uncertainty": (88, 166, 255),
    "margin": (63, 185, 80),
    "entropy": (210, 153, 34),
    "committee": (248, 81, 73),
    "ranked_batch": (188, 140, 255),
}


def _hex(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def write_bokeh(curves: dict, path: Path, title: str, note: str, metric: str = "auc") -> None:
    from bokeh.embed import file_html
    from bokeh.layouts import column
    from bokeh.models import Band, ColumnDataSource, Div
    from bokeh.plotting import figure
    from bokeh.resources import INLINE

    fig = figure(
        title=title,
        width=820,
        height=480,
        x_axis_label="labels used",
        y_axis_label=f"{METRIC_NAMES[metric]} on the fixed test set",
    )
    for strategy, (labels, mean, lo, hi) in curves.items():
        colour = _hex(PALETTE.get(strategy, (200, 200, 200)))
        source = ColumnDataSource({"n": labels, "auc": mean, "lo": lo, "hi": hi})
        fig.add_layout(Band(base="n", lower="lo", upper="hi", source=source, fill_color=colour, fill_alpha=0.15))
        fig.line("n", "auc", source=source, line_width=2.5, color=colour, legend_label=strategy)
        fig.scatter("n", "auc", source=source, size=6, color=colour, legend_label=strategy)
    fig.legend.location = "bottom_right"
    html = file_html(column(fig, Div(text=note, width=820)), INLINE, title)  # INLINE: no CDN, works offline
    tmp = path.with_suffix(".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)


def write_png(curves: dict, path: Path, title: str, subtitle: str, metric: str = "auc") -> None:
    """The learning curves drawn with Pillow (bokeh's own PNG export needs a browser driver)."""
    from PIL import Image, ImageDraw, ImageFont

    W, H = 1000, 640
    L, R, T, B = 90, 190, 96, 70
    img = Image.new("RGB", (W, H), (13, 17, 23))
    draw = ImageDraw.Draw(img)
    try:
        font = ImageFont.load_default(size=16)
        small = ImageFont.load_default(size=13)
    except TypeError:  # older Pillow: one bitmap size
        font = small = ImageFont.load_default()
    all_x = np.concatenate([c[0] for c in curves.values()])
    all_y = np.concatenate([np.concatenate([c[2], c[3]]) for c in curves.values()])
    x0, x1 = float(all_x.min()), float(all_x.max())
    y0, y1 = float(np.floor(all_y.min() * 20) / 20), float(min(1.0, np.ceil(all_y.max() * 20) / 20))
    if x1 == x0:
        x1 = x0 + 1
    if y1 <= y0:
        y1 = y0 + 0.05

    def px(x):
        return L + (x - x0) / (x1 - x0) * (W - L - R)

    def py(y):
        return H - B - (y - y0) / (y1 - y0) * (H - T - B)

    grid = (48, 54, 61)
    for k in range(6):
        yv = y0 + k * (y1 - y0) / 5
        draw.line([(L, py(yv)), (W - R, py(yv))], fill=grid)
        draw.text((L - 10, py(yv)), f"{yv:.3f}", fill=(157, 167, 179), font=small, anchor="rm")
    for k in range(6):
        xv = x0 + k * (x1 - x0) / 5
        draw.line([(px(xv), T), (px(xv), H - B)], fill=grid)
        draw.text((px(xv), H - B + 10), f"{xv:.0f}", fill=(157, 167, 179), font=small, anchor="mt")
    draw.rectangle([L, T, W - R, H - B], outline=(88, 96, 105))
    draw.text((L, 16), title, fill=(230, 237, 243), font=font)
    for i, line in enumerate(subtitle.split("\n")[:2]):
        draw.text((L, 40 + 18 * i), line, fill=(157, 167, 179), font=small)
    draw.text(((L + W - R) / 2, H - 25), "labels used", fill=(230, 237, 243), font=font, anchor="mm")
    draw.text((L, T - 6), METRIC_NAMES[metric], fill=(230, 237, 243), font=small, anchor="lb")
    for i, (strategy, (labels, mean, lo, hi)) in enumerate(curves.items()):
        colour = PALETTE.get(strategy, (200, 200, 200))
        band = [(px(a), py(b)) for a, b in zip(labels, hi, strict=True)] + [
            (px(a), py(b)) for a, b in zip(labels[::-1], lo[::-1], strict=True)
        ]
        if len(band) >= 3:
            overlay = Image.new("RGBA", (W, H), (0, 0, 0, 0))
            ImageDraw.Draw(overlay).polygon(band, fill=(*colour, 45))
            img.paste(overlay, (0, 0), overlay)
            draw = ImageDraw.Draw(img)
        line = [(px(a), py(b)) for a, b in zip(labels, mean, strict=True)]
        if len(line) > 1:
            draw.line(line, fill=colour, width=3)
        for p in line:
            draw.ellipse([p[0] - 4, p[1] - 4, p[0] + 4, p[1] + 4], fill=colour)
        ly = T + 10 + i * 26
        draw.line([(W - R + 18, ly), (W - R + 48, ly)], fill=colour, width=4)
        draw.text((W - R + 56, ly), strategy, fill=(230, 237, 243), font=small, anchor="lm")
    tmp = path.with_suffix(".tmp.png")
    img.save(tmp, format="PNG")
    tmp.replace(path)


@dataclass
class Report:
    points: list[Point]
    savings: list[Saving]
    log_path: Path
    html_path: Path
    png_path: Path
    summary_path: Path
    dataset: Dataset
    cfg: Settings
    notes: list[str] = field(default_factory=list)


def run_simulation(
    dataset: Dataset,
    cfg: Settings,
    out_dir: Path,
    *,
    on_point: Callable[[Point], None] | None = None,
    start=None,
) -> Report:
    """Every strategy x seed, written as JSON lines as they come; then the curves, plots and label savings."""
    for strategy in cfg.strategies:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; expected some of {', '.join(STRATEGIES)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    pool_idx, test_idx = split_test(dataset)
    if cfg.metric == "auc" and len(np.unique(dataset.y[test_idx])) < 2:
        raise ValueError("the fixed test set holds only one class: ROC AUC is undefined; use more alerts")
    if not len(test_idx) or not len(pool_idx):
        raise ValueError(f"{len(dataset)} alerts leave no test objects or no pool; use more alerts")
    log_path = out_dir / "al_log.jsonl"
    oracle = ORACLE_NOTES[dataset.data]
    model_note = MODEL_NOTES[cfg.model]
    points: list[Point] = []
    with open(log_path, "w", encoding="utf-8") as log:

        def record(point: Point) -> None:
            points.append(point)
            log.write(
                json.dumps(
                    {
                        **point.__dict__,
                        "data": dataset.data,
                        "model": cfg.model,
                        "pool": int(len(pool_idx)),
                        "test": int(len(test_idx)),
                        "exploration": cfg.exploration,
                    }
                )
                + "\n"
            )
            log.flush()
            if on_point:
                on_point(point)

        for seed in range(cfg.seeds):
            for strategy in cfg.strategies:
                replay(dataset, pool_idx, test_idx, strategy=strategy, seed=seed, cfg=cfg, on_point=record, start=start)
    metric = cfg.metric
    curves = mean_curves(points, metric)
    savings = label_savings(points, metric=metric, target=cfg.target) if "random" in cfg.strategies else []
    quality = METRIC_NAMES[metric]
    title = f"Active learning on {dataset.data} data: {quality} vs labels ({cfg.seeds} seeds, mean and range)"
    explore = f"; {cfg.exploration:.0%} of each batch random" if cfg.exploration else ""
    subtitle = f"{model_note}{explore}.\n{oracle}"
    html_path = out_dir / "learning_curve.html"
    png_path = out_dir / "learning_curve.png"
    note = f"<p>{model_note}.</p><p>{oracle}</p><p>{dataset.description}.</p>"
    write_bokeh(curves, html_path, title, note, metric)
    write_png(curves, png_path, title, subtitle, metric)
    summary_path = out_dir / "summary.json"
    summary = {
        "data": dataset.data,
        "dataset": dataset.description,
        "oracle": oracle,
        "model": model_note,
        "pool": int(len(pool_idx)),
        "test": int(len(test_idx)),
        "test_positive": int(dataset.y[test_idx].sum()),
        "settings": cfg.__dict__,
        "savings": [s.__dict__ for s in savings],
        "metric": metric,
        "curves": {k: {"n_labels": v[0].tolist(), f"{metric}_mean": v[1].tolist()} for k, v in curves.items()},
    }
    tmp = summary_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    tmp.replace(summary_path)
    return Report(points, savings, log_path, html_path, png_path, summary_path, dataset, cfg, [oracle, model_note])
