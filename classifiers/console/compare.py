"""Two versions on the same labelled candidates, and one version's metrics per slice of the sky and the camera.

Two versions both evaluated on the task's fixed held-out set (every version is, when its training ends) are
compared there, on their stored scores: the figures are then the very ones the versions table and the loop page
show. Otherwise on their own test splits' overlap, else on every labelled candidate both have scored.

Both are cached under a key that moves with their inputs (:mod:`classifiers.console.cache`): the paired bootstrap
is too slow to run on every page load.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from classifiers import evaluation
from classifiers.console.cache import inputs_key, memoized
from classifiers.console.reliability import reliability_comparison
from classifiers.console.versions import ConsoleError, version_row
from classifiers.evaluation_data import EvaluationSet, evaluation_set, operating_threshold
from classifiers.labelled import SOURCE_LABELS, heldout_set
from classifiers.models import ModelVersion, Score
from classifiers.reference_sets import heldout_figures, reference_figures
from core.urls import alert_page_url, cutout_urls, explanation_url
from labeling.models import STAMP_KINDS, Alert

MIN_HELDOUT = 30  # below this many held-out candidates in common, compare on every labelled candidate instead


def compare_versions(
    a: ModelVersion, b: ModelVersion, *, n_resamples: int = 1000, seed: int = 0, top: int = 12
) -> dict:
    """Both versions on the same labelled candidates: metrics, ROC and precision-recall curves, confusion
    matrices, paired-bootstrap deltas (b - a), and the candidates whose scores changed most; for Rubin versions
    also both against Rubin's reliability score (:mod:`classifiers.console.reliability`)."""
    if a.task != b.task:
        raise ConsoleError("b", f"{a.label} and {b.label} answer different tasks; compare versions of one task")
    if a.pk == b.pk:
        raise ConsoleError("b", "choose two different versions")
    key = inputs_key("compare", a.pk, b.pk, n_resamples, seed, top)
    compared = memoized(key, lambda: _compare(a, b, n_resamples=n_resamples, seed=seed, top=top))
    # Read apart from the memo: an evaluation stored since (a new set, an imported version) shows at once.
    # Rubin versions also meet Rubin's own reliability score, the one reference where no human label exists.
    return {**compared, "reference": reference_pairs(a, b), "reliability": reliability_comparison(a, b)}


def reference_pairs(a: ModelVersion, b: ModelVersion) -> list[dict]:
    """Each reference set of the task with both versions' stored figures, as the versions table shows them."""
    figures = reference_figures([a, b])
    shared = ("id", "name", "kind", "kind_label", "note", "model_opinion", "guards_promotion", "margin")
    return [
        {**{k: fa[k] for k in shared}, "a": fa, "b": fb} for fa, fb in zip(figures[a.pk], figures[b.pk], strict=True)
    ]


def _held_out(version: ModelVersion) -> set[int] | None:
    ids = (version.training_set or {}).get("test_alert_ids")
    return {int(i) for i in ids} if isinstance(ids, list) else None


def _label_sources(data: EvaluationSet) -> dict[str, int]:
    return {SOURCE_LABELS[k]: v for k, v in data.source_counts().items()}


SCOPE_NOTES = {
    "heldout": "the fixed held-out set (known truth on objects no training run learns from), on the scores stored "
    "when each version was evaluated: the same figures as the versions table and the loop page",
    "held_out": "held-out candidates of both versions (neither trained on them)",
    "labelled": "every labelled candidate both versions scored; a version may have trained on some of them",
}


def _on_heldout_set(a: ModelVersion, b: ModelVersion) -> EvaluationSet | None:
    """Both versions on the fixed held-out set, when both were evaluated on it and scored all of it."""
    figures = heldout_figures([a, b])
    if not all(f is not None and f["evaluated"] for f in figures.values()):
        return None
    heldout = heldout_set(a.task)
    data = evaluation_set(a.task, [a, b], labelled=heldout)
    return data if len(data) and len(data) == len(heldout) else None


