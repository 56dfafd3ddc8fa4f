"""Training: augmentation, metrics, braai on demo truth, the streak ensemble, divergence."""

from __future__ import annotations

import numpy as np
import pytest

from classifiers.architectures import BraaiHyperparameters, StreakHyperparameters
from classifiers.ensemble import STREAK_TARGETS, StreakEnsemble, streak_targets
from classifiers.evaluation import binary_metrics
from classifiers.fitting import Diverged, augment
from classifiers.labelled import DEMO_TRUTH, labelled_alerts
from classifiers.models import ModelVersion, TrainingRun
from classifiers.training import train

# Small and quick: about 210 training alerts, so the test trains in seconds.
QUICK_BRAAI = BraaiHyperparameters(epochs=25, patience=6, batch_size=32, learning_rate=5e-4, seed=1)
# The accuracy the quick model must reach on demo alerts it never saw (measured: see the test).
HELD_OUT_ACCURACY = 0.85


def test_augment_applies_one_of_the_eight_symmetries_of_the_square():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 63, 63, 3)).astype(np.float32)
    out = augment(x, np.random.default_rng(1))
    symmetries = []
    for image, result in zip(x, out, strict=True):
        candidates = [np.rot90(image, k, axes=(0, 1)) for k in range(4)]
        candidates += [c[:, ::-1] for c in candidates]
        matches = [i for i, c in enumerate(candidates) if np.array_equal(c, result)]
        assert matches, "an augmented stamp must be a rotation and/or flip of the original"
        symmetries.append(matches[0])
    assert len(set(symmetries)) >= 6  # all kinds get used, not just the identity


def test_binary_metrics_by_hand():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    s = np.array([0.9, 0.8, 0.3, 0.6, 0.2, 0.1, 0.4, 0.7])
    m = binary_metrics(y, s, 0.5)
    # predicted real: 0.9, 0.8, 0.6, 0.7 -> TP 3, FP 1; predicted bogus: 0.3 (FN), 0.2, 0.1, 0.4 -> TN 3
    assert m["confusion"] == [[3, 1], [1, 3]]
    assert m["accuracy"] == 6 / 8
    assert m["precision"] == 3 / 4
    assert m["recall"] == 3 / 4
    assert m["fpr"] == 1 / 4
    assert m["fnr"] == 1 / 4
    # (real, bogus) pairs ranked right: 0.9, 0.8 and 0.7 beat all 4 bogus scores; 0.3 beats 0.2 and 0.1 -> 14 of 16
    assert m["roc_auc"] == pytest.approx(14 / 16)
    assert m["roc"]["fpr"][0] == 0
    assert m["roc"]["tpr"][-1] == 1


def test_streak_labels_answer_the_three_deepstreaks_questions():
    targets = streak_targets(["asteroid", "satellite", "masked_star", "ghost"])
    rb, rb_mask = targets["rb"]
    sl, sl_mask = targets["sl"]
    kd, kd_mask = targets["kd"]
    assert rb.tolist() == [1, 1, 0, 0]
    assert rb_mask.tolist() == [1, 1, 1, 1]
    assert sl.tolist()[:2] == [1, 0]
    assert sl_mask.tolist() == [1, 1, 0, 0]
    assert kd.tolist() == [1, 0, 0, 0]
    assert STREAK_TARGETS["plausible_asteroid"] == (1, 1, 1)
    assert STREAK_TARGETS["satellite_flash"] == (1, 0, 0)
    with pytest.raises(ValueError, match="unknown streak-type label"):
        streak_targets(["comet"])


def test_plausible_needs_one_member_above_threshold_in_every_group():
    ensemble = StreakEnsemble(thresholds={"rb": 0.5, "sl": 0.6, "kd": 0.3})
    scores = {
        "rb": np.array([[0.9, 0.1], [0.9, 0.9], [0.4, 0.45], [0.5, 0.0]]),
        "sl": np.array([[0.1, 0.7], [0.5, 0.59], [0.9, 0.9], [0.6, 0.6]]),
        "kd": np.array([[0.2, 0.35], [0.9, 0.9], [0.9, 0.9], [0.3, 0.0]]),
    }
    score, plausible = ensemble.decide(scores)
    # 1st: each group has one member above; 2nd: sl misses; 3rd: rb misses; 4th: exactly at the thresholds.
    assert plausible.tolist() == [True, False, False, True]
    assert ((score >= 0.5) == plausible).all()


@pytest.mark.slow
def test_braai_trained_on_demo_truth_classifies_demo_alerts_it_never_saw(demo_300, demo_alerts):
    from classifiers.preprocessing import load_inputs
    from classifiers.scoring import score_inputs
    from labeling.models import Alert

    training_alerts = Alert.objects.filter(pk__in=[a.pk for a in demo_300])
    labelled = labelled_alerts("real_bogus", sources=(DEMO_TRUTH,), alerts=training_alerts)
    assert len(labelled) == 300
    events = []
    version = train(task="real_bogus", labelled=labelled, hp=QUICK_BRAAI, progress=events.append)

    assert version.status == ModelVersion.Status.CANDIDATE
    assert version.training_set["fingerprint"] == labelled.fingerprint()
    assert version.hyperparameters["epochs"] == 25
    # Metrics on held-out objects of the training set.
    test_ids = set(version.training_set["test_alert_ids"])
    assert len(test_ids) == version.metrics["split"]["test"] > 30
    trained_objects = {a.object_id for a in demo_300 if a.pk not in test_ids}
    assert not trained_objects & {a.object_id for a in demo_300 if a.pk in test_ids}
    assert version.metrics["accuracy"] >= HELD_OUT_ACCURACY
    assert version.metrics["roc_auc"] >= 0.9
    assert {"epoch", "start", "evaluated", "registered"} <= {e["event"] for e in events}
    epochs = [e for e in events if e["event"] == "epoch"]
    assert all(np.isfinite(e["loss"]) and np.isfinite(e["val_loss"]) for e in epochs)

    # A second, independent demo set (another generator seed): never seen in training at all.
    fresh = [a for a in demo_alerts if a.pk not in {x.pk for x in demo_300}]
    assert len(fresh) == 60
    scores, _, _ = score_inputs(version, load_inputs([a.pk for a in fresh]))
    truth = np.array([a.demo_truth == "real" for a in fresh])
    accuracy = float(np.mean((scores >= 0.5) == truth))
    assert accuracy >= HELD_OUT_ACCURACY, f"accuracy {accuracy:.3f} on 60 unseen demo alerts"


