"""Background scoring (django-tasks, database backend; run by ``manage.py db_worker``).

A training run's own task lives with the run (``classifiers.runs.worker.train_run``).
"""

from __future__ import annotations

from django_tasks import task

from core.db_retry import retry_when_locked


@task()
@retry_when_locked()  # scores are upserted: running it again after a locked database rewrites the same rows
def score_alerts_task(version_id: int | None = None, task_name: str = "real_bogus", alert_ids: list[int] | None = None,
                      only_unscored: bool = True, embeddings: bool = False) -> int:  # fmt: skip
    """Score alerts (the given ids, else every alert not yet scored) by a version (default: the task's active one),
    alerts of the version's own survey only. Returns the number of scores written."""
    from classifiers.models import ModelVersion
    from classifiers.registry import active_version
    from classifiers.scoring import score_alerts, unscored_alerts
    from labeling.models import Alert

    version = ModelVersion.objects.defer("weights").get(pk=version_id) if version_id else active_version(task_name)
    if version is None:
        return 0
    alerts = Alert.objects.filter(pk__in=alert_ids) if alert_ids is not None else Alert.objects.all()
    if only_unscored:
        alerts = unscored_alerts(version, alerts)
    return score_alerts(alerts, version, embeddings=embeddings)
