"""Rubin versions against Rubin's own reliability score: the reference figure where no human label exists.

Every Rubin alert carries ``diaSource.reliability`` (stored in ``Alert.drb``), the score of Rubin's own real/bogus
model. Agreement with it is agreement with another model, not with the truth, and every page that shows these
figures says so in the words of :data:`RELIABILITY_LABEL`. Rubin's confident calls are the labels, with the cuts
the Rubin held-out set uses (``classifiers.labelled.drb_targets``: reliability above 0.8 real, below 0.2 bogus,
the uncertain middle left out); a version's call is its score at its own operating threshold. The correlation of
score with reliability is over every scored alert, the middle included.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from classifiers import evaluation
from classifiers.console.cache import inputs_key, memoized
from classifiers.evaluation_data import operating_threshold
from classifiers.labelled import RELIABILITY_BOGUS, RELIABILITY_REAL, drb_targets
from classifiers.models import TASK_SURVEY, ModelVersion, Score

RELIABILITY_LABEL = "Rubin reliability (a model's opinion, not human labels)"
RELIABILITY_NOTE = (
    f"agreement with Rubin's own real/bogus score on the Rubin alerts the versions scored: reliability above "
    f"{RELIABILITY_REAL} counts as real, below {RELIABILITY_BOGUS} as bogus, the uncertain middle is left out. "
    "Another model's opinion, not human labels"
)


def uses_reliability(task: str) -> bool:
    """Whether a task's versions are judged against Rubin's reliability (the Rubin task's)."""
    return TASK_SURVEY.get(task) == "rubin"


def _scored_with_reliability(versions: list[ModelVersion]) -> tuple[np.ndarray, np.ndarray, dict[int, np.ndarray]]:
    """(alert ids, reliability, scores per version) of the Rubin alerts with a reliability that every one of
    ``versions`` scored, in alert id order."""
    rows = Score.objects.filter(version__in=versions, alert__survey="rubin", alert__drb__isnull=False).values_list(
        "version_id", "alert_id", "score", "alert__drb"
    )
    per_version: dict[int, dict[int, float]] = {v.pk: {} for v in versions}
    reliability: dict[int, float] = {}
    for version_id, alert_id, score, drb in rows:
        per_version[version_id][alert_id] = score
        reliability[alert_id] = drb
    common = set(reliability)
    for scores in per_version.values():
        common &= set(scores)
    ids = np.array(sorted(common), dtype=np.int64)
    rel = np.array([reliability[i] for i in ids.tolist()], dtype=np.float64)
    scores = {pk: np.array([s[i] for i in ids.tolist()], dtype=np.float64) for pk, s in per_version.items()}
    return ids, rel, scores


def _figures(version: ModelVersion, reliability: np.ndarray, scores: np.ndarray, *, curves: bool) -> dict:
    y = drb_targets(reliability, "rubin")
    confident = np.isfinite(y)
    metrics = evaluation.binary_metrics(
        y[confident], scores[confident], operating_threshold(version), curves=curves, pr=curves
    )
    correlation = None
    if scores.size >= 3 and np.std(scores) > 0 and np.std(reliability) > 0:
        correlation = round(float(np.corrcoef(scores, reliability)[0, 1]), 4)
    # Accuracy against Rubin's confident calls is the share of them the version calls the same way.
    return {**metrics, "agreement": metrics.get("accuracy"), "correlation": correlation, "n_scored": scores.size}


def reliability_figures(versions: Iterable[ModelVersion]) -> dict[int, dict | None]:
    """Each Rubin version's agreement with Rubin's confident reliability calls on the Rubin alerts it scored (None
    for a version of another task, or one that scored no Rubin alert with a reliability)."""
    versions = list(versions)
    rubin = [v for v in versions if uses_reliability(v.task)]
    out: dict[int, dict | None] = {v.pk: None for v in versions}
    if not rubin:
        return out
    key = inputs_key("reliability-figures", sorted(v.pk for v in rubin))

    def build() -> dict[int, dict | None]:
        figures = {}
        for version in rubin:
            _, rel, scores = _scored_with_reliability([version])
            figures[version.pk] = _figures(version, rel, scores[version.pk], curves=False) if rel.size else None
        return figures

    out.update(memoized(key, build))
    return out


def reliability_comparison(a: ModelVersion, b: ModelVersion) -> dict | None:
    """Both Rubin versions against Rubin's reliability on the Rubin alerts both scored: metrics with ROC and
    precision-recall curves, the count, and the words pages show. None for another task's versions."""
    if not (uses_reliability(a.task) and uses_reliability(b.task)):
        return None

    def build() -> dict:
        ids, rel, scores = _scored_with_reliability([a, b])
        y = drb_targets(rel, "rubin")
        words = {"label": RELIABILITY_LABEL, "note": RELIABILITY_NOTE, "real_above": RELIABILITY_REAL}
        words["bogus_below"] = RELIABILITY_BOGUS
        if not np.isfinite(y).any():
            return {**words, "n": 0, "n_scored": int(ids.size), "metrics_a": None, "metrics_b": None}
        return {
            **words,
            "n": int(np.count_nonzero(np.isfinite(y))),
            "n_real": int(np.count_nonzero(y == 1)),
            "n_scored": int(ids.size),
            "metrics_a": _figures(a, rel, scores[a.pk], curves=True),
            "metrics_b": _figures(b, rel, scores[b.pk], curves=True),
        }

    return memoized(inputs_key("reliability-compare", a.pk, b.pk), build)
