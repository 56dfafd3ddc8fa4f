"""Selectors: the labelled candidates a version is evaluated on, with its scores and slice fields.

Labels come from ``classifiers.labelled``: volunteer consensus first (the retired subjects of campaigns asking
the task's question), then, for demo alerts nobody has labelled yet, the generator's known truth. Real survey
alerts without consensus are left out: there is nothing to compare with. Every result says how many labels came
from which source, and the pages show it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from classifiers.labelled import (
    CONSENSUS,
    DEMO_TRUTH,
    QUESTION_TYPES,
    SOURCE_LABELS,
    LabelledSet,
    labelled_alerts,
    positive_labels,
)
from classifiers.models import ModelVersion, Score, Task
from labeling.models import Alert

EVALUATION_SOURCES = (CONSENSUS, DEMO_TRUTH)


def operating_threshold(version: ModelVersion | None) -> float:
    """The version's operating threshold (stored by the registry), 0.5 when none was stored."""
    if version is None:
        return 0.5
    for source, key in (
        (version.thresholds, "operating"),
        (version.thresholds, "threshold"),
        (version.metrics, "threshold"),
    ):
        value = source.get(key) if isinstance(source, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return 0.5


@dataclass
class EvaluationSet:
    """Labelled candidates scored by every one of ``versions``, with what the slices need."""

    alert_ids: np.ndarray
    y: np.ndarray
    source: np.ndarray
    scores: dict[int, np.ndarray]  # version pk -> scores aligned with alert_ids
    fid: np.ndarray
    magpsf: np.ndarray
    gal_b: np.ndarray
    isdiffpos: np.ndarray
    ssdistnr: np.ndarray
    night: list[dt.date]

    def __len__(self) -> int:
        return int(self.alert_ids.size)

    def source_counts(self) -> dict[str, int]:
        counts = {s: int(np.count_nonzero(self.source == s)) for s in SOURCE_LABELS}
        return {s: n for s, n in counts.items() if n or s in EVALUATION_SOURCES}

    def source_note(self) -> str:
        counts = self.source_counts()
        parts = [f"{n} from {SOURCE_LABELS[s]}" for s, n in counts.items() if n]
        return f"{len(self)} labelled candidates: " + ("; ".join(parts) if parts else "none")


def evaluation_set(task: str, versions: list[ModelVersion], *, labelled: LabelledSet | None = None) -> EvaluationSet:
    """The candidates with a label and a score from every given version (the same set for all of them): every
    labelled candidate, or those of ``labelled`` (the fixed held-out set) with its labels."""
    labels = labelled if labelled is not None else labelled_alerts(task, sources=EVALUATION_SOURCES)
    alert_ids = np.array(labels.alert_ids, dtype=np.int64)
    keep = np.ones(len(labels), dtype=bool)
    scores: dict[int, np.ndarray] = {}
    for version in versions:
        rows = dict(
            Score.objects.filter(version=version, alert_id__in=labels.alert_ids).values_list("alert_id", "score")
        )
        s = np.array([rows.get(i, np.nan) for i in labels.alert_ids], dtype=np.float64)
        keep &= np.isfinite(s)
        scores[version.pk] = s
    ids = alert_ids[keep]
    fields = {
        row[0]: row[1:]
        for row in Alert.objects.filter(id__in=ids.tolist()).values_list(
            "id", "fid", "magpsf", "gal_b", "isdiffpos", "ssdistnr", "night"
        )
    }
    cols = list(zip(*(fields[int(i)] for i in ids), strict=True)) if ids.size else [[], [], [], [], [], []]
    return EvaluationSet(
        alert_ids=ids,
        y=labels.y[keep].astype(np.int8),
        source=np.array(labels.origins, dtype=object)[keep],
        scores={pk: s[keep] for pk, s in scores.items()},
        fid=np.array(cols[0], dtype=np.int64),
        magpsf=np.array(cols[1], dtype=np.float64),
        gal_b=np.array(cols[2], dtype=np.float64),
        isdiffpos=np.array(cols[3], dtype=bool),
        ssdistnr=np.array(cols[4], dtype=np.float64),
        night=list(cols[5]),
    )


def volunteer_positive_fraction(task: str) -> tuple[np.ndarray, np.ndarray]:
    """(alert ids, share of volunteers' non-skip votes that chose the positive class), over every campaign
    asking this task's question. Votes, not consensus, so unretired subjects count too."""
    from django.db.models import Count, Q

    from labeling.models import SKIP, Vote

    rows = (
        Vote.objects.filter(campaign__question_type=QUESTION_TYPES[Task(task)])
        .exclude(answer=SKIP)
        .values("subject__alert_id")
        .annotate(n=Count("id"), positive=Count("id", filter=Q(answer__in=positive_labels(task))))
        .values_list("subject__alert_id", "n", "positive")
        .order_by("subject__alert_id")
    )
    arr = np.array(list(rows), dtype=np.float64).reshape(-1, 3)
    return arr[:, 0].astype(np.int64), arr[:, 2] / np.maximum(arr[:, 1], 1)
