"""labelled_alerts(): the one selector of labelled data, its positive class and its object-hash split."""

from __future__ import annotations

import numpy as np
import pytest

from classifiers.labelled import (
    CONSENSUS,
    DEMO_TRUTH,
    GOLD,
    drb_targets,
    heldout_set,
    is_heldout,
    labelled_alerts,
    object_bucket,
    positive_labels,
    split_by_object,
    targets,
)
from labeling.models import STREAK_CLASSES, Alert, Campaign, Subject
from tests.conftest import settled_campaign


@pytest.fixture(autouse=True)
def heldout_with_both_classes(settings):
    """A salt that puts both classes of the 60 demo alerts in the 20 % held-out bucket."""
    settings.BLINK = {**settings.BLINK, "HELDOUT_SALT": "c", "HELDOUT_FRACTION": 0.2}


def streak_campaign(owner, alerts, *, answers: dict[int, str], gold: dict[int, str] | None = None):
    """A streak campaign over ``alerts``: retired with a majority ``answers[alert]`` where given, else open."""
    campaign, _ = settled_campaign(owner=owner, alerts=alerts, name="Streaks", slug="streaks")
    Campaign.objects.filter(pk=campaign.pk).update(question_type=Campaign.QuestionType.STREAK, classes=STREAK_CLASSES)
    campaign.subjects.update(retired=False, majority_label="")
    for alert_id, answer in answers.items():
        campaign.subjects.filter(alert_id=alert_id).update(retired=True, majority_label=answer)
    for alert_id, answer in (gold or {}).items():
        campaign.subjects.filter(alert_id=alert_id).update(gold_answer=answer)
    return campaign


# The positive class ------------------------------------------------------------------------------------------


def test_real_is_the_only_positive_answer_of_real_bogus():
    assert positive_labels("real_bogus") == {"real"}
    assert targets("real_bogus", ["real", "bogus", "ghost", "asteroid"]).tolist() == [1, 0, 0, 0]


def test_streaking_asteroids_are_the_positive_answers_of_streaks():
    assert positive_labels("streaks") == {"asteroid", "plausible_asteroid"}
    assert targets("streaks", ["asteroid", "plausible_asteroid", "satellite", "real"]).tolist() == [1, 1, 0, 0]


def test_only_confident_drb_scores_stand_in_for_labels():
    targets_ = drb_targets([0.95, 0.05, 0.5, 0.9, 0.1, np.nan, np.inf])
    assert targets_[:2].tolist() == [1.0, 0.0]
    assert np.isnan(targets_[2:]).all()


def test_an_answer_the_task_cannot_learn_from_is_refused():
    with pytest.raises(ValueError, match="comet"):
        targets("real_bogus", ["real", "comet"])
    with pytest.raises(ValueError, match="bogus"):
        targets("streaks", ["bogus"])  # "bogus" names no streak type
    with pytest.raises(ValueError, match="unknown task"):
        positive_labels("galaxies")


# The object-hash split ---------------------------------------------------------------------------------------


def test_an_object_bucket_depends_on_the_object_and_the_salt_alone():
    buckets = [object_bucket(f"ZTF21aaa{i:04d}") for i in range(5000)]
    assert all(0.0 <= b < 1.0 for b in buckets)
    assert 0.18 < float(np.mean(np.array(buckets) < 0.2)) < 0.22
    assert object_bucket("ZTF21aaa0001") == object_bucket("ZTF21aaa0001")
    assert object_bucket("ZTF21aaa0001", salt="other") != object_bucket("ZTF21aaa0001")


def test_the_heldout_set_follows_the_configured_salt_and_fraction(settings):
    objects = [f"ZTF21aaa{i:04d}" for i in range(2000)]
    before = {o for o in objects if is_heldout(o)}
    settings.BLINK = {**settings.BLINK, "HELDOUT_FRACTION": 0.5}
    assert before < {o for o in objects if is_heldout(o)}
    settings.BLINK = {**settings.BLINK, "HELDOUT_SALT": "another"}
    assert {o for o in objects if is_heldout(o)} != before


