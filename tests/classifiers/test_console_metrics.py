"""Evaluation metrics, slices and the paired bootstrap, against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from classifiers import evaluation

# Eight labelled candidates: four real (1), four bogus (0). At threshold 0.5:
#   TP = {0, 1, 6}, FN = {2}, FP = {3}, TN = {4, 5, 7}.
Y = np.array([1, 1, 1, 0, 0, 0, 1, 0])
S = np.array([0.9, 0.8, 0.3, 0.6, 0.2, 0.1, 0.7, 0.4])
FID = np.array([1, 1, 1, 1, 2, 2, 2, 2])  # g for the first four, r for the rest
MAG = np.array([16.5, 17.5, 18.2, 19.9, 20.0, 21.3, np.nan, 18.9])
GAL_B = np.array([-3.0, 4.9, 5.0, -20.0, 40.0, -80.0, 10.0, 15.0])
ISDIFFPOS = np.array([True, True, False, True, True, False, True, True])
SSDISTNR = np.array([np.nan, 2.0, 9.99, 10.0, np.nan, 0.5, 30.0, np.nan])
NIGHT = ["2026-06-02"] * 5 + ["2026-06-03"] * 3


def keys():
    return evaluation.slice_keys(fid=FID, magpsf=MAG, gal_b=GAL_B, isdiffpos=ISDIFFPOS, ssdistnr=SSDISTNR, night=NIGHT)


def by_slice(report, dimension):
    dim = next(d for d in report["dimensions"] if d["dimension"] == dimension)
    return {s["slice"]: s for s in dim["slices"]}


def test_headline_metrics_match_the_hand_count():
    m = evaluation.binary_metrics(Y, S, 0.5)
    assert m["confusion"] == [[3, 1], [1, 3]]
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["precision"] == pytest.approx(3 / 4)
    assert m["recall"] == pytest.approx(3 / 4)
    assert m["fpr"] == pytest.approx(1 / 4)
    assert m["fnr"] == pytest.approx(1 / 4)
    # Of the 16 (real, bogus) pairs, the real one scores higher in all but 0.3 < 0.6 and 0.3 < 0.4.
    assert m["roc_auc"] == pytest.approx(14 / 16)


def test_undefined_metrics_are_none_not_zero():
    m = evaluation.binary_metrics([0, 0, 0], [0.1, 0.2, 0.3], 0.5)
    assert m["precision"] is None  # nothing called positive
    assert m["recall"] is None
    assert m["fnr"] is None
    assert m["roc_auc"] is None
    assert m["roc"] == {"fpr": [], "tpr": [], "thresholds": []}


def test_roc_and_precision_recall_points_end_where_the_curves_must():
    roc = evaluation.roc_points(Y, S)
    assert (roc["fpr"][0], roc["tpr"][0]) == (0.0, 0.0)
    assert (roc["fpr"][-1], roc["tpr"][-1]) == (1.0, 1.0)
    assert max(roc["thresholds"]) <= 1.0
    pr = evaluation.pr_points(Y, S)
    assert pr["recall"][0] == 1.0
    assert pr["precision"][0] == pytest.approx(0.5)
    assert (pr["precision"][-1], pr["recall"][-1]) == (1.0, 0.0)


def test_bad_labels_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="0 \\(negative\\) or 1"):
        evaluation.binary_metrics([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="differ in length"):
        evaluation.binary_metrics([0, 1], [0.1])


def test_slice_metrics_by_filter_match_the_hand_count():
    report = evaluation.slice_metrics(Y, S, keys(), threshold=0.5, min_n=2)
    assert report["overall"]["accuracy"] == pytest.approx(0.75)
    g, r = by_slice(report, "filter")["g"], by_slice(report, "filter")["r"]
    # g: y = 1 1 1 0, s = .9 .8 .3 .6 -> TP 2, FN 1, FP 1, TN 0
    assert (g["n"], g["n_positive"]) == (4, 3)
    assert g["accuracy"] == pytest.approx(0.5)
    assert g["precision"] == pytest.approx(2 / 3)
    assert g["recall"] == pytest.approx(2 / 3)
    assert g["fpr"] == pytest.approx(1.0)
    assert g["fnr"] == pytest.approx(1 / 3)
    assert g["roc_auc"] == pytest.approx(2 / 3)  # .9 and .8 beat .6; .3 does not
    # r: y = 0 0 1 0, s = .2 .1 .7 .4 -> all right
    assert (r["accuracy"], r["precision"], r["recall"], r["fpr"], r["fnr"], r["roc_auc"]) == (1, 1, 1, 0, 0, 1)


def test_magnitude_latitude_sign_solar_system_and_night_slices():
    report = evaluation.slice_metrics(Y, S, keys(), threshold=0.5, min_n=2)
    mag = by_slice(report, "magnitude")
    assert {k: v["n"] for k, v in mag.items()} == {
        "< 17": 1,
        "17–18": 1,
        "18–19": 2,
        "19–20": 1,
        "≥ 20": 2,  # 20.0 is in the faint bin: bins are closed on the left
        "unknown": 1,
    }
    # 18-19: candidate 2 (real, .3) and 7 (bogus, .4): both called bogus.
    assert mag["18–19"]["accuracy"] == pytest.approx(0.5)
    assert mag["18–19"]["precision"] is None
    assert mag["18–19"]["recall"] == 0.0
    assert mag["18–19"]["roc_auc"] == 0.0
    lat = by_slice(report, "latitude")
    assert {k: v["n"] for k, v in lat.items()} == {"< 5°": 2, "5–15°": 2, "15–30°": 2, "≥ 30°": 2}
    sign = by_slice(report, "isdiffpos")
    assert sign["negative (f)"]["n"] == 2
    assert sign["negative (f)"]["accuracy"] == pytest.approx(0.5)
    sso = by_slice(report, "solar_system")
    assert sso["near (< 10″)"]["n"] == 3  # 2.0, 9.99 and 0.5; 10.0 is not "near"
    assert sso["none or far (≥ 10″)"]["n"] == 5
    nights = by_slice(report, "night")
    assert nights["2026-06-02"]["accuracy"] == pytest.approx(3 / 5)
    assert nights["2026-06-03"]["accuracy"] == pytest.approx(1.0)


def test_a_slice_much_worse_than_average_is_marked_and_a_fine_one_is_not():
    report = evaluation.slice_metrics(Y, S, keys(), threshold=0.5, min_n=2)
    g, r = by_slice(report, "filter")["g"], by_slice(report, "filter")["r"]
    # Accuracy 0.5 vs 0.75 is within noise for 4 candidates; the AUC drop of 0.21 is not.
    assert g["worse"]
    assert g["worse_reasons"] == ["ROC AUC 0.67 vs 0.88 overall"]
    assert not r["worse"]


def test_faint_candidates_the_model_gets_wrong_stand_out():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    faint = np.arange(400) < 100
    s = np.where(y == 1, 0.8, 0.2) + rng.normal(0, 0.05, 400)
    s[faint] = rng.uniform(0, 1, 100)  # no better than a coin on the faint ones
    mag = np.where(faint, 20.5, 18.5)
    k = evaluation.slice_keys(
        fid=np.ones(400), magpsf=mag, gal_b=np.full(400, 50.0), isdiffpos=np.ones(400, bool),
        ssdistnr=np.full(400, np.nan), night=["n"] * 400,
    )  # fmt: skip
    report = evaluation.slice_metrics(y, np.clip(s, 0, 1), k)
    mag_slices = by_slice(report, "magnitude")
    assert mag_slices["≥ 20"]["worse"]
    assert not mag_slices["18–19"]["worse"]


def test_weighted_auc_of_each_resample_equals_scikit_learn_with_those_weights():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.random(300) * 0.6 + 0.3 * y, 2)  # rounded: plenty of ties
    w = rng.multinomial(300, np.full(300, 1 / 300), size=4).astype(float)
    ours = evaluation._weighted_auc(y, s, w)
    theirs = [roc_auc_score(y, s, sample_weight=row) for row in w]
    assert ours == pytest.approx(theirs, abs=1e-12)


def test_identical_versions_differ_by_exactly_nothing():
    deltas = evaluation.bootstrap_deltas(Y, S, S.copy(), n_resamples=200, seed=3)
    for d in deltas:
        assert d.delta in (0.0, None)
        assert (d.low, d.high) in ((0.0, 0.0), (None, None))
        assert d.better == ""


def test_a_clearly_better_version_wins_and_the_interval_is_seeded():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 500)
    a = np.clip(0.5 + 0.15 * (y - 0.5) + rng.normal(0, 0.25, 500), 0, 1)
    b = np.clip(0.5 + 0.8 * (y - 0.5) + rng.normal(0, 0.1, 500), 0, 1)
    first = {d.metric: d for d in evaluation.bootstrap_deltas(y, a, b, n_resamples=300, seed=11)}
    again = {d.metric: d for d in evaluation.bootstrap_deltas(y, a, b, n_resamples=300, seed=11)}
    assert first == again
    for metric in ("accuracy", "roc_auc", "fpr", "fnr"):
        d = first[metric]
        assert d.better == "b", metric
        assert d.low <= d.delta <= d.high
    assert first["fpr"].delta < 0  # lower is better for error rates
    other = evaluation.bootstrap_deltas(y, a, b, n_resamples=300, seed=12)
    assert {d.metric: d.low for d in other} != {m: d.low for m, d in first.items()}
