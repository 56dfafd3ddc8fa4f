"""The Rubin real/bogus model, kept apart from ZTF's: its labels, its versions (braai imported or fine-tuned with the
centre fit), its scores, its retraining and its reference sets, on the 127 shared real Rubin alerts."""

from __future__ import annotations

import numpy as np
import pytest

from classifiers.architectures import BraaiHyperparameters
from classifiers.labelled import RELIABILITY, labelled_alerts
from classifiers.models import ModelVersion, ReferenceSet, Score, Task, TrainingRun
from classifiers.preprocessing import D6_M9_RECIPE, InputRecipe
from classifiers.registry import recipe_of
from labeling.models import REAL_BOGUS_CLASSES, Alert, Campaign, Subject
from tests.activelearning.helpers import settle_with_truth
from tests.conftest import register_untrained_braai
from tests.labeling.rubin_helpers import RUBIN_ALERTS, rubin_dir

RUBIN = Task.RUBIN_REAL_BOGUS
# Stand-in for volunteers' answers on Rubin stamps (there are no human labels yet): Rubin's reliability cut at 0.5.
RELIABILITY_CUT = 0.5
FAST = {"epochs": 1, "batch_size": 32, "patience": 1}


@pytest.fixture
def rubin_alerts(db):
    from labeling.ingest import ingest_paths

    report = ingest_paths([rubin_dir()], workers=0)
    assert report.rejected == 0, report.errors
    alerts = list(Alert.objects.filter(survey="rubin").order_by("pk"))
    assert len(alerts) == RUBIN_ALERTS
    return alerts


def rubin_campaign(owner, alerts, *, slug="rubin-rb", retire=True) -> Campaign:
    """A live Rubin campaign asking the real/bogus question, its subjects retired with a consensus that follows
    Rubin's reliability (real at or above 0.5)."""
    campaign = Campaign.objects.create(
        name=slug,
        slug=slug,
        owner=owner,
        classes=REAL_BOGUS_CLASSES,
        state=Campaign.State.LIVE,
        model_task=RUBIN,
    )
    subjects = Subject.objects.bulk_create([Subject(campaign=campaign, alert=a) for a in alerts])
    if retire:
        for subject, alert in zip(subjects, alerts, strict=True):
            subject.retired = True
            subject.majority_label = "real" if alert.drb >= RELIABILITY_CUT else "bogus"
            subject.majority_fraction = 0.8
            subject.n_votes = 5
        Subject.objects.bulk_update(subjects, ["retired", "majority_label", "majority_fraction", "n_votes"])
    return campaign


def ztf_campaign(owner, alerts, *, slug="ztf-rb") -> Campaign:
    campaign = Campaign.objects.create(
        name=slug, slug=slug, owner=owner, classes=REAL_BOGUS_CLASSES, state=Campaign.State.LIVE
    )
    settle_with_truth(Subject.objects.bulk_create([Subject(campaign=campaign, alert=a) for a in alerts]))
    return campaign


def surveys_of(alert_ids) -> set[str]:
    return set(Alert.objects.filter(pk__in=list(alert_ids)).values_list("survey", flat=True))


def test_the_rubin_task_learns_only_from_rubin_alerts_and_the_ztf_task_only_from_ztf_alerts(
    scientist, demo_alerts, rubin_alerts
):
    ztf_campaign(scientist, demo_alerts)
    campaign = rubin_campaign(scientist, rubin_alerts)
    # A campaign that mixes both surveys: each task takes its own survey's subjects from it.
    mixed = rubin_campaign(scientist, rubin_alerts[:20], slug="mixed")
    settle_with_truth(Subject.objects.bulk_create([Subject(campaign=mixed, alert=a) for a in demo_alerts[:20]]))

    rubin = labelled_alerts(RUBIN)
    assert len(rubin) == RUBIN_ALERTS
    assert surveys_of(rubin.alert_ids) == {"rubin"}
    assert rubin.y.sum() == sum(a.drb >= RELIABILITY_CUT for a in rubin_alerts)
    ztf = labelled_alerts(Task.REAL_BOGUS)
    assert surveys_of(ztf.alert_ids) == {"ztf"}
    assert len(ztf) == len(demo_alerts)

    assert surveys_of(labelled_alerts(RUBIN, campaign=campaign).alert_ids) == {"rubin"}
    assert len(labelled_alerts(RUBIN, campaign=mixed)) == 20
    assert surveys_of(labelled_alerts(RUBIN, campaign=mixed).alert_ids) == {"rubin"}
    assert surveys_of(labelled_alerts(Task.REAL_BOGUS, campaign=mixed).alert_ids) == {"ztf"}
    # A ZTF campaign gives the Rubin task nothing to learn from.
    assert len(labelled_alerts(RUBIN, campaign=Campaign.objects.get(slug="ztf-rb"))) == 0
    # The held-out objects stay out of a Rubin training set too.
    train = labelled_alerts(RUBIN, campaign=campaign, split="train")
    assert 0 < train.heldout_excluded < RUBIN_ALERTS
    assert len(train) + train.heldout_excluded == RUBIN_ALERTS


