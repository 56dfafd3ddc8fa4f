"""Reads for pages and APIs: an alert's scores and the model panel shown beside its stamps.

Nothing here imports TensorFlow: pages read stored scores; explanation images are computed (and cached) only
when their URL is fetched.
"""

from __future__ import annotations

from collections.abc import Iterable

from classifiers.models import BRAAI_TASKS, ModelVersion, Score, Task
from core.rows import fetch
from core.urls import explanation_url

EXPLANATION_KINDS = ("gradcam", "saliency")
EXPLANATION_TITLES = {
    "gradcam": "Grad-CAM: where the last convolutional layer found evidence for the model's verdict (one map, shown on all three stamps)",
    "saliency": "Saliency: the pixels whose change would move the model's verdict most, per stamp",
}


def active_versions() -> dict[str, ModelVersion]:
    # Read on every classify request: without the ORM's per-query compile (core.rows says why).
    versions = fetch(ModelVersion, "status = %s", [ModelVersion.Status.ACTIVE], skip=("weights",))
    return {v.task: v for v in versions}


def alert_scores(alert) -> list[dict]:
    """Every version's score of this alert, newest version first per task."""
    scores = (
        Score.objects.filter(alert=alert)
        .select_related("version")
        .defer("version__weights", "embedding")
        .order_by("version__task", "-version__version")
    )
    return [score_row(s) for s in scores]


def score_row(score: Score) -> dict:
    version = score.version
    row = {
        "task": version.task,
        "version": version.version,
        "version_id": version.pk,
        "label": version.label,
        "status": version.status,
        "score": round(float(score.score), 5),
        "scored_at": score.scored_at.isoformat() if score.scored_at else None,
    }
    if version.task == Task.STREAKS:
        row["plausible"] = bool((score.details or {}).get("plausible"))
        row["groups"] = {g: (score.details or {}).get(g) for g in ("rb", "sl", "kd")}
    return row


def score_panels(alerts: Iterable) -> dict[int, dict]:
    """The model panel of each alert that the active versions have scored: ``{alert_pk: panel}``. Alerts with no
    score (no active model, or not scored yet) are left out, so pages show nothing rather than an error."""
    alerts = list(alerts)
    versions = active_versions()
    if not alerts or not versions:
        return {}
    by_pk = {a.pk: a for a in alerts}
    scores = Score.objects.filter(alert_id__in=list(by_pk), version__in=list(versions.values())).values_list(
        "alert_id", "version_id", "score", "details"
    )
    panels: dict[int, dict] = {}
    by_version = {v.pk: v for v in versions.values()}
    for alert_id, version_id, value, details in scores:
        version = by_version[version_id]
        candid = by_pk[alert_id].candid
        panel = panels.setdefault(alert_id, {})
        if version.task in BRAAI_TASKS:  # an alert is scored by its own survey's real/bogus model only
            threshold = float((version.thresholds or {}).get("operating", 0.5))
            panel.update(
                {
                    "task": version.task,
                    "version": version.label,
                    "version_id": version.pk,
                    "score": round(float(value), 3),
                    "threshold": threshold,
                    "verdict": "real" if value >= threshold else "bogus",
                    "explanations": {
                        kind: {"url": explanation_url(candid, kind, version.pk), "title": EXPLANATION_TITLES[kind]}
                        for kind in EXPLANATION_KINDS
                    },
                }
            )
        else:
            panel["streaks"] = {
                "version": version.label,
                "version_id": version.pk,
                "score": round(float(value), 3),
                "plausible": bool((details or {}).get("plausible")),
            }
    return panels


def score_panel(alert) -> dict | None:
    """The model panel of one alert (see :func:`score_panels`), or None when no active model has scored it."""
    return score_panels([alert]).get(alert.pk)
