"""The loop's management commands: reaping dead trainings and reordering queues by hand."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from activelearning.models import QueueOrdering
from classifiers.models import TrainingRun


def test_reap_training_runs_fails_a_silent_run_and_queues_its_retry(live_campaign, capsys):
    run = TrainingRun.objects.create(
        task="real_bogus",
        campaign=live_campaign,
        status=TrainingRun.Status.RUNNING,
        attempts=1,
        options={"loop": True},
        heartbeat_at=timezone.now() - timezone.timedelta(hours=1),
    )
    call_command("reap_training_runs")
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.FAILED
    assert "1 stale run(s) reaped" in capsys.readouterr().out
    assert TrainingRun.objects.get(trigger="retry").status == TrainingRun.Status.QUEUED


def test_a_live_run_is_left_alone(live_campaign):
    run = TrainingRun.objects.create(
        task="real_bogus", campaign=live_campaign, status=TrainingRun.Status.RUNNING, heartbeat_at=timezone.now()
    )
    call_command("reap_training_runs")
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.RUNNING


def test_reorder_queues_orders_every_campaign_and_names_unknown_ones(live_campaign, capsys):
    call_command("reorder_queues")
    assert QueueOrdering.objects.filter(campaign=live_campaign).count() == 1
    assert "60 subjects" in capsys.readouterr().out
    with pytest.raises(CommandError, match="no campaign with slug nope"):
        call_command("reorder_queues", "--campaign", "nope")