def test_braai_imported_into_the_rubin_task_scores_every_rubin_alert_and_leaves_the_ztf_model_alone(
    published_braai, demo_alerts, rubin_alerts
):
    from classifiers.braai_import import import_published_braai
    from classifiers.scoring import score_alerts

    ztf = import_published_braai("d6_m9", folder=published_braai, activate=True, reason="ZTF's braai")
    rubin = import_published_braai(
        "d6_m9", folder=published_braai, task=RUBIN, activate=True, reason="braai on Rubin, no fine-tune"
    )
    assert rubin.task == RUBIN
    assert rubin.status == ModelVersion.Status.ACTIVE
    assert recipe_of(rubin) == InputRecipe(normalisation="cutout", pad_value=1e-9, fit="centre")
    assert rubin.hyperparameters["input_recipe"]["fit"] == "centre"
    assert recipe_of(ztf) == D6_M9_RECIPE
    assert recipe_of(ztf).fit == "edge"
    assert "not fine-tuned on Rubin" in rubin.training_set["description"]

    # Given every alert, each version scores its own survey's alerts only.
    assert score_alerts(Alert.objects.all(), rubin) == RUBIN_ALERTS
    assert score_alerts([a.pk for a in Alert.objects.all()], ztf) == len(demo_alerts)
    rubin_scores = Score.objects.filter(version=rubin)
    assert rubin_scores.count() == RUBIN_ALERTS
    assert rubin_scores.values("alert_id").distinct().count() == RUBIN_ALERTS
    assert surveys_of(rubin_scores.values_list("alert_id", flat=True)) == {"rubin"}
    values = np.array(rubin_scores.values_list("score", flat=True))
    assert np.all((values >= 0) & (values <= 1))
    assert values.std() > 0
    assert not Score.objects.filter(version=ztf, alert__survey="rubin").exists()
    ztf.refresh_from_db()
    assert ztf.status == ModelVersion.Status.ACTIVE  # the Rubin task's promotion is its own


def test_new_alerts_are_scored_by_the_active_version_of_their_own_surveys_task(demo_alerts, rubin_alerts):
    from classifiers.scoring import score_new_alerts

    ztf = register_untrained_braai(seed=1, promote=True)
    # Stored with the default recipe (edge fit): a Rubin version is read with the centre fit all the same, so
    # stamps of 30x30 and 71x71 go into one batch.
    rubin = register_untrained_braai(seed=2, promote=True, task=RUBIN)
    everything = [a.pk for a in demo_alerts] + [a.pk for a in rubin_alerts]

    assert score_new_alerts(everything) == {Task.REAL_BOGUS: len(demo_alerts), RUBIN: RUBIN_ALERTS}
    assert surveys_of(Score.objects.filter(version=rubin).values_list("alert_id", flat=True)) == {"rubin"}
    assert surveys_of(Score.objects.filter(version=ztf).values_list("alert_id", flat=True)) == {"ztf"}
    # Rubin alerts alone (an ingest of Rubin alerts): the ZTF model is not even asked.
    Score.objects.all().delete()
    assert score_new_alerts([a.pk for a in rubin_alerts]) == {RUBIN: RUBIN_ALERTS}
    assert not Score.objects.filter(version=ztf).exists()