def test_split_by_object_never_puts_one_object_on_two_sides():
    objects = [f"ZTF{i // 3:03d}" for i in range(300)]  # three alerts per object
    strata = [i % 2 for i in range(300)]
    split = split_by_object(objects, strata, val_fraction=0.15, test_fraction=0.15, seed=4)
    sides = [{objects[i] for i in index} for index in (split.train, split.val, split.test)]
    for a, b in ((0, 1), (0, 2), (1, 2)):
        assert not sides[a] & sides[b]
    assert sorted(np.concatenate([split.train, split.val, split.test]).tolist()) == list(range(300))
    assert 0.1 < len(split.test) / 300 < 0.2


def test_split_by_object_is_fixed_by_the_seed():
    objects = [f"ZTF{i // 3:03d}" for i in range(300)]
    strata = [i % 2 for i in range(300)]
    split = split_by_object(objects, strata, val_fraction=0.15, test_fraction=0.15, seed=4)
    again = split_by_object(
        list(reversed(objects)), list(reversed(strata)), val_fraction=0.15, test_fraction=0.15, seed=4
    )
    assert {objects[i] for i in split.test} == {objects[::-1][i] for i in again.test}
    other = split_by_object(objects, strata, val_fraction=0.15, test_fraction=0.15, seed=5)
    assert not np.array_equal(other.test, split.test)


def test_split_by_object_reaches_a_rare_class_on_every_side():
    objects = [f"O{i}" for i in range(100)]
    strata = ["asteroid" if i < 5 else "real" for i in range(100)]
    split = split_by_object(objects, strata, val_fraction=0.2, test_fraction=0.2, seed=0)
    for index in (split.train, split.val, split.test):
        assert any(strata[i] == "asteroid" for i in index)


# The selector ------------------------------------------------------------------------------------------------


def test_demo_truth_labels_every_demo_alert_with_its_generator_class(demo_alerts):
    labelled = labelled_alerts("real_bogus", sources=(DEMO_TRUTH,))
    assert labelled.alert_ids == sorted(a.pk for a in demo_alerts)
    truth = {a.pk: a.demo_truth for a in demo_alerts}
    assert labelled.labels == [truth[i] for i in labelled.alert_ids]
    assert labelled.y.tolist() == [float(truth[i] == "real") for i in labelled.alert_ids]
    assert set(labelled.origins) == {DEMO_TRUTH}
    assert np.all(labelled.weights == 1.0)
    assert labelled.describe()["source"] == "demo_truth"


def test_a_campaign_gives_its_consensus_weighted_by_confidence(scientist, demo_alerts):
    campaign, _ = settled_campaign(owner=scientist, alerts=demo_alerts[:20], name="C", slug="c")
    Subject.objects.filter(campaign=campaign, alert=demo_alerts[0]).update(
        weighted_label="bogus", weighted_posterior=0.97, majority_label="real"
    )
    Subject.objects.filter(campaign=campaign, alert=demo_alerts[1]).update(majority_label="skip")
    labelled = labelled_alerts("real_bogus", campaign=campaign)
    assert demo_alerts[1].pk not in labelled.alert_ids  # a skip never labels
    assert len(labelled) == 19
    first = labelled.alert_ids.index(demo_alerts[0].pk)
    assert (labelled.labels[first], float(labelled.weights[first])) == ("bogus", pytest.approx(0.97))
    assert np.allclose(np.delete(labelled.weights, first), 0.8)
    assert labelled.describe()["campaigns"] == ["c"]
    assert labelled.describe()["source"] == "campaign"


def test_consensus_comes_before_demo_truth_and_says_where_each_label_came_from(scientist, demo_alerts):
    settled_campaign(owner=scientist, alerts=demo_alerts[:10], name="C", slug="c")
    real = next(a for a in demo_alerts[:10] if a.demo_truth == "real")
    Subject.objects.filter(alert=real).update(majority_label="bogus")  # the volunteers disagree with the truth
    labelled = labelled_alerts("real_bogus")
    assert len(labelled) == len(demo_alerts)
    assert labelled.origin_counts() == {CONSENSUS: 10, DEMO_TRUTH: len(demo_alerts) - 10, GOLD: 0}
    assert labelled.y[labelled.alert_ids.index(real.pk)] == 0.0


