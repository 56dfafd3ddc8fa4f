"""Recomputing and storing the drift rows: after each ingest (a django-tasks background task, queued by the
classifiers receiver of ``alerts_ingested``) and by ``python manage.py compute_drift``. Pages only read them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from django.db import transaction
from django_tasks import task

from classifiers.drift.config import META_KEY, DriftConfig
from classifiers.drift.inputs import (
    align,
    load_alert_table,
    load_scores,
    nids_by_night,
    night_agreement,
    previous_stamp_samples,
    stamp_columns,
)
from classifiers.drift.statistics import NightDrift, compute_drift
from classifiers.evaluation_data import operating_threshold, volunteer_positive_fraction
from classifiers.models import TASK_SURVEY, DriftNight, ModelVersion, Task
from classifiers.preprocessing import InputRecipe
from classifiers.signals import drift_recomputed
from core.db_retry import retry_when_locked


def drift_tasks() -> list[tuple[str, ModelVersion | None]]:
    """The tasks to summarise and the version whose scores to use: each task's active version; when no task
    has one, the real/bogus task alone, for its inputs."""
    active = {v.task: v for v in ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE)}
    if not active:
        return [(Task.REAL_BOGUS.value, None)]
    return [(t, active[t]) for t in Task.values if t in active]


@transaction.atomic
def store_drift(
    *,
    task: str,
    version: ModelVersion | None,
    nights: list[NightDrift],
    config: DriftConfig,
    agreement: Mapping[int, tuple[float, int]] | None = None,
    nids: Mapping[int, list[int]] | None = None,
    samples: Mapping[int, dict] | None = None,
) -> list[DriftNight]:
    """Replace the stored rows of (task, version) with these nights, at once: a page never sees half of them."""
    agreement, nids, samples = agreement or {}, nids or {}, samples or {}
    rows = []
    for night in nights:
        agree, n_agree = agreement.get(night.night, (None, 0))
        statistics = dict(night.statistics)
        statistics[META_KEY] = {
            "reference": night.reference,
            "nids": nids.get(night.night, []),
            "n_consensus": n_agree,
            "stamp_sample": samples.get(night.night),
            "config": {
                "psi_threshold": config.psi_threshold,
                "ks_threshold": config.ks_threshold,
                "ks_alpha": config.ks_alpha,
                "min_alerts": config.min_alerts,
            },
        }
        rows.append(
            DriftNight(
                task=task,
                version=version,
                night=night.date,
                n_alerts=night.n_alerts,
                percentiles=night.percentiles,
                statistics=statistics,
                agreement=agree,
                flagged=night.flagged,
                flagged_reasons=night.flagged_reasons,
            )
        )
    DriftNight.objects.filter(task=task, version=version).delete()
    return DriftNight.objects.bulk_create(rows)


def survey_recipe(survey: str, versions: list[ModelVersion | None]) -> InputRecipe | None:
    """How the stamp statistics of a survey's alerts make network input: the fit of the survey's models (a
    Rubin cutout larger than 63x63 is cropped about its centre, never refused), ZTF's default otherwise."""
    from classifiers.registry import recipe_of

    for version in versions:
        if version is not None:
            recipe = recipe_of(version)
            return InputRecipe(fit=recipe.fit)
    return InputRecipe(fit="centre") if survey != "ztf" else None


def recompute_drift(*, config: DriftConfig | None = None, progress: Callable[[str], None] | None = None) -> dict:
    """Recompute every night's DriftNight row for each task's active version, replacing the previous rows of
    that (task, version) at once. Each task is summarised on its own survey's alerts (``TASK_SURVEY``): the
    Rubin task on Rubin alerts, the ZTF tasks on ZTF alerts. Returns a summary."""
    config = config or DriftConfig.from_settings()
    say = progress or (lambda _msg: None)
    by_survey: dict[str, list[tuple[str, ModelVersion | None]]] = {}
    for task_name, version in drift_tasks():
        by_survey.setdefault(TASK_SURVEY[Task(task_name)], []).append((task_name, version))
    summary = {"alerts": 0, "tasks": []}
    for survey, tasks in by_survey.items():
        say(f"reading {survey} alerts")
        table = load_alert_table(survey)
        summary["alerts"] += len(table)
        say(f"{len(table)} {survey} alerts; sampling stamps")
        previous = previous_stamp_samples([t for t, _ in tasks])
        recipe = survey_recipe(survey, [v for _, v in tasks])
        stamps, samples = stamp_columns(table, config, previous, recipe)
        # The nights' ids and stamp samples are the same whichever of the survey's versions is summarised.
        shared = {"nids": nids_by_night(table), "samples": samples}
        for task_name, version in tasks:
            summary["tasks"].append(_recompute_task(task_name, version, table, stamps, shared, config, say))
    return summary


def _recompute_task(task_name: str, version, table, stamps, shared: dict, config: DriftConfig, say) -> dict:
    say(f"{task_name}: scores and volunteer agreement")
    scores = load_scores(version, table.ids)
    vote_ids, fraction = volunteer_positive_fraction(task_name)
    agreement_per_alert = 1.0 - np.abs(scores - align(table.ids, vote_ids, fraction))
    variables = {"score": scores, **table.columns, **stamps, "agreement": agreement_per_alert}
    say(f"{task_name}: percentiles and drift statistics")
    nights = compute_drift(table.nights, variables, config)
    agreement = night_agreement(table.ids, table.nights, scores, task_name, operating_threshold(version))
    rows = store_drift(task=task_name, version=version, nights=nights, config=config, agreement=agreement, **shared)
    flagged = [r.night.isoformat() for r in rows if r.flagged]
    say(f"{task_name}: {len(rows)} nights, {len(flagged)} flagged")
    return {
        "task": task_name,
        "survey": TASK_SURVEY[Task(task_name)],
        "alerts": len(table),
        "version": version.version if version else None,
        "nights": len(rows),
        "flagged": flagged,
    }


@task()
@retry_when_locked()  # a recompute replaces the stored nights: running it again after a locked database is safe
def recompute_drift_task() -> dict:
    """Background recompute (django-tasks; run by ``manage.py db_worker``). ``drift_recomputed`` then lets the
    pages' floor build the drift figures once, so the first visitor does not wait for them."""
    summary = recompute_drift()
    drift_recomputed.send(sender=recompute_drift_task, summary=summary)
    return summary


def enqueue_drift_recompute() -> str | None:
    """Queue a drift recompute unless one is already waiting (a burst of ingests needs one recompute, which
    will see all of them). Returns the task result id, or None when one was already queued."""
    from django_tasks_db.models import DBTaskResult

    waiting = DBTaskResult.objects.filter(task_path=recompute_drift_task.module_path, status="READY").exists()
    if waiting:
        return None
    return recompute_drift_task.enqueue().id
