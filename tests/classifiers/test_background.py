"""Training and scoring as durable background work: a real ``manage.py db_worker`` process does them."""

from __future__ import annotations

import os

import pytest
from django.db import connection

from classifiers.models import ModelVersion, Score, TrainingRun
from classifiers.runs.requests import request_run
from classifiers.tasks import score_alerts_task
from tests.conftest import child_database_url, run_manage


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_db_worker_trains_promotes_and_scores(demo_alerts, mllead, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("the worker process needs the test database on PostgreSQL (DATABASE_URL=postgres://...)")
    run, _ = request_run(
        task="real_bogus", triggered_by=mllead, trigger="api", options={"epochs": 2, "promote": "always"}
    )
    run.refresh_from_db()
    assert run.task_result_id
    score_alerts_task.enqueue(task_name="real_bogus")

    env = {**os.environ, "DATABASE_URL": child_database_url(), "BLINK_VAR_DIR": str(tmp_path)}
    worker = run_manage("db_worker", "--batch", "--no-reload", "--no-startup-delay", env=env, timeout=300)
    assert worker.returncode == 0, worker.stderr[-3000:]

    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.version is not None
    assert run.version.status == ModelVersion.Status.ACTIVE
    life = list(dict.fromkeys(e["phase"] for e in run.progress))
    assert life[:5] == ["queued", "running", "registered", "evaluated", "promoted"]
    assert life[-1] == "rescored"  # the promotion's follow-up ran in the same worker
    assert [e.get("step") for e in run.progress].count("epoch") == 2
    # The score task ran after the training: every alert scored by the version it promoted.
    assert Score.objects.filter(version=run.version).count() == len(demo_alerts)
