"""The queue follows the active model: after a promotion the pool is rescored and the order changes."""

from __future__ import annotations

import random

import numpy as np
from django.conf import settings
from django.test import override_settings

from activelearning.models import QueueOrdering
from activelearning.policy import request_retraining, rescore_and_reorder
from activelearning.queue import reorder_campaign
from activelearning.tasks import rescore_and_reorder as rescore_and_reorder_task
from classifiers import registry
from classifiers.models import Score, TrainingRun
from classifiers.runs.worker import execute_run
from classifiers.scoring import score_alerts
from labeling.models import Subject
from labeling.queue import next_subjects
from tests.conftest import register_untrained_braai


def queue_order(campaign) -> list[int]:
    return list(
        Subject.objects.filter(campaign=campaign, retired=False)
        .order_by("-priority", "pk")
        .values_list("pk", flat=True)
    )


def test_reordering_ranks_the_most_uncertain_subjects_first(labelled_campaign, active_braai):
    pool = list(labelled_campaign.subjects.filter(retired=False).values_list("alert_id", flat=True))
    score_alerts(pool, active_braai)
    result = reorder_campaign(labelled_campaign)
    assert result.strategy_used == "uncertainty"
    assert result.n_scored == len(pool) == 10
    scores = dict(Score.objects.filter(version=active_braai).values_list("alert_id", "score"))
    ranked = Subject.objects.filter(campaign=labelled_campaign, retired=False).order_by("-priority")
    distances = [abs(scores[s.alert_id] - 0.5) for s in ranked]
    assert distances == sorted(distances)
    ordering = QueueOrdering.objects.get(campaign=labelled_campaign)
    assert ordering.version_id == active_braai.pk
    assert ordering.n_subjects == 10


def test_the_queue_order_changes_after_a_promotion_and_volunteers_follow_it(
    labelled_campaign, active_braai, mllead, volunteer
):
    pool = list(labelled_campaign.subjects.filter(retired=False).values_list("alert_id", flat=True))
    score_alerts(pool, active_braai)
    reorder_campaign(labelled_campaign)
    before = queue_order(labelled_campaign)

    run, _ = request_retraining(
        task="real_bogus", campaign=labelled_campaign, user=mllead, options={"epochs": 3, "batch_size": 16}
    )
    with override_settings(BLINK={**settings.BLINK, "PROMOTE_MARGIN": 1.0}):
        assert execute_run(run.pk)["promoted"] is True
    run.refresh_from_db()
    new = run.version
    # What the post-promotion task does in the worker: rescore the pool, reorder every queue of the task.
    summary = rescore_and_reorder(new.pk, run_id=run.pk)
    assert summary["rescored"] == 10

    after = queue_order(labelled_campaign)
    assert sorted(after) == sorted(before)
    assert after != before
    latest = QueueOrdering.objects.filter(campaign=labelled_campaign).first()
    assert latest.version_id == new.pk
    new_scores = dict(Score.objects.filter(version=new).values_list("alert_id", "score"))
    top = Subject.objects.get(pk=after[0])
    assert abs(new_scores[top.alert_id] - 0.5) == min(abs(new_scores[a] - 0.5) for a in pool)
    run.refresh_from_db()
    seen = [e["phase"] for e in run.progress]
    assert seen.index("promoted") < seen.index("rescoring") < seen.index("reordered") < seen.index("rescored")

    # The classify page's selector serves the new order (no exploration or gold draws here; a window of one, i.e.
    # without spreading simultaneous volunteers over the top of the queue).
    labelled_campaign.exploration_share = 0.0
    labelled_campaign.gold_share = 0.0
    labelled_campaign.save()
    served = next_subjects(
        campaign=labelled_campaign, volunteer=volunteer, n=5, rng=random.Random(1), priority_window=1
    )
    assert [s.pk for s in served] == after[:5]


def test_a_random_strategy_ignores_the_model(labelled_campaign, active_braai):
    labelled_campaign.strategy = "random"
    labelled_campaign.save()
    result = reorder_campaign(labelled_campaign)
    assert result.strategy_used == "random"
    rows = Subject.objects.filter(campaign=labelled_campaign, retired=False).values_list("priority", "random_key")
    assert all(np.isclose(p, k) for p, k in rows)


def test_without_an_active_model_the_order_is_random_and_says_so(labelled_campaign):
    result = reorder_campaign(labelled_campaign)
    assert "no active real_bogus model" in result.note
    assert QueueOrdering.objects.filter(campaign=labelled_campaign, version=None).exists()


def test_ranked_batch_computes_embeddings_when_none_were_stored(labelled_campaign, active_braai):
    labelled_campaign.strategy = "ranked_batch"
    labelled_campaign.save()
    pool = list(labelled_campaign.subjects.filter(retired=False).values_list("alert_id", flat=True))
    score_alerts(pool, active_braai)  # no embeddings stored
    result = reorder_campaign(labelled_campaign, ranked_batch_size=4)
    assert result.strategy_used == "ranked_batch"
    priorities = sorted(
        Subject.objects.filter(campaign=labelled_campaign, retired=False).values_list("priority", flat=True)
    )
    assert sum(p > 1.0 for p in priorities) == 4


def test_ranked_batch_uses_stored_embeddings(labelled_campaign, active_braai):
    labelled_campaign.strategy = "ranked_batch"
    labelled_campaign.save()
    alerts = list(labelled_campaign.subjects.values_list("alert_id", flat=True))
    score_alerts(alerts, active_braai, embeddings=True)
    assert Score.objects.filter(version=active_braai, embedding__isnull=False).count() == len(alerts)
    result = reorder_campaign(labelled_campaign, ranked_batch_size=3)
    assert result.strategy_used == "ranked_batch"
    assert Subject.objects.filter(campaign=labelled_campaign, retired=False, priority__gt=1.0).count() == 3


def test_any_promotion_queues_the_rescoring_for_the_worker_on_the_run_that_trained_it(
    active_braai, django_capture_on_commit_callbacks
):
    from django_tasks_db.models import DBTaskResult

    candidate = register_untrained_braai(seed=1)
    run = TrainingRun.objects.create(task="real_bogus", status="succeeded", version=candidate)
    with django_capture_on_commit_callbacks(execute=True):
        registry.promote(candidate, actor=None, reason="the ML lead prefers it")
    queued = DBTaskResult.objects.get(task_path=rescore_and_reorder_task.module_path)
    assert queued.args_kwargs["kwargs"] == {"version_id": candidate.pk, "run_id": run.pk}
