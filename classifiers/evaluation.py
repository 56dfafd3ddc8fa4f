"""How good is a model: the metrics ML leads quote, per version, per slice, and between two versions.

One module for every metric in Blink (the registry's held-out metrics, the version comparison, the slice
table, the active-learning evaluations) so that "recall" means the same thing on every page.

Labels are binary: 1 for the task's positive class (``classifiers.labelled.POSITIVE_LABELS``: real, or a
plausible streak) and 0 otherwise. Scores are probabilities of the positive class; a candidate is called
positive when ``score >= threshold``.

Pure numpy/scikit-learn here (and the filter names); reading labels and scores from the database is in
:mod:`classifiers.evaluation_data`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_auc_score, roc_curve

from labeling.models import FILTER_NAMES

DEFAULT_THRESHOLD = 0.5
# The metrics shown side by side and bootstrapped; all in [0, 1].
HEADLINE_METRICS = ("accuracy", "precision", "recall", "fpr", "fnr", "roc_auc")
# For these a higher value is better; for fpr and fnr a lower one is.
HIGHER_IS_BETTER = {"accuracy": True, "precision": True, "recall": True, "fpr": False, "fnr": False, "roc_auc": True}
METRIC_LABELS = {
    "accuracy": "Accuracy",
    "precision": "Precision",
    "recall": "Recall",
    "fpr": "False-positive rate",
    "fnr": "False-negative rate",
    "roc_auc": "ROC AUC",
}


def _as_arrays(y_true, y_score) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(np.int8, copy=False).ravel()
    s = np.asarray(y_score, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"labels and scores differ in length: {y.size} labels, {s.size} scores")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (negative) or 1 (positive)")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite numbers")
    return y, s


def _ratio(num: float, den: float) -> float | None:
    return float(num / den) if den else None


def confusion_counts(y_true, y_score, threshold: float = DEFAULT_THRESHOLD) -> dict[str, int]:
    """True/false positives and negatives at ``threshold`` (positive when score >= threshold)."""
    y, s = _as_arrays(y_true, y_score)
    pred = s >= threshold
    pos = y == 1
    return {
        "tp": int(np.count_nonzero(pred & pos)),
        "fp": int(np.count_nonzero(pred & ~pos)),
        "tn": int(np.count_nonzero(~pred & ~pos)),
        "fn": int(np.count_nonzero(~pred & pos)),
    }


def rates_from_counts(tp: float, fp: float, tn: float, fn: float) -> dict[str, float | None]:
    """Accuracy, precision, recall, FPR and FNR from counts; ``None`` where the denominator is empty (e.g. the
    precision of a model that calls nothing positive)."""
    n = tp + fp + tn + fn
    return {
        "accuracy": _ratio(tp + tn, n),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "fpr": _ratio(fp, fp + tn),
        "fnr": _ratio(fn, fn + tp),
    }


def roc_auc(y_true, y_score) -> float | None:
    """Area under the ROC curve; ``None`` when only one class is present (it is undefined then)."""
    y, s = _as_arrays(y_true, y_score)
    if y.size == 0 or y.min() == y.max():
        return None
    return float(roc_auc_score(y, s))


# How many curve points a version keeps: enough for a smooth curve on the console, small in JSON.
ROC_POINTS = 200


def _thin(*arrays: np.ndarray, max_points: int) -> list[np.ndarray]:
    """Keep at most ``max_points`` points of a curve, always its two ends, so pages and JSON stay small."""
    n = arrays[0].size
    if n <= max_points:
        return list(arrays)
    keep = np.unique(np.linspace(0, n - 1, max_points).round().astype(int))
    return [a[keep] for a in arrays]


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(v), 5) for v in values]


def roc_points(y_true, y_score, *, max_points: int = ROC_POINTS) -> dict[str, list[float]]:
    """ROC curve points {fpr, tpr, thresholds}; empty lists when only one class is present."""
    y, s = _as_arrays(y_true, y_score)
    if y.size == 0 or y.min() == y.max():
        return {"fpr": [], "tpr": [], "thresholds": []}
    fpr, tpr, thr = roc_curve(y, s)
    fpr, tpr, thr = _thin(fpr, tpr, thr, max_points=max_points)
    # scikit-learn puts +inf before the highest score; JSON has no infinity.
    return {"fpr": _rounded(fpr), "tpr": _rounded(tpr), "thresholds": _rounded(np.minimum(thr, 1.0))}


def pr_points(y_true, y_score, *, max_points: int = ROC_POINTS) -> dict[str, list[float]]:
    """Precision-recall curve points {precision, recall, thresholds}; empty lists without any positive."""
    y, s = _as_arrays(y_true, y_score)
    if y.size == 0 or y.max() == 0:
        return {"precision": [], "recall": [], "thresholds": []}
    precision, recall, thr = precision_recall_curve(y, s)
    # One more (precision, recall) point than thresholds: the (1, 0) end of the curve, reached above every score.
    thr = np.append(thr, 1.0)
    precision, recall, thr = _thin(precision, recall, thr, max_points=max_points)
    return {"precision": _rounded(precision), "recall": _rounded(recall), "thresholds": _rounded(np.minimum(thr, 1.0))}


def binary_metrics(
    y_true, scores, threshold: float = DEFAULT_THRESHOLD, *, curves: bool = True, pr: bool = False
) -> dict:
    """Accuracy, precision, recall, FPR, FNR at ``threshold``, ROC AUC, the confusion matrix and (``curves``)
    the ROC curve points; with ``pr`` also the precision-recall curve points.

    These are the keys the registry stores in ``ModelVersion.metrics``; ``None`` marks a metric whose
    denominator is empty (the precision of a model that calls nothing positive, the AUC of one class)."""
    y, s = _as_arrays(y_true, scores)
    c = confusion_counts(y, s, threshold)
    metrics: dict = {
        "n": int(y.size),
        "n_positive": int(np.count_nonzero(y == 1)),
        "n_negative": int(np.count_nonzero(y == 0)),
        "threshold": float(threshold),
        **rates_from_counts(c["tp"], c["fp"], c["tn"], c["fn"]),
        # [[TN, FP], [FN, TP]]: rows are the truth (negative, positive), columns the prediction.
        "confusion": [[c["tn"], c["fp"]], [c["fn"], c["tp"]]],
        "roc_auc": roc_auc(y, s),
    }
    if curves:
        metrics["roc"] = roc_points(y, s)
    if pr:
        metrics["pr"] = pr_points(y, s)
    return metrics


# ---------------------------------------------------------------------------------------------------------
# Paired bootstrap of metric deltas between two versions scored on the same candidates.


def _weighted_auc(y: np.ndarray, s: np.ndarray, w: np.ndarray) -> np.ndarray:
    """ROC AUC under each row of resampling weights ``w`` (B x n), ties counted one half, all rows at once.

    Sorting once and reusing the order for every resample keeps a 1,000-resample bootstrap of 10,000
    candidates near a second instead of a thousand scikit-learn calls."""
    order = np.argsort(s, kind="mergesort")
    s_sorted, y_sorted, w_sorted = s[order], y[order], w[:, order]
    neg_w = np.where(y_sorted == 0, w_sorted, 0.0)
    pos_w = np.where(y_sorted == 1, w_sorted, 0.0)
    # Negatives strictly below and tied with each position: cumulative sums at the start and end of its tie group.
    starts = np.searchsorted(s_sorted, s_sorted, side="left")
    ends = np.searchsorted(s_sorted, s_sorted, side="right")
    cum = np.concatenate([np.zeros((w.shape[0], 1)), np.cumsum(neg_w, axis=1)], axis=1)
    below = cum[:, starts]
    tied = cum[:, ends] - below
    num = (pos_w * (below + 0.5 * tied)).sum(axis=1)
    den = pos_w.sum(axis=1) * neg_w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _weighted_rates(y: np.ndarray, s: np.ndarray, w: np.ndarray, threshold: float) -> dict[str, np.ndarray]:
    pred = s >= threshold
    tp = w @ (pred & (y == 1)).astype(np.float64)
    fp = w @ (pred & (y == 0)).astype(np.float64)
    tn = w @ (~pred & (y == 0)).astype(np.float64)
    fn = w @ (~pred & (y == 1)).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "accuracy": (tp + tn) / (tp + fp + tn + fn),
            "precision": tp / (tp + fp),
            "recall": tp / (tp + fn),
            "fpr": fp / (fp + tn),
            "fnr": fn / (fn + tp),
        }


@dataclass(frozen=True)
class MetricDelta:
    metric: str
    a: float | None
    b: float | None
    delta: float | None  # b - a
    low: float | None  # confidence interval of the delta
    high: float | None
    better: str  # "a", "b" or "" when the interval contains 0 (no clear difference)

    def as_dict(self) -> dict:
        return {
            "metric": self.metric,
            "label": METRIC_LABELS.get(self.metric, self.metric),
            "a": self.a,
            "b": self.b,
            "delta": self.delta,
            "low": self.low,
            "high": self.high,
            "better": self.better,
            "higher_is_better": HIGHER_IS_BETTER.get(self.metric, True),
        }


def bootstrap_deltas(
    y_true,
    score_a,
    score_b,
    *,
    threshold_a: float = DEFAULT_THRESHOLD,
    threshold_b: float | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    metrics: Sequence[str] = HEADLINE_METRICS,
    chunk: int = 200,
) -> list[MetricDelta]:
    """Differences b - a of each metric with a paired-bootstrap confidence interval.

    Paired: each resample draws the same candidates for both versions, so the interval reflects the
    difference between the models rather than the luck of the evaluation set. Seeded: the same inputs
    give the same interval on every page load. Percentile intervals; resamples where a metric is undefined
    (e.g. no positive drawn) are left out of that metric's interval."""
    y, sa = _as_arrays(y_true, score_a)
    _, sb = _as_arrays(y_true, score_b)
    if threshold_b is None:
        threshold_b = threshold_a
    unknown = [m for m in metrics if m not in HIGHER_IS_BETTER]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; expected some of {list(HIGHER_IS_BETTER)}")
    point_a = binary_metrics(y, sa, threshold_a, curves=False)
    point_b = binary_metrics(y, sb, threshold_b, curves=False)
    n = y.size
    deltas: dict[str, list[np.ndarray]] = {m: [] for m in metrics}
    if n and n_resamples > 0:
        rng = np.random.default_rng(seed)
        done = 0
        while done < n_resamples:
            size = min(chunk, n_resamples - done)
            # Multinomial counts are the bootstrap weights of each candidate: equivalent to drawing n with
            # replacement, but every metric becomes a matrix product over the whole chunk.
            w = rng.multinomial(n, np.full(n, 1.0 / n), size=size).astype(np.float64)
            ra = _weighted_rates(y, sa, w, threshold_a)
            rb = _weighted_rates(y, sb, w, threshold_b)
            if "roc_auc" in metrics:
                ra["roc_auc"] = _weighted_auc(y, sa, w)
                rb["roc_auc"] = _weighted_auc(y, sb, w)
            for m in metrics:
                deltas[m].append(rb[m] - ra[m])
            done += size
    alpha = (1.0 - confidence) / 2.0
    out = []
    for m in metrics:
        a, b = point_a[m], point_b[m]
        delta = None if a is None or b is None else b - a
        low = high = None
        if deltas[m]:
            d = np.concatenate(deltas[m])
            d = d[np.isfinite(d)]
            if d.size:
                low, high = (float(x) for x in np.quantile(d, [alpha, 1.0 - alpha]))
        better = ""
        if low is not None and (low > 0 or high < 0):
            b_higher = low > 0
            better = "b" if b_higher == HIGHER_IS_BETTER[m] else "a"
        out.append(MetricDelta(metric=m, a=a, b=b, delta=delta, low=low, high=high, better=better))
    return out


