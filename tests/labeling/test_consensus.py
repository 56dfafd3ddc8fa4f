"""Consensus: Dawid-Skene beats majority vote when some volunteers are unreliable; debounced recomputation;
volunteer skill on gold subjects."""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult

from labeling.consensus import (
    dawid_skene,
    majority_frame,
    on_subject_retired,
    on_vote_recorded,
    recompute_consensus,
    recompute_consensus_task,
    volunteer_skill,
)
from labeling.models import REAL_BOGUS_CLASSES, Campaign, Subject, Vote
from labeling.signals import labels_changed
from tests.labeling.campaign_helpers import bare_alerts, cast, make_volunteers

N_SUBJECTS = 300
# Three careful volunteers and six who click at random: the crowd's majority is diluted by the careless.
ACCURACIES = [0.92, 0.9, 0.88, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
VOTES_PER_SUBJECT = 5


def synthetic_votes(seed: int = 1) -> tuple[np.ndarray, list[tuple[int, int, str]]]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, N_SUBJECTS)
    names = np.array(["real", "bogus"])
    rows = []
    for subject in range(N_SUBJECTS):
        for worker in rng.choice(len(ACCURACIES), VOTES_PER_SUBJECT, replace=False):
            correct = rng.random() < ACCURACIES[worker]
            label = truth[subject] if correct else 1 - truth[subject]
            rows.append((subject, int(worker), str(names[label])))
    return names[truth], rows


def test_weighted_consensus_beats_majority_with_unreliable_volunteers():
    truth, rows = synthetic_votes()
    frame = pd.DataFrame(rows, columns=["task", "worker", "label"])
    weighted = dawid_skene(frame).sort_index()
    majority = majority_frame(frame).sort_index()
    acc_weighted = float((weighted["label"].to_numpy() == truth).mean())
    acc_majority = float((majority["label"].to_numpy() == truth).mean())
    assert acc_weighted > acc_majority + 0.05, (acc_weighted, acc_majority)
    assert acc_weighted > 0.85
    assert ((weighted["posterior"] >= 0.5) & (weighted["posterior"] <= 1.0)).all()


@pytest.mark.django_db
def test_recompute_stores_the_weighted_label_and_posterior_on_each_subject(scientist, django_user_model):
    truth, rows = synthetic_votes(seed=3)
    alerts = bare_alerts(N_SUBJECTS)
    campaign = Campaign.objects.create(
        name="Synthetic", slug="synthetic", owner=scientist, classes=REAL_BOGUS_CLASSES, state="live", retire_after=50
    )
    subjects = Subject.objects.bulk_create([Subject(campaign=campaign, alert=a) for a in alerts])
    people = make_volunteers(django_user_model, len(ACCURACIES))
    # Votes in bulk: this test is about the model, vote_record's own tests cover the write path.
    Vote.objects.bulk_create(
        [
            Vote(
                subject=subjects[s], campaign=campaign, volunteer=people[w], answer=label, idempotency_key=uuid.uuid4()
            )
            for s, w, label in rows
        ]
    )
    report = recompute_consensus(campaign)
    assert report.n_votes == len(rows)
    assert report.n_subjects == N_SUBJECTS
    assert report.n_volunteers == 9
    stored = {s.pk: s for s in Subject.objects.filter(campaign=campaign)}
    weighted = np.array([stored[s.pk].weighted_label for s in subjects])
    majority = np.array([stored[s.pk].majority_label for s in subjects])
    assert (weighted == truth).mean() > (majority == truth).mean() + 0.05
    assert all(0.5 <= stored[s.pk].weighted_posterior <= 1.0 for s in subjects)
    assert all(stored[s.pk].majority_fraction >= 0.6 for s in subjects)  # 5 votes, 2 classes: at least 3 agree
    # Nothing changed: a second run writes nothing.
    assert recompute_consensus(campaign).n_changed == 0


@pytest.mark.django_db
def test_the_command_recomputes_named_campaigns(scientist, django_user_model, capsys):
    alerts = bare_alerts(2)
    campaign = Campaign.objects.create(name="C", slug="c", owner=scientist, classes=REAL_BOGUS_CLASSES, state="live")
    s = Subject.objects.create(campaign=campaign, alert=alerts[0])
    for person, answer in zip(make_volunteers(django_user_model, 3), ["real", "real", "bogus"], strict=True):
        cast(campaign, s, person, answer)
    call_command("recompute_consensus", "c")
    s.refresh_from_db()
    assert s.weighted_label == "real"
    assert s.weighted_posterior > 0.5
    assert "1 campaign(s): 3 votes" in capsys.readouterr().out