def test_ingesting_rubin_alerts_scores_them_with_the_rubin_version_only(db):
    from labeling.ingest import ingest_paths

    ztf = register_untrained_braai(seed=1, promote=True)
    rubin = register_untrained_braai(seed=2, promote=True, task=RUBIN)
    report = ingest_paths([rubin_dir()], workers=0)  # the alerts_ingested receiver scores them
    assert report.new == RUBIN_ALERTS
    assert Score.objects.filter(version=rubin).count() == RUBIN_ALERTS
    assert not Score.objects.filter(version=ztf).exists()


def test_fine_tuning_braai_on_rubin_labels_registers_a_centred_rubin_version_whose_parent_is_braai(
    published_braai, scientist, rubin_alerts
):
    from classifiers.braai_import import import_published_braai
    from classifiers.training import train

    braai = import_published_braai("d6_m9", folder=published_braai)  # ZTF's, edge fit
    campaign = rubin_campaign(scientist, rubin_alerts)
    labelled = labelled_alerts(RUBIN, campaign=campaign, split="train")
    hp = BraaiHyperparameters(epochs=1, patience=1, batch_size=32, augment=False, seed=5)

    child = train(task=RUBIN, labelled=labelled, hp=hp, from_version=braai)
    assert child.task == RUBIN
    assert child.parent_id == braai.pk
    assert child.training_set["fine_tuned_from"]["id"] == braai.pk
    assert recipe_of(child) == InputRecipe(normalisation="cutout", pad_value=1e-9, fit="centre")
    assert surveys_of(child.training_set["test_alert_ids"]) == {"rubin"}

    # From the braai imported into the Rubin task (the usual start once it exists) likewise.
    rubin_braai = import_published_braai("d6_m9", folder=published_braai, task=RUBIN)
    grandchild = train(task=RUBIN, labelled=labelled, hp=hp, from_version=rubin_braai)
    assert grandchild.parent_id == rubin_braai.pk
    assert recipe_of(grandchild).fit == "centre"
    # A ZTF version never descends from a Rubin one.
    with pytest.raises(ValueError, match="cannot be fine-tuned from"):
        train(task=Task.REAL_BOGUS, labelled=labelled, hp=hp, from_version=rubin_braai)


def test_a_retraining_asked_for_a_rubin_campaign_trains_the_rubin_task_from_ztfs_active_braai(
    scientist, mllead, rubin_alerts
):
    from activelearning.policy import count_new_label, request_retraining
    from classifiers.runs.worker import execute_run

    ztf = register_untrained_braai(seed=1, promote=True)
    campaign = rubin_campaign(scientist, rubin_alerts)

    run, created = request_retraining(task=campaign.model_task, campaign=campaign, user=mllead, options=FAST)
    assert created
    assert run.task == RUBIN
    assert run.options["from_version"] == ztf.pk  # no Rubin version yet: ZTF's braai is where it starts
    outcome = execute_run(run.pk)
    run.refresh_from_db()
    assert outcome["status"] == TrainingRun.Status.SUCCEEDED, outcome
    version = run.version
    assert version.task == RUBIN
    assert version.parent_id == ztf.pk
    assert recipe_of(version).fit == "centre"
    heldout = version.metrics["heldout"]
    assert heldout["n"] > 0  # Rubin's held-out objects, labelled by reliability where nobody answered
    ztf.refresh_from_db()
    assert ztf.status == ModelVersion.Status.ACTIVE

    # Once the Rubin task has an active version, the next retraining starts from it; the campaign's own
    # automatic retraining asks for the Rubin task too.
    ModelVersion.objects.filter(pk=version.pk).update(status=ModelVersion.Status.ACTIVE)
    Campaign.objects.filter(pk=campaign.pk).update(retrain_every=1)
    auto = count_new_label(campaign)
    assert auto is not None
    assert auto.task == RUBIN
    assert auto.options["from_version"] == version.pk


def test_a_rubin_retraining_on_ztf_labels_is_refused_for_want_of_labels(scientist, mllead, demo_alerts, rubin_alerts):
    from activelearning.policy import request_retraining
    from classifiers.runs.requests import NothingToTrainOn

    register_untrained_braai(seed=1, promote=True)
    campaign = ztf_campaign(scientist, demo_alerts)
    with pytest.raises(NothingToTrainOn) as refused:
        request_retraining(task=RUBIN, campaign=campaign, user=mllead, options=FAST)
    assert refused.value.code == "not_enough_labels"
    assert not TrainingRun.objects.exists()


