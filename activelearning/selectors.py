"""What the ML lead sees of the loop: tasks with their active version, campaigns with their queue state, runs.

Reads only; every figure here comes from stored rows (runs' progress, orderings, versions), so the page and the
API answer at once while training and rescoring run in the worker.
"""

from __future__ import annotations

from django.db.models import Count, Q

from activelearning.models import QueueOrdering
from activelearning.retraining import heldout_fraction, promote_margin, run_summary
from classifiers.models import ModelVersion, Task, TrainingRun
from labeling.models import Campaign


def recent_runs(*, task: str | None = None, limit: int = 20) -> list[dict]:
    runs = TrainingRun.objects.select_related("campaign", "triggered_by", "version").defer("version__weights")
    if task:
        runs = runs.filter(task=task)
    return [run_summary(r) for r in runs.order_by("-created_at")[:limit]]


def run_detail(run_id: int) -> dict | None:
    run = (
        TrainingRun.objects.select_related("campaign", "triggered_by", "version")
        .defer("version__weights")
        .filter(pk=run_id)
        .first()
    )
    if run is None:
        return None
    summary = run_summary(run)
    summary["events"] = list(run.progress or [])
    summary["options"] = run.options
    return summary


def _ordering(o: QueueOrdering | None) -> dict | None:
    if o is None:
        return None
    return {
        "at": o.computed_at.isoformat(timespec="seconds"),
        "strategy": o.strategy,
        "version": o.version.label if o.version_id and o.version else None,
        "n_subjects": o.n_subjects,
        "duration_ms": o.duration_ms,
    }


def campaign_rows() -> list[dict]:
    campaigns = (
        Campaign.objects.exclude(state=Campaign.State.FINISHED)
        .annotate(n_unretired=Count("subjects", filter=Q(subjects__retired=False)))
        .order_by("name")
    )
    rows = []
    for c in campaigns:
        latest = (
            QueueOrdering.objects.select_related("version")
            .defer("version__weights")
            .filter(campaign=c)
            .order_by("-computed_at")
            .first()
        )
        rows.append(
            {
                "slug": c.slug,
                "name": c.name,
                "state": c.state,
                "model_task": c.model_task,
                "strategy": c.strategy,
                "strategy_label": c.get_strategy_display(),
                "labels_since_training": c.labels_since_training,
                "retrain_every": c.retrain_every,
                "exploration_share": c.exploration_share,
                "gold_share": c.gold_share,
                "unretired": c.n_unretired,
                "last_ordering": _ordering(latest),
            }
        )
    return rows


def task_rows() -> list[dict]:
    rows = []
    for value, label in Task.choices:
        active = ModelVersion.objects.defer("weights").filter(task=value, status=ModelVersion.Status.ACTIVE).first()
        in_flight = TrainingRun.objects.filter(
            task=value, status__in=[TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING]
        ).first()
        heldout = ((active.metrics or {}).get("heldout") or {}) if active else {}
        rows.append(
            {
                "task": value,
                "label": label,
                "active": None
                if active is None
                else {
                    "id": active.pk,
                    "label": active.label,
                    "version": active.version,
                    "roc_auc": (active.metrics or {}).get("roc_auc"),
                    "heldout_roc_auc": ((heldout.get("candidate") or {}).get("roc_auc")),
                    "created_at": active.created_at.isoformat(timespec="seconds"),
                },
                "in_flight": None if in_flight is None else {"id": in_flight.pk, "status": in_flight.status},
            }
        )
    return rows


def loop_overview(*, runs: int = 15) -> dict:
    return {
        "tasks": task_rows(),
        "campaigns": campaign_rows(),
        "runs": recent_runs(limit=runs),
        "policy": {"promote_margin": promote_margin(), "heldout_fraction": heldout_fraction()},
    }