def test_an_alert_in_two_campaigns_takes_its_most_voted_subject(scientist, demo_alerts):
    settled_campaign(owner=scientist, alerts=demo_alerts[:1], name="A", slug="a")
    b, _ = settled_campaign(owner=scientist, alerts=demo_alerts[:1], name="B", slug="b")
    Subject.objects.filter(campaign=b).update(n_votes=9, majority_label="real", majority_fraction=1.0)
    labelled = labelled_alerts("real_bogus", sources=(CONSENSUS,))
    assert labelled.labels == ["real"]


def test_streak_labels_come_from_streak_campaigns_only(scientist, demo_alerts):
    settled_campaign(owner=scientist, alerts=demo_alerts[:5], name="RB", slug="rb")
    streaks = streak_campaign(scientist, demo_alerts[5:10], answers={demo_alerts[5].pk: "asteroid"})
    labelled = labelled_alerts("streaks", sources=(CONSENSUS,))
    assert (labelled.alert_ids, labelled.labels, labelled.y.tolist()) == ([demo_alerts[5].pk], ["asteroid"], [1.0])
    assert streaks.subjects.count() == 5


def test_gold_answers_label_alerts_without_demo_truth(scientist, demo_alerts):
    alert = demo_alerts[0]
    Alert.objects.filter(pk=alert.pk).update(demo_truth="")
    streak_campaign(scientist, demo_alerts[:2], answers={}, gold={alert.pk: "satellite"})
    labelled = labelled_alerts("streaks", sources=(DEMO_TRUTH, GOLD))
    index = labelled.alert_ids.index(alert.pk)
    assert (labelled.labels[index], labelled.origins[index]) == ("satellite", GOLD)
    assert len(labelled) == len(demo_alerts)


def test_train_and_heldout_splits_are_disjoint_by_object_and_cover_every_label(demo_alerts):
    every = labelled_alerts("real_bogus", sources=(DEMO_TRUTH,))
    train = labelled_alerts("real_bogus", sources=(DEMO_TRUTH,), split="train")
    heldout = labelled_alerts("real_bogus", sources=(DEMO_TRUTH,), split="heldout")
    assert not set(train.object_ids) & set(heldout.object_ids)
    assert sorted(train.alert_ids + heldout.alert_ids) == every.alert_ids
    assert all(is_heldout(o) for o in heldout.object_ids)
    assert train.heldout_excluded == len(heldout) > 0
    assert train.describe()["heldout_excluded"] == len(heldout)


def test_the_heldout_set_is_stable_and_holds_both_classes(demo_alerts):
    first = heldout_set("real_bogus")
    assert 0 < first.y.sum() < len(first)
    assert heldout_set("real_bogus").fingerprint() == first.fingerprint()
    described = first.describe()
    assert (described["n"], described["n_positive"], described["heldout_fraction"]) == (
        len(first),
        int(first.y.sum()),
        0.2,
    )


def test_a_subset_keeps_labels_targets_and_weights_aligned(demo_alerts):
    labelled = labelled_alerts("real_bogus", sources=(DEMO_TRUTH,))
    part = labelled.subset([3, 1])
    assert part.alert_ids == [labelled.alert_ids[3], labelled.alert_ids[1]]
    assert part.y.tolist() == [labelled.y[3], labelled.y[1]]
    assert part.labels == [labelled.labels[3], labelled.labels[1]]


def test_an_unknown_split_or_source_is_refused(db):
    with pytest.raises(ValueError, match="split"):
        labelled_alerts("real_bogus", split="validation")
    with pytest.raises(ValueError, match="source"):
        labelled_alerts("real_bogus", sources=("rumour",))