# ---------------------------------------------------------------------------------------------------------
# Slices: the same metrics on subsets people know to be hard (faint, low latitude, near asteroids...).

MAGNITUDE_EDGES = (17.0, 18.0, 19.0, 20.0)
LATITUDE_EDGES = (5.0, 15.0, 30.0)  # |b| in degrees
NEAR_SOLAR_SYSTEM_ARCSEC = 10.0
SLICE_DIMENSIONS = {
    "filter": "Filter",
    "magnitude": "Magnitude (magpsf)",
    "latitude": "Galactic latitude |b|",
    "isdiffpos": "Subtraction sign",
    "solar_system": "Known solar-system object",
    "night": "Night (UTC)",
}


def _bin_labels(edges: Sequence[float], fmt: str, unit: str = "") -> list[str]:
    labels = [f"< {fmt.format(edges[0])}{unit}"]
    labels += [f"{fmt.format(lo)}–{fmt.format(hi)}{unit}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    labels.append(f"≥ {fmt.format(edges[-1])}{unit}")
    return labels


def slice_keys(
    *,
    fid: np.ndarray,
    magpsf: np.ndarray,
    gal_b: np.ndarray,
    isdiffpos: np.ndarray,
    ssdistnr: np.ndarray,
    night: Sequence,
) -> dict[str, np.ndarray]:
    """The slice each candidate falls in, per dimension, as arrays of labels. Missing magnitudes go to
    "unknown"; a missing ``ssdistnr`` (ZTF's -999: no known object) counts as "none or far"."""
    mag = np.asarray(magpsf, dtype=np.float64)
    mag_labels = np.array(_bin_labels(MAGNITUDE_EDGES, "{:g}") + ["unknown"], dtype=object)
    mag_idx = np.where(np.isfinite(mag), np.searchsorted(MAGNITUDE_EDGES, np.nan_to_num(mag), side="right"), -1)
    lat_labels = np.array(_bin_labels(LATITUDE_EDGES, "{:g}", "°"), dtype=object)
    lat_idx = np.searchsorted(LATITUDE_EDGES, np.abs(np.asarray(gal_b, dtype=np.float64)), side="right")
    ss = np.asarray(ssdistnr, dtype=np.float64)
    near = np.isfinite(ss) & (ss >= 0) & (ss < NEAR_SOLAR_SYSTEM_ARCSEC)
    fids = np.asarray(fid)
    return {
        "filter": np.array([FILTER_NAMES.get(int(f), str(f)) for f in fids], dtype=object),
        "magnitude": mag_labels[mag_idx],
        "latitude": lat_labels[lat_idx],
        "isdiffpos": np.where(np.asarray(isdiffpos, dtype=bool), "positive (t)", "negative (f)").astype(object),
        "solar_system": np.where(
            near, f"near (< {NEAR_SOLAR_SYSTEM_ARCSEC:g}″)", f"none or far (≥ {NEAR_SOLAR_SYSTEM_ARCSEC:g}″)"
        ).astype(object),
        "night": np.array([str(x) for x in night], dtype=object),
    }


def _slice_order(dimension: str, values: set[str]) -> list[str]:
    fixed = {
        "filter": ["g", "r", "i"],
        "magnitude": _bin_labels(MAGNITUDE_EDGES, "{:g}") + ["unknown"],
        "latitude": _bin_labels(LATITUDE_EDGES, "{:g}", "°"),
    }.get(dimension)
    if fixed:
        return [v for v in fixed if v in values] + sorted(values - set(fixed))
    return sorted(values)


def slice_metrics(
    y_true,
    y_score,
    keys: Mapping[str, np.ndarray],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    min_n: int = 10,
    margin: float = 0.05,
) -> dict:
    """Metrics overall and on each slice of each dimension in ``keys`` (see :func:`slice_keys`).

    A slice is marked ``worse`` when its accuracy is below the overall accuracy by more than ``margin``
    plus twice its binomial standard error (so a tiny slice is not blamed for bad luck), or its ROC AUC is
    below the overall AUC by more than ``2 * margin``; slices under ``min_n`` candidates are never marked."""
    y, s = _as_arrays(y_true, y_score)
    overall = binary_metrics(y, s, threshold, curves=False)
    acc0, auc0 = overall["accuracy"], overall["roc_auc"]
    dims = []
    for dim, labels in keys.items():
        labels = np.asarray(labels, dtype=object)
        if labels.shape != y.shape:
            raise ValueError(f"slice keys {dim!r} have {labels.size} entries for {y.size} candidates")
        rows = []
        for value in _slice_order(dim, set(labels.tolist())):
            mask = labels == value
            m = binary_metrics(y[mask], s[mask], threshold, curves=False)
            reasons = []
            if m["n"] >= min_n and acc0 is not None and m["accuracy"] is not None:
                se = np.sqrt(max(acc0 * (1 - acc0), 1e-12) / m["n"])
                if m["accuracy"] < acc0 - margin - 2 * se:
                    reasons.append(f"accuracy {m['accuracy']:.2f} vs {acc0:.2f} overall")
            auc = m["roc_auc"]
            if m["n"] >= min_n and auc0 is not None and auc is not None and auc < auc0 - 2 * margin:
                reasons.append(f"ROC AUC {m['roc_auc']:.2f} vs {auc0:.2f} overall")
            rows.append({"slice": value, **m, "worse": bool(reasons), "worse_reasons": reasons})
        dims.append({"dimension": dim, "label": SLICE_DIMENSIONS.get(dim, dim), "slices": rows})
    return {"overall": overall, "dimensions": dims, "threshold": float(threshold), "margin": margin, "min_n": min_n}
