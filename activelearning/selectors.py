"""What the ML lead sees of the loop: tasks with their active version, campaigns with their queue state, runs.

Reads only; every figure here comes from stored rows (runs' progress, orderings, versions), so the page and the
API answer at once while training and rescoring run in the worker.
"""

from __future__ import annotations

from django.db.models import Count, Q

from activelearning.models import QueueOrdering
from classifiers.models import ModelVersion, Task
from classifiers.reference_sets import heldout_figures, reference_figures
from classifiers.runs.selectors import in_flight, recent_runs
from core.conf import blink_setting
from labeling.models import Campaign


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
        running = in_flight(value)
        # The stored figure on the fixed held-out set: the one the versions table and the compare page show.
        heldout = (heldout_figures([active])[active.pk] or {}) if active else {}
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
                    "test_n": (active.metrics or {}).get("n"),
                    "heldout_roc_auc": heldout.get("roc_auc"),
                    "heldout_n": heldout.get("n"),
                    # The stored figures on each reference set, the same the versions and compare pages show.
                    "reference": reference_figures([active])[active.pk],
                    "created_at": active.created_at.isoformat(timespec="seconds"),
                },
                "in_flight": None if running is None else {"id": running.pk, "status": running.status},
            }
        )
    return rows


def loop_overview(*, runs: int = 15) -> dict:
    return {
        "tasks": task_rows(),
        "campaigns": campaign_rows(),
        "runs": recent_runs(limit=runs),
        "policy": {
            "promote_margin": blink_setting("PROMOTE_MARGIN"),
            "heldout_fraction": blink_setting("HELDOUT_FRACTION"),
        },
    }
