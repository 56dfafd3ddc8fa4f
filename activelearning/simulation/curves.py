"""Mean learning curves over seeds, and each strategy's label saving against random sampling.

The quality a curve follows is ROC AUC on the test set, or, in the transfer scenario, Spearman's rank correlation
with the reference score (``metric="spearman"``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from activelearning.simulation.replay import Point


def mean_curves(
    points: list[Point], metric: str = "auc"
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Per strategy: (n_labels, mean, min, max of ``metric``) over seeds, on the rounds every seed reached."""
    out = {}
    for strategy in sorted({p.strategy for p in points}):
        by_round: dict[int, list[Point]] = {}
        for p in points:
            if p.strategy == strategy and getattr(p, metric) is not None:
                by_round.setdefault(p.round, []).append(p)
        n_seeds = max((len(v) for v in by_round.values()), default=0)
        rounds = sorted(r for r, v in by_round.items() if len(v) == n_seeds)
        labels = np.array([np.mean([p.n_labels for p in by_round[r]]) for r in rounds])
        aucs = [np.array([getattr(p, metric) for p in by_round[r]]) for r in rounds]
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
    metric: str  # "auc" or "spearman"
    target: float
    labels_needed: float | None
    random_labels: float | None  # None when random never reached a fixed target
    saving: float | None  # fraction fewer labels than random; None when undefined (see label_savings)
    final: float


def label_savings(points: list[Point], *, metric: str = "auc", target: float | None = None) -> list[Saving]:
    """Each strategy's labels to reach ``target`` (default: random's final mean) and its saving against random."""
    curves = mean_curves(points, metric)
    if "random" not in curves or not len(curves["random"][1]):
        raise ValueError("label saving needs the random strategy as the baseline")
    r_labels, r_quality, _, _ = curves["random"]
    if target is None:
        target = float(r_quality[-1])
        random_needed = labels_to_reach(r_labels, r_quality, target) or float(r_labels[-1])
    else:
        random_needed = labels_to_reach(r_labels, r_quality, target)
    out = []
    for strategy, (labels, quality, _, _) in curves.items():
        needed = labels_to_reach(labels, quality, target)
        # No saving to speak of when either never reached the target, or random reached it before any label.
        saving = None if needed is None or not random_needed else 1.0 - needed / random_needed
        out.append(Saving(strategy, metric, target, needed, random_needed, saving, float(quality[-1])))
    return out
