"""Replaying the loop offline: how many labels does each query strategy need for a given model quality?

An oracle answers every query: the demo generator's known truth, or, for real ZTF packets, labels derived from
braai's own ``drb`` score (``drb > 0.9`` real, ``drb < 0.1`` bogus, the rest left out). Those are **braai's outputs,
not human labels**, and the report says so.

For each strategy and seed: the same ``initial`` random labels, then ``rounds`` rounds of "query ``batch`` subjects,
label them, retrain". Each round the model is evaluated (ROC AUC) on a fixed test set of objects that never enter
the pool. modAL drives it: an ``ActiveLearner`` over :class:`~activelearning.estimators.KerasBinaryClassifier`
queries with modAL's uncertainty / margin / entropy sampling, a ``Committee`` of seeds with vote entropy, and
modAL's ranked batch-mode sampler on the network's penultimate-layer embeddings; "random" draws uniformly.
Retraining is the fast path of the live loop: warm start from the previous round's weights, a few epochs on all
labels so far (with flips and rotations). The model is braai's VGG6 by default (``--model small`` uses the compact
CNN of a DeepStreaks member instead).

The **label saving** of a strategy: ``1 - n_strategy / n_random``, where ``n_x`` is the number of labels at which
the strategy's mean learning curve (over seeds) first reaches random's final mean AUC (linear interpolation between
rounds; random's own ``n`` is found the same way, which can only make the saving smaller).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from activelearning.estimators import KerasBinaryClassifier

SIM_STRATEGIES = ("uncertainty", "margin", "entropy", "committee", "ranked_batch", "random")
DRB_REAL = 0.9
DRB_BOGUS = 0.1
TEST_FRACTION = 0.25
ORACLE_NOTES = {
    "demo": "oracle: the demo generator's known truth (real vs any bogus type)",
    "real": (
        "oracle: labels derived from braai's drb score in the packets (drb > 0.9 real, drb < 0.1 bogus, others "
        "left out). These are braai's outputs, not human labels."
    ),
}


@dataclass
class Dataset:
    x: np.ndarray
    y: np.ndarray
    object_ids: list[str]
    candids: list[int]
    data: str  # "demo" or "real"
    description: str
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.y)


# ------------------------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------------------------


def _cache_dir() -> Path:
    from django.conf import settings

    return Path(settings.VAR_DIR) / "simulation" / "cache"


def load_demo(n: int, seed: int, *, progress: bool = False) -> Dataset:
    """``n`` demo alerts (generated in memory, deterministic in ``n`` and ``seed``; cached as .npz under var/)."""
    from classifiers.preprocessing import preprocess

    cache = _cache_dir() / f"demo-n{n}-seed{seed}.npz"
    if cache.exists():
        data = np.load(cache, allow_pickle=False)
        return Dataset(
            x=data["x"],
            y=data["y"],
            object_ids=[str(o) for o in data["object_ids"]],
            candids=[int(c) for c in data["candids"]],
            data="demo",
            description=f"{n} generated demo alerts (seed {seed})",
        )
    from fixtures.demo_alerts import DemoAlertWriter
    from labeling.ingest import decode_stamp

    triplets, labels, objects, candids = [], [], [], []
    alerts = DemoAlertWriter(n, seed).alerts()
    if progress:
        from tqdm import tqdm

        alerts = tqdm(alerts, total=n, desc="demo alerts", unit="alert")
    for record, truth in alerts:
        triplets.append(
            [decode_stamp(record[k]["stampData"]) for k in ("cutoutScience", "cutoutTemplate", "cutoutDifference")]
        )
        labels.append(1 if truth == "real" else 0)
        objects.append(str(record["objectId"]))
        candids.append(int(record["candid"]))
    x = preprocess(triplets)
    y = np.array(labels, dtype=np.int64)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, x=x, y=y, object_ids=np.array(objects), candids=np.array(candids, dtype=np.int64))
    tmp.replace(cache)
    return Dataset(x, y, objects, candids, "demo", f"{n} generated demo alerts (seed {seed})")


def load_packets(paths: Iterable, *, progress: bool = False) -> Dataset:
    """Alerts from Avro/Parquet packets. Labels: demo truth when a packet carries it, else drb-derived."""
    from classifiers.preprocessing import preprocess
    from labeling.ingest import AlertRejected, FileUnreadable, decode_stamp, expand_paths, read_file

    files, missing = expand_paths(paths)
    if not files:
        raise ValueError("; ".join(missing) or "no packet files found")
    triplets, labels, objects, candids = [], [], [], []
    seen: set[int] = set()
    skipped = 0
    kinds = set()
    iterator = files
    if progress:
        from tqdm import tqdm

        iterator = tqdm(files, desc="packets", unit="file")
    for path in iterator:
        try:
            for raw in read_file(path):
                record = raw.record
                candid = record.get("candid")
                if candid in seen:
                    continue
                if raw.truth:
                    label = 1 if raw.truth == "real" else 0
                    kinds.add("demo")
                else:
                    drb = (record.get("candidate") or {}).get("drb")
                    if drb is None or not math.isfinite(drb) or DRB_BOGUS <= drb <= DRB_REAL:
                        skipped += 1
                        continue
                    label = 1 if drb > DRB_REAL else 0
                    kinds.add("real")
                try:
                    stamps = [
                        decode_stamp(record[k]["stampData"])
                        for k in ("cutoutScience", "cutoutTemplate", "cutoutDifference")
                    ]
                except (AlertRejected, KeyError, TypeError):
                    skipped += 1
                    continue
                seen.add(candid)
                triplets.append(stamps)
                labels.append(label)
                objects.append(str(record.get("objectId")))
                candids.append(int(candid))
        except FileUnreadable:
            skipped += 1
    if not triplets:
        raise ValueError("no labelled alert found in the packets (no demo truth, no drb outside 0.1..0.9)")
    data = "real" if "real" in kinds else "demo"
    y = np.array(labels, dtype=np.int64)
    return Dataset(
        x=preprocess(triplets),
        y=y,
        object_ids=objects,
        candids=candids,
        data=data,
        description=f"{len(y)} labelled alerts from {len(files)} files ({int(y.sum())} real, {int((y == 0).sum())} bogus)",
        skipped=skipped,
    )


def split_test(dataset: Dataset, fraction: float = TEST_FRACTION) -> tuple[np.ndarray, np.ndarray]:
    """(pool, test) indices: objects hashed into the lowest ``fraction`` of buckets form the fixed test set."""

    def bucket(object_id: str) -> float:
        digest = hashlib.sha256(f"blink-simulation-test:{object_id}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2.0**64

    is_test = np.array([bucket(o) < fraction for o in dataset.object_ids])
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


# ------------------------------------------------------------------------------------------------------------
# Models
# ------------------------------------------------------------------------------------------------------------

MODEL_NOTES = {
    "braai": "braai VGG6 (classifiers.architectures.braai_vgg6), warm-started each round",
    "small": "compact CNN of a DeepStreaks member (classifiers.architectures.streak_member), warm-started each round",
}


def model_builder(name: str) -> Callable:
    from classifiers.architectures import BraaiHyperparameters, StreakHyperparameters, braai_vgg6, streak_member

    if name == "braai":
        return lambda: braai_vgg6(BraaiHyperparameters())
    if name == "small":
        return lambda: streak_member(StreakHyperparameters(), name="al_small")
    raise ValueError(f"unknown model {name!r}; expected braai or small")


def make_estimator(
    model: str, *, seed: int, epochs: int, learning_rate: float, batch_size: int
) -> KerasBinaryClassifier:
    return KerasBinaryClassifier(
        build_fn=model_builder(model),
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        warm_start=True,
        augment=True,
        balance_classes=True,
        seed=seed,
    )


# ------------------------------------------------------------------------------------------------------------
# One replay
# ------------------------------------------------------------------------------------------------------------


@dataclass
class Settings:
    strategies: list[str]
    initial: int = 100
    batch: int = 50
    rounds: int = 10
    seeds: int = 3
    model: str = "braai"
    epochs: int = 3
    first_epochs: int = 8
    learning_rate: float = 1e-3
    batch_size: int = 32
    committee_size: int = 3
    # Share of each batch drawn at random even for model-driven strategies, as the classify queue mixes in
    # Campaign.exploration_share; 0 replays the pure strategy.
    exploration: float = 0.0


@dataclass
class Point:
    strategy: str
    seed: int
    round: int
    n_labels: int
    auc: float | None
    n_positive_labels: int
    seconds: float


def _auc(y: np.ndarray, p: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y)) < 2:
        return None
    return float(roc_auc_score(y, p))


def _query(strategy: str, learner, x_pool: np.ndarray, n: int, rng: np.random.Generator, labelled_x: np.ndarray):
    """Indices into ``x_pool`` chosen by ``strategy`` (modAL's samplers)."""
    from modAL.uncertainty import entropy_sampling, margin_sampling, uncertainty_sampling

    n = min(n, len(x_pool))
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    if strategy == "random":
        return rng.choice(len(x_pool), size=n, replace=False)
    if strategy == "committee":
        idx, _ = learner.query(x_pool, n_instances=n)
        return np.asarray(idx)
    if strategy == "ranked_batch":
        from activelearning.strategies import ranked_batch_order, uncertainty_utility

        est = learner.estimator
        proba = est.predict_proba(x_pool)[:, 1]
        return ranked_batch_order(
            pool_embeddings=est.embed(x_pool),
            pool_uncertainty=uncertainty_utility(proba),
            labeled_embeddings=est.embed(labelled_x),
            n_instances=n,
        )
    sampler = {"uncertainty": uncertainty_sampling, "margin": margin_sampling, "entropy": entropy_sampling}[strategy]
    idx, _ = sampler(learner, x_pool, n_instances=n)
    return np.asarray(idx)


def replay(
    dataset: Dataset,
    pool_idx: np.ndarray,
    test_idx: np.ndarray,
    *,
    strategy: str,
    seed: int,
    cfg: Settings,
    on_point: Callable[[Point], None] | None = None,
) -> list[Point]:
    """One learning curve: ``cfg.rounds`` query-label-retrain rounds after ``cfg.initial`` random labels."""
    from modAL.disagreement import vote_entropy_sampling
    from modAL.models import ActiveLearner, Committee

    rng = np.random.default_rng(1000 + seed)
    # The same initial labels for every strategy of a seed: the curves differ only by what they query.
    initial = pool_idx[rng.choice(len(pool_idx), size=min(cfg.initial, len(pool_idx)), replace=False)]
    remaining = np.setdiff1d(pool_idx, initial)
    labelled = list(initial)
    x, y = dataset.x, dataset.y
    x_test, y_test = x[test_idx], y[test_idx]
    query_rng = np.random.default_rng(2000 + seed)

    def estimator(member_seed: int, epochs: int):
        return make_estimator(
            cfg.model, seed=member_seed, epochs=epochs, learning_rate=cfg.learning_rate, batch_size=cfg.batch_size
        )

    if strategy == "committee":
        members = [
            ActiveLearner(
                estimator=estimator(seed * 100 + m, cfg.first_epochs), X_training=x[initial], y_training=y[initial]
            )
            for m in range(cfg.committee_size)
        ]
        for m in members:
            m.estimator.epochs = cfg.epochs
        learner = Committee(learner_list=members, query_strategy=vote_entropy_sampling)
    else:
        learner = ActiveLearner(
            estimator=estimator(seed, cfg.first_epochs), X_training=x[initial], y_training=y[initial]
        )
        learner.estimator.epochs = cfg.epochs

    points = []
    for round_number in range(cfg.rounds + 1):
        started = time.perf_counter()
        proba = learner.predict_proba(x_test)[:, 1]
        point = Point(
            strategy=strategy,
            seed=seed,
            round=round_number,
            n_labels=len(labelled),
            auc=_auc(y_test, proba),
            n_positive_labels=int(y[labelled].sum()),
            seconds=0.0,
        )
        if round_number == cfg.rounds or len(remaining) == 0:
            point.seconds = round(time.perf_counter() - started, 2)
            points.append(point)
            if on_point:
                on_point(point)
            break
        n_batch = min(cfg.batch, len(remaining))
        n_explore = 0 if strategy == "random" else int(round(n_batch * cfg.exploration))
        picked = _query(strategy, learner, x[remaining], n_batch - n_explore, query_rng, x[labelled])
        if n_explore:
            rest = np.setdiff1d(np.arange(len(remaining)), picked)
            picked = np.concatenate([picked, query_rng.choice(rest, size=min(n_explore, len(rest)), replace=False)])
        chosen = remaining[picked]
        remaining = np.setdiff1d(remaining, chosen)
        labelled.extend(chosen.tolist())
        # The oracle answers; modAL's teach refits on every label so far, from the current weights.
        learner.teach(x[chosen], y[chosen])
        point.seconds = round(time.perf_counter() - started, 2)
        points.append(point)
        if on_point:
            on_point(point)
    return points


# ------------------------------------------------------------------------------------------------------------
# Curves and label saving
# ------------------------------------------------------------------------------------------------------------


def mean_curves(points: list[Point]) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Per strategy: (n_labels, mean AUC, min AUC, max AUC) over seeds, on the rounds every seed reached."""
    out = {}
    for strategy in sorted({p.strategy for p in points}):
        by_round: dict[int, list[Point]] = {}
        for p in points:
            if p.strategy == strategy and p.auc is not None:
                by_round.setdefault(p.round, []).append(p)
        n_seeds = max((len(v) for v in by_round.values()), default=0)
        rounds = sorted(r for r, v in by_round.items() if len(v) == n_seeds)
        labels = np.array([np.mean([p.n_labels for p in by_round[r]]) for r in rounds])
        aucs = [np.array([p.auc for p in by_round[r]]) for r in rounds]
        out[strategy] = (
            labels,
            np.array([a.mean() for a in aucs]),
            np.array([a.min() for a in aucs]),
            np.array([a.max() for a in aucs]),
        )
    return out


def labels_to_reach(labels: np.ndarray, auc: np.ndarray, target: float) -> float | None:
    """The first number of labels at which the curve reaches ``target`` (linear between rounds), or None."""
    for i in range(len(auc)):
        if auc[i] >= target:
            if i == 0:
                return float(labels[0])
            a0, a1 = auc[i - 1], auc[i]
            frac = (target - a0) / (a1 - a0) if a1 != a0 else 1.0
            return float(labels[i - 1] + frac * (labels[i] - labels[i - 1]))
    return None


@dataclass
class Saving:
    strategy: str
    target_auc: float
    labels_needed: float | None
    random_labels: float
    saving: float | None  # fraction fewer labels than random; None when the strategy never reached the target
    final_auc: float


def label_savings(points: list[Point]) -> list[Saving]:
    curves = mean_curves(points)
    if "random" not in curves or not len(curves["random"][1]):
        raise ValueError("label saving needs the random strategy as the baseline")
    r_labels, r_auc, _, _ = curves["random"]
    target = float(r_auc[-1])
    random_needed = labels_to_reach(r_labels, r_auc, target) or float(r_labels[-1])
    out = []
    for strategy, (labels, auc, _, _) in curves.items():
        needed = labels_to_reach(labels, auc, target)
        saving = None if needed is None else 1.0 - needed / random_needed
        out.append(Saving(strategy, target, needed, random_needed, saving, float(auc[-1])))
    return out


# ------------------------------------------------------------------------------------------------------------
# Outputs: JSON lines, bokeh HTML, PNG
# ------------------------------------------------------------------------------------------------------------

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


def write_bokeh(curves: dict, path: Path, title: str, note: str) -> None:
    from bokeh.embed import file_html
    from bokeh.layouts import column
    from bokeh.models import Band, ColumnDataSource, Div
    from bokeh.plotting import figure
    from bokeh.resources import INLINE

    fig = figure(
        title=title, width=820, height=480, x_axis_label="labels used", y_axis_label="ROC AUC on the fixed test set"
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


def write_png(curves: dict, path: Path, title: str, subtitle: str) -> None:
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
    draw.text((L, T - 6), "ROC AUC", fill=(230, 237, 243), font=small, anchor="lb")
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
) -> Report:
    """Every strategy x seed, written as JSON lines as they come; then the curves, plots and label savings."""
    for strategy in cfg.strategies:
        if strategy not in SIM_STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; expected some of {', '.join(SIM_STRATEGIES)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    pool_idx, test_idx = split_test(dataset)
    if len(np.unique(dataset.y[test_idx])) < 2:
        raise ValueError("the fixed test set holds only one class: ROC AUC is undefined; use more alerts")
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
                replay(dataset, pool_idx, test_idx, strategy=strategy, seed=seed, cfg=cfg, on_point=record)
    curves = mean_curves(points)
    savings = label_savings(points) if "random" in cfg.strategies else []
    title = f"Active learning on {dataset.data} data: ROC AUC vs labels ({cfg.seeds} seeds, mean and range)"
    explore = f"; {cfg.exploration:.0%} of each batch random" if cfg.exploration else ""
    subtitle = f"{model_note}{explore}.\n{oracle}"
    html_path = out_dir / "learning_curve.html"
    png_path = out_dir / "learning_curve.png"
    write_bokeh(curves, html_path, title, f"<p>{model_note}.</p><p>{oracle}</p><p>{dataset.description}.</p>")
    write_png(curves, png_path, title, subtitle)
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
        "curves": {k: {"n_labels": v[0].tolist(), "auc_mean": v[1].tolist()} for k, v in curves.items()},
    }
    tmp = summary_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    tmp.replace(summary_path)
    return Report(points, savings, log_path, html_path, png_path, summary_path, dataset, cfg, [oracle, model_note])