@pytest.mark.django_db
def test_recomputation_is_debounced_one_waiting_task_per_campaign(scientist):
    campaign = Campaign.objects.create(name="D", slug="d", owner=scientist, classes=REAL_BOGUS_CLASSES)
    other = Campaign.objects.create(name="E", slug="e", owner=scientist, classes=REAL_BOGUS_CLASSES)
    first, second = (Subject(pk=pk, campaign=campaign) for pk in (1, 2))
    on_subject_retired(campaign=campaign, subject=first)
    on_subject_retired(campaign=campaign, subject=second)
    on_vote_recorded(campaign_id=campaign.pk, vote_id=50)
    on_vote_recorded(campaign_id=other.pk, vote_id=51)  # not an N-th vote: nothing
    waiting = DBTaskResult.objects.filter(task_path=recompute_consensus_task.module_path, status="READY")
    assert waiting.count() == 1
    assert waiting.get().args_kwargs["kwargs"] == {"campaign_id": campaign.pk}
    on_vote_recorded(campaign_id=other.pk, vote_id=100)
    assert waiting.count() == 2


@pytest.mark.django_db
def test_a_retirement_enqueues_the_recomputation_after_commit(
    scientist, django_user_model, django_capture_on_commit_callbacks, monkeypatch
):
    # Only the retirement may trigger here, whatever the vote ids the database hands out.
    monkeypatch.setattr("labeling.consensus.CONSENSUS_EVERY_N_VOTES", 10**12)
    alerts = bare_alerts(1)
    campaign = Campaign.objects.create(
        name="R", slug="r", owner=scientist, classes=REAL_BOGUS_CLASSES, state="live", retire_after=2
    )
    subject = Subject.objects.create(campaign=campaign, alert=alerts[0])
    a, b = make_volunteers(django_user_model, 2)
    with django_capture_on_commit_callbacks(execute=True):
        cast(campaign, subject, a, "real")
    assert not DBTaskResult.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        cast(campaign, subject, b, "real")
    task = DBTaskResult.objects.get()
    assert task.task_path == recompute_consensus_task.module_path
    # What the worker runs:
    recompute_consensus_task.call(**task.args_kwargs["kwargs"])
    subject.refresh_from_db()
    assert subject.weighted_label == "real"


@pytest.mark.django_db
def test_a_retirement_tells_the_floors_above_that_the_campaign_has_a_new_label(
    scientist, django_user_model, django_capture_on_commit_callbacks
):
    heard = []

    def listener(sender, campaign, subject, **kwargs):
        heard.append((campaign.pk, subject.pk))

    def broken(sender, **kwargs):
        raise RuntimeError("a listener that fails")

    alerts = bare_alerts(1)
    campaign = Campaign.objects.create(
        name="L", slug="l", owner=scientist, classes=REAL_BOGUS_CLASSES, state="live", retire_after=2
    )
    subject = Subject.objects.create(campaign=campaign, alert=alerts[0])
    a, b = make_volunteers(django_user_model, 2)
    labels_changed.connect(listener)
    labels_changed.connect(broken)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            cast(campaign, subject, a, "real")
        assert heard == []  # not retired yet: no new label
        with django_capture_on_commit_callbacks(execute=True):
            cast(campaign, subject, b, "real")  # the broken listener does not fail the vote
    finally:
        labels_changed.disconnect(listener)
        labels_changed.disconnect(broken)
    assert heard == [(campaign.pk, subject.pk)]
    assert Vote.objects.filter(subject=subject).count() == 2


@pytest.mark.django_db
def test_volunteer_skill_is_accuracy_on_gold_subjects(scientist, django_user_model):
    alerts = bare_alerts(4)
    campaign = Campaign.objects.create(
        name="G", slug="g", owner=scientist, classes=REAL_BOGUS_CLASSES, state="live", retire_after=10
    )
    gold = [Subject.objects.create(campaign=campaign, alert=a, gold_answer="real") for a in alerts[:3]]
    plain = Subject.objects.create(campaign=campaign, alert=alerts[3])
    good, poor = make_volunteers(django_user_model, 2)
    for s in gold:
        cast(campaign, s, good, "real")
    cast(campaign, gold[0], poor, "real")
    cast(campaign, gold[1], poor, "bogus")
    cast(campaign, gold[2], poor, "skip")  # skips say nothing about skill
    cast(campaign, plain, poor, "bogus")  # not gold: not counted
    skills = {s.username: s for s in volunteer_skill(campaign=campaign)}
    assert (skills[good.username].n_gold, skills[good.username].accuracy) == (3, 1.0)
    assert (skills[poor.username].n_gold, skills[poor.username].accuracy) == (2, 0.5)
    assert [s.username for s in volunteer_skill(campaign=campaign)] == [good.username, poor.username]