def test_the_rescoring_after_a_rubin_promotion_covers_the_rubin_pool_only(scientist, demo_alerts, rubin_alerts):
    from activelearning.policy import pool_alert_ids, rescore_and_reorder

    campaign = rubin_campaign(scientist, rubin_alerts, retire=False)
    ztf_side = Campaign.objects.create(
        name="z", slug="z", owner=scientist, classes=REAL_BOGUS_CLASSES, state=Campaign.State.LIVE
    )
    Subject.objects.bulk_create([Subject(campaign=ztf_side, alert=a) for a in demo_alerts])
    rubin = register_untrained_braai(seed=2, promote=True, task=RUBIN)

    assert surveys_of(pool_alert_ids(RUBIN)) == {"rubin"}
    result = rescore_and_reorder(rubin.pk)
    assert result["rescored"] == RUBIN_ALERTS
    assert result["campaigns"] == 1
    assert surveys_of(Score.objects.filter(version=rubin).values_list("alert_id", flat=True)) == {"rubin"}
    assert campaign.queue_orderings.filter(version=rubin).exists()
    assert not ztf_side.queue_orderings.exists()


def test_the_reliability_reference_sets_say_they_are_a_models_opinion(mllead, demo_alerts, rubin_alerts):
    from classifiers.labelled import heldout_set
    from classifiers.reference_sets import (
        RELIABILITY_NOTE,
        create_reference_set,
        heldout_reference_set,
        set_content,
        set_row,
    )

    register_untrained_braai(seed=2, promote=True, task=RUBIN)
    reliability = create_reference_set(
        actor=mllead, name="Rubin reliability", kind=ReferenceSet.Kind.BRAAI_AGREEMENT, task=RUBIN
    )
    row = set_row(reliability)
    assert row["kind_label"] == "Agreement with Rubin's reliability (a model's opinion, not human labels)"
    assert row["note"] == RELIABILITY_NOTE
    assert "a model's opinion, not human labels" in row["note"]
    assert row["model_opinion"] is True
    content = set_content(reliability)
    assert surveys_of(content.alert_ids) == {"rubin"}
    by_pk = {a.pk: a.drb for a in rubin_alerts}
    assert all((by_pk[i] > 0.8) == (y == 1.0) for i, y in zip(content.alert_ids, content.y, strict=True))
    assert all(by_pk[i] > 0.8 or by_pk[i] < 0.2 for i in content.alert_ids)
    assert 0 < content.y.sum() < len(content.y)

    # ZTF's braai-agreement set never takes a Rubin alert, and keeps its own label.
    braai = create_reference_set(actor=mllead, name="braai", kind=ReferenceSet.Kind.BRAAI_AGREEMENT)
    assert "Rubin" not in set_row(braai)["kind_label"]
    assert "rubin" not in surveys_of(set_content(braai).alert_ids)

    # The Rubin held-out set has no demo truth and no human label: reliability, said to be a model's opinion.
    heldout = heldout_set(RUBIN)
    assert set(heldout.origins) == {RELIABILITY}
    assert surveys_of(heldout.alert_ids) == {"rubin"}
    held_row = set_row(heldout_reference_set(RUBIN))
    assert held_row["model_opinion"] is True
    assert "Rubin's reliability (a model's opinion" in held_row["note"]
    assert heldout_set(Task.REAL_BOGUS).origins.count(RELIABILITY) == 0


def test_the_console_fine_tune_of_ztfs_braai_on_a_rubin_campaign_asks_for_a_rubin_run(scientist, mllead, rubin_alerts):
    from classifiers.runs.requests import RunRefused, request_fine_tune

    ztf = register_untrained_braai(seed=1, promote=True)
    rubin = register_untrained_braai(seed=2, task=RUBIN)
    campaign = rubin_campaign(scientist, rubin_alerts)
    run, created = request_fine_tune(actor=mllead, version=ztf, labels=campaign.slug, epochs=1)
    assert created
    assert run.task == RUBIN
    assert run.options["from_version"] == ztf.pk
    # A Rubin version never fine-tunes into ZTF's task.
    ztf_side = Campaign.objects.create(name="z", slug="z", owner=scientist, classes=REAL_BOGUS_CLASSES)
    with pytest.raises(RunRefused, match="no rubin_real_bogus campaign 'z'"):
        request_fine_tune(actor=mllead, version=rubin, labels=ztf_side.slug)
