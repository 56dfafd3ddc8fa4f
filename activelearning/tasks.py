"""Background work of the active-learning loop, run by ``manage.py db_worker`` (django-tasks, database backend).

The database backend makes the tasks durable: a queued training survives a restart of the web server and is
picked up by the next worker. What a task does lives in :mod:`activelearning.retraining` and
:mod:`activelearning.queue`; these are the thin entry points the queue stores by name.
"""

from __future__ import annotations

from django_tasks import task

from activelearning import queue, retraining


@task()
def run_training(run_id: int) -> dict:
    """Train, evaluate on the held-out set and decide on promotion for one ``TrainingRun``."""
    return retraining.execute_run(run_id)


@task()
def rescore_and_reorder(version_id: int, run_id: int | None = None) -> dict:
    """After a promotion: score the pool by the new version and reorder every queue of its task."""
    retraining.reap_stale_runs()
    return retraining.rescore_and_reorder_version(version_id, run_id=run_id)


@task()
def reorder_campaign(campaign_id: int) -> dict:
    """Reorder one campaign's queue from the active version's stored scores."""
    result = queue.reorder_campaign(campaign_id)
    return {
        "campaign_id": campaign_id,
        "strategy": result.strategy_used,
        "n_subjects": result.ordering.n_subjects,
        "n_scored": result.n_scored,
        "note": result.note,
    }
