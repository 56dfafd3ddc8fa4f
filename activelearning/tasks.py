"""Background work of the active-learning loop, run by ``manage.py db_worker`` (django-tasks, database backend),
and the functions that enqueue it.

The database backend makes the tasks durable: a queued reordering survives a restart of the web server and is
picked up by the next worker. What a task does lives in :mod:`activelearning.policy` and
:mod:`activelearning.queue`; these are the thin entry points the queue stores by name.
"""

from __future__ import annotations

from django_tasks import task

from activelearning import policy, queue
from classifiers.models import TrainingRun
from core.db_retry import retry_when_locked
from labeling.models import Campaign


@task()
def rescore_and_reorder(version_id: int, run_id: int | None = None) -> dict:
    """After a promotion: score the pool by the new version and reorder every queue of its task."""
    return policy.rescore_and_reorder(version_id, run_id=run_id)


@task()
@retry_when_locked()  # priorities are rewritten from the stored scores: running it again is safe
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


def request_reorder(campaign: Campaign) -> str:
    """Enqueue a background reordering of one campaign; returns the task result id."""
    return str(reorder_campaign.enqueue(campaign_id=campaign.pk).id)


def request_rescore(version, run: TrainingRun | None) -> str:
    """Enqueue the rescoring and reordering that follow the activation of ``version``. Its progress goes on
    ``run``, else on the latest run that trained the version (a promotion by hand of a trained candidate)."""
    if run is None:
        run = TrainingRun.objects.filter(version=version).order_by("-created_at").first()
    return str(rescore_and_reorder.enqueue(version_id=version.pk, run_id=run.pk if run else None).id)
