"""Training and scoring as durable background work: a real ``manage.py db_worker`` process does them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from classifiers.models import ModelVersion, Score, TrainingRun
from classifiers.runs import request_training
from classifiers.tasks import score_alerts_task

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_db_worker_trains_promotes_and_scores(demo_alerts, mllead, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("the worker process needs the test database on PostgreSQL (DATABASE_URL=postgres://...)")
    run = request_training(
        task="real_bogus", triggered_by=mllead, trigger="api", options={"epochs": 2, "promote": True}
    )  # enqueued on commit: this test runs outside a transaction, so at once
    run.refresh_from_db()
    assert run.task_result_id
    score_alerts_task.enqueue(task_name="real_bogus")

    base = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{base['USER']}@{base['HOST']}:{base['PORT']}/{connection.settings_dict['NAME']}",
        "BLINK_VAR_DIR": str(tmp_path),
    }
    worker = subprocess.run(
        [sys.executable, "manage.py", "db_worker", "--batch", "--no-reload", "--no-startup-delay"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert worker.returncode == 0, worker.stderr[-3000:]

    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.version is not None
    assert run.version.status == ModelVersion.Status.ACTIVE
    events = [e["event"] for e in run.progress]
    assert events[0] == "loading"
    assert events[-1] == "finished"
    assert events.count("epoch") == 2
    assert "promoted" in events
    # The score task ran after the training: every alert scored by the version it promoted.
    assert Score.objects.filter(version=run.version).count() == len(demo_alerts)
