"""Mean learning curves over seeds, and each strategy's label saving against random sampling."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from activelearning.simulation.replay import Point


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
