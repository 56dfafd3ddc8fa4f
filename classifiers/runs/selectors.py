"""What pages and APIs show of training runs. Reads only."""

from __future__ import annotations

from classifiers.models import TrainingRun
from classifiers.runs.events import numbered
from core.urls import training_run_events_url

IN_FLIGHT = (TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING)
DECISIONS = ("promoted", "kept")


def in_flight(task: str) -> TrainingRun | None:
    """The task's queued or running run (there is at most one)."""
    return TrainingRun.objects.filter(task=task, status__in=IN_FLIGHT).order_by("created_at").first()


def _runs():
    return TrainingRun.objects.select_related("campaign", "triggered_by", "version").defer("version__weights")


def _iso(moment) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def run_summary(run: TrainingRun) -> dict:
    """A run with the latest event of each part of its life, as the ML lead's loop page draws it."""
    progress = numbered(run.progress)
    latest: dict[str, dict] = {}
    for event in progress:
        key = event.get("step") if event.get("phase") == "running" else event.get("phase")
        latest[key] = event
        if event.get("phase") in DECISIONS:
            latest["decision"] = event
    epochs = [e for e in progress if e.get("step") == "epoch"]
    return {
        "id": run.pk,
        "task": run.task,
        "status": run.status,
        "campaign": run.campaign.slug if run.campaign_id and run.campaign else None,
        "trigger": run.trigger,
        "triggered_by": run.triggered_by.username if run.triggered_by_id and run.triggered_by else None,
        "attempts": run.attempts,
        "created_at": _iso(run.created_at),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "heartbeat_at": _iso(run.heartbeat_at),
        "error": run.error,
        "version": run.version.version if run.version_id and run.version else None,
        "epochs": [{k: e.get(k) for k in ("member", "epoch", "epochs", "loss", "val_loss")} for e in epochs[-60:]],
        "queued": latest.get("queued"),
        "labels": latest.get("labels"),
        "evaluation": latest.get("evaluated"),
        "decision": latest.get("decision"),
        "rescoring": latest.get("rescoring"),
        "done": latest.get("rescored"),
        "events": progress[-30:],
        # Where a page without a shared channel layer follows the run's stored events from ``seq`` on.
        "seq": progress[-1]["seq"] if progress else 0,
        "events_url": training_run_events_url(run.pk),
    }


def recent_runs(*, task: str | None = None, limit: int = 20) -> list[dict]:
    runs = _runs()
    if task:
        runs = runs.filter(task=task)
    return [run_summary(r) for r in runs.order_by("-created_at")[:limit]]


def run_detail(run_id: int) -> dict | None:
    """A run with every recorded event and its options; None when there is no such run."""
    run = _runs().filter(pk=run_id).first()
    if run is None:
        return None
    return {**run_summary(run), "events": numbered(run.progress), "options": run.options}


def events_after(run_id: int, after: int = 0) -> dict | None:
    """The run's stored events numbered above ``after``, its status and its last number; None when there is no
    such run. One row read: what a page polls every second while it follows a run."""
    row = TrainingRun.objects.filter(pk=run_id).values("status", "progress").first()
    if row is None:
        return None
    progress = numbered(row["progress"])
    return {
        "run": run_id,
        "status": row["status"],
        "in_flight": row["status"] in IN_FLIGHT,
        "seq": progress[-1]["seq"] if progress else 0,
        "events": [e for e in progress if e["seq"] > after],
    }