def register_poisoned_parent():
    """An active braai version whose weights hold NaN, as a run-away training would leave them: any training
    that starts from it (a fine-tune) must see its loss turn NaN."""
    from classifiers import registry
    from classifiers.architectures import BRAAI_VGG6, braai_vgg6

    model = braai_vgg6()
    kernel, bias = model.get_layer("score").get_weights()
    model.get_layer("score").set_weights([kernel * np.nan, bias])
    version = registry.register(
        task="real_bogus",
        architecture=BRAAI_VGG6,
        model_bytes=registry.keras_bytes(model),
        hyperparameters={},
        training_set={},
        metrics={},
    )
    return registry.promote(version, actor=None, reason="test: a model gone bad")


def test_a_diverging_training_raises_and_registers_nothing(demo_alerts):
    parent = register_poisoned_parent()
    hp = BraaiHyperparameters(epochs=3, patience=3, batch_size=16, augment=False)
    with pytest.raises(Diverged, match="training of braai diverged at epoch 1: loss is nan"):
        train(
            task="real_bogus",
            labelled=labelled_alerts("real_bogus", sources=(DEMO_TRUTH,)),
            hp=hp,
            from_version=parent,
        )
    assert list(ModelVersion.objects.values_list("pk", flat=True)) == [parent.pk]


def test_a_diverging_training_run_is_marked_diverged_and_promotes_nothing(demo_alerts):
    from classifiers.runs.requests import request_run
    from classifiers.runs.worker import execute_run

    parent = register_poisoned_parent()
    run, _ = request_run(
        task="real_bogus",
        trigger="command",
        options={"epochs": 2, "from_version": parent.pk, "promote": "always"},
        enqueue=False,
    )
    assert execute_run(run.pk)["status"] == "diverged"
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.DIVERGED
    assert "diverged" in run.error
    assert run.version is None
    assert list(ModelVersion.objects.values_list("pk", "status")) == [(parent.pk, "active")]
    assert [e["phase"] for e in run.progress][-1] == "diverged"


def test_streak_ensemble_trains_stores_group_thresholds_and_scores_with_the_decision(demo_300):
    from classifiers.scoring import score_alerts

    hp = StreakHyperparameters(epochs=2, patience=2, members_per_group=1, seed=2)
    version = train(task="streaks", labelled=labelled_alerts("streaks", sources=(DEMO_TRUTH,)), hp=hp)

    assert set(version.thresholds) == {"rb", "sl", "kd"}
    assert all(0.05 <= t <= 0.95 for t in version.thresholds.values())
    recall = version.metrics["per_class_recall"]
    assert "asteroid" in recall
    assert recall["asteroid"]["expected_plausible"] is True
    assert recall["masked_star"]["expected_plausible"] is False
    assert set(version.metrics["groups"]) == {"rb", "sl", "kd"}

    assert score_alerts([a.pk for a in demo_300[:20]], version) == 20
    score = version.scores.first()
    assert set(score.details) == {"rb", "sl", "kd", "plausible"}
    assert len(score.details["rb"]) == 1
    plausible = all(max(score.details[g]) >= version.thresholds[g] for g in ("rb", "sl", "kd"))
    assert score.details["plausible"] == plausible == (score.score >= 0.5)


def test_campaign_labels_are_consensus_of_retired_subjects(live_campaign):
    subjects = list(live_campaign.subjects.select_related("alert").order_by("pk"))
    subjects[0].retired, subjects[0].weighted_label, subjects[0].weighted_posterior = True, "real", 0.9
    subjects[0].majority_label = "bogus"  # the skill-weighted consensus wins over the majority
    subjects[1].retired, subjects[1].majority_label, subjects[1].majority_fraction = True, "bogus", 0.6
    subjects[2].retired, subjects[2].majority_label = True, "skip"  # a skip never becomes a label
    subjects[3].majority_label = "real"  # not retired: not yet a label
    for s in subjects[:4]:
        s.save()
    labelled = labelled_alerts("real_bogus", campaign=live_campaign)
    assert labelled.alert_ids == sorted([subjects[0].alert_id, subjects[1].alert_id])
    by_id = dict(zip(labelled.alert_ids, zip(labelled.labels, labelled.weights.tolist(), strict=True), strict=True))
    assert by_id[subjects[0].alert_id] == ("real", pytest.approx(0.9))
    assert by_id[subjects[1].alert_id] == ("bogus", pytest.approx(0.6))
    assert labelled.campaigns == [live_campaign.slug]