def _compare(a: ModelVersion, b: ModelVersion, *, n_resamples: int, seed: int, top: int) -> dict:
    data = _on_heldout_set(a, b)
    scope = "heldout" if data is not None else "labelled"
    data = data if data is not None else evaluation_set(a.task, [a, b])
    held_a, held_b = _held_out(a), _held_out(b)
    if scope == "labelled" and held_a is not None and held_b is not None:
        in_both = np.isin(data.alert_ids, np.fromiter(held_a & held_b, dtype=np.int64))
        if in_both.sum() >= MIN_HELDOUT:
            scope = "held_out"
            data = _subset(data, in_both)
    ta, tb = operating_threshold(a), operating_threshold(b)
    ya, sa, sb = data.y, data.scores[a.pk], data.scores[b.pk]
    deltas = (
        evaluation.bootstrap_deltas(ya, sa, sb, threshold_a=ta, threshold_b=tb, n_resamples=n_resamples, seed=seed)
        if len(data)
        else []
    )
    return {
        "task": a.task,
        "a": version_row(a),
        "b": version_row(b),
        "n": len(data),
        "scope": scope,
        "scope_note": SCOPE_NOTES[scope],
        "label_sources": _label_sources(data),
        "source_note": data.source_note(),
        "metrics_a": evaluation.binary_metrics(ya, sa, ta, pr=True) if len(data) else None,
        "metrics_b": evaluation.binary_metrics(ya, sb, tb, pr=True) if len(data) else None,
        "deltas": [d.as_dict() for d in deltas],
        "bootstrap": {"n_resamples": n_resamples, "confidence": 0.95, "seed": seed, "paired": True},
        "changed": changed_most(a, b, limit=top),
    }


def _subset(data: EvaluationSet, mask: np.ndarray) -> EvaluationSet:
    return replace(
        data,
        alert_ids=data.alert_ids[mask],
        y=data.y[mask],
        source=data.source[mask],
        scores={k: v[mask] for k, v in data.scores.items()},
        fid=data.fid[mask],
        magpsf=data.magpsf[mask],
        gal_b=data.gal_b[mask],
        isdiffpos=data.isdiffpos[mask],
        ssdistnr=data.ssdistnr[mask],
        night=[n for n, keep in zip(data.night, mask, strict=True) if keep],
    )


def changed_most(a: ModelVersion, b: ModelVersion, *, limit: int = 12) -> list[dict]:
    """Candidates scored by both versions whose scores differ most, largest change first."""
    sa = dict(Score.objects.filter(version=a).values_list("alert_id", "score"))
    sb = dict(Score.objects.filter(version=b).values_list("alert_id", "score"))
    common = np.fromiter((i for i in sa if i in sb), dtype=np.int64)
    if common.size == 0:
        return []
    delta = np.array([sb[i] - sa[i] for i in common.tolist()])
    order = np.argsort(-np.abs(delta), kind="stable")[:limit]
    ids = common[order].tolist()
    alerts = Alert.objects.in_bulk(ids)
    return [
        {
            **candidate_card(alerts[alert_id], version=b),
            "score_a": sa[alert_id],
            "score_b": sb[alert_id],
            "delta": d,
            "truth": alerts[alert_id].demo_truth or None,
        }
        for alert_id, d in zip(ids, delta[order].tolist(), strict=True)
    ]


def candidate_card(alert: Alert, *, version: ModelVersion | None) -> dict:
    """What the console shows of one candidate: its stamps, and the version's Grad-CAM overlay when there is one."""
    return {
        "alert_id": alert.pk,
        "candid": alert.candid,
        "object_id": alert.object_id,
        "night": alert.night.isoformat(),
        "magpsf": alert.magpsf,
        "filter": alert.filter_name,
        "stamps": cutout_urls(alert.candid, STAMP_KINDS),
        "gradcam_url": explanation_url(alert.candid, "gradcam", version.pk) if version is not None else None,
        "gradcam_version": version.label if version is not None else None,
        "alert_url": alert_page_url(alert.candid),
    }


def slice_report(version: ModelVersion) -> dict:
    """The version's metrics per filter, magnitude, Galactic latitude, sign, solar-system distance and night."""
    return memoized(inputs_key("slices", version.pk), lambda: _slice_report(version))


def _slice_report(version: ModelVersion) -> dict:
    data = evaluation_set(version.task, [version])
    keys = evaluation.slice_keys(
        fid=data.fid,
        magpsf=data.magpsf,
        gal_b=data.gal_b,
        isdiffpos=data.isdiffpos,
        ssdistnr=data.ssdistnr,
        night=[n.isoformat() for n in data.night],
    )
    report = evaluation.slice_metrics(data.y, data.scores[version.pk], keys, threshold=operating_threshold(version))
    report["version"] = version_row(version)
    report["source_note"] = data.source_note()
    report["label_sources"] = _label_sources(data)
    return report
