"""The console and drift for the Rubin task: drift on Rubin alerts only (and ZTF drift without them), Rubin
versions compared on Rubin alerts against Rubin's reliability, and the pages that show them.

Uses the shared real Rubin alerts (../shared/data/lsst); skips when they are absent."""

from __future__ import annotations

import numpy as np
import pytest
from django.urls import reverse

from classifiers.console.compare import compare_versions
from classifiers.console.reliability import RELIABILITY_LABEL, reliability_figures
from classifiers.console.versions import versions_by_task
from classifiers.drift.config import DriftConfig
from classifiers.drift.recompute import recompute_drift
from classifiers.models import DriftNight, Task
from tests.classifiers.console_helpers import add_scores, make_version
from tests.classifiers.rubin_console_helpers import (
    ingest_rubin_alerts,
    register_rubin_version,
    reliability_of,
    score_by_hand,
)

pytestmark = pytest.mark.django_db
RUBIN = Task.RUBIN_REAL_BOGUS.value


@pytest.fixture
def rubin_alerts(db):
    return ingest_rubin_alerts()


@pytest.fixture
def both_surveys(demo_alerts, rubin_alerts):
    """ZTF demo alerts scored by an active ZTF version, Rubin alerts scored by an active Rubin version (its score
    follows Rubin's reliability) and by a candidate that guesses."""
    rng = np.random.default_rng(4)
    ztf = make_version(version=1, status="active")
    add_scores(ztf, demo_alerts, rng.uniform(0, 1, len(demo_alerts)))
    rubin_a = make_version(task=RUBIN, version=1, status="candidate", architecture="braai_vgg6")
    rubin_b = make_version(task=RUBIN, version=2, status="active", architecture="braai_vgg6")
    reliability = reliability_of(rubin_alerts)
    score_by_hand(rubin_a, rubin_alerts, rng.uniform(0, 1, len(rubin_alerts)))
    score_by_hand(rubin_b, rubin_alerts, np.clip(reliability + rng.normal(0, 0.05, reliability.size), 0, 1))
    return {"ztf": ztf, "a": rubin_a, "b": rubin_b, "ztf_alerts": demo_alerts, "rubin_alerts": rubin_alerts}


# ---------------------------------------------------------------------------------------------------------
# Drift.


def test_rubin_drift_counts_only_rubin_alerts_and_ztf_drift_never_counts_them(both_surveys):
    summary = recompute_drift(config=DriftConfig(reference_nights=1))
    rubin_alerts, ztf_alerts = both_surveys["rubin_alerts"], both_surveys["ztf_alerts"]
    rubin_rows = list(DriftNight.objects.filter(task=RUBIN))
    assert {r.night for r in rubin_rows} == {a.night for a in rubin_alerts}
    assert sum(r.n_alerts for r in rubin_rows) == len(rubin_alerts)
    assert all(r.version == both_surveys["b"] for r in rubin_rows)
    ztf_rows = list(DriftNight.objects.filter(task=Task.REAL_BOGUS))
    assert sum(r.n_alerts for r in ztf_rows) == len(ztf_alerts)
    assert not {r.night for r in ztf_rows} & {a.night for a in rubin_alerts}
    tasks = {t["task"]: t for t in summary["tasks"]}
    assert tasks[RUBIN]["alerts"] == len(rubin_alerts)
    assert tasks[Task.REAL_BOGUS]["alerts"] == len(ztf_alerts)


def test_rubin_drift_summarises_rubin_s_own_inputs_not_ztf_only_fields(both_surveys):
    recompute_drift(config=DriftConfig(reference_nights=1))
    rubin_alerts = both_surveys["rubin_alerts"]
    row = DriftNight.objects.get(task=RUBIN)
    assert {"score", "magpsf", "snr", "drb", "stamp_diff_mad"} <= set(row.percentiles)
    assert not {"fwhm", "elong", "sgscore1"} & set(row.percentiles)
    snr = np.sort([a.snr for a in rubin_alerts if a.snr is not None])
    assert row.percentiles["snr"]["p50"] == pytest.approx(float(np.median(snr)))
    assert row.percentiles["score"]["max"] <= 1.0
    assert row.statistics["score"]["n"] == len(rubin_alerts)
    # The ZTF task keeps its own inputs.
    ztf_row = DriftNight.objects.filter(task=Task.REAL_BOGUS).first()
    assert {"fwhm", "elong"} <= set(ztf_row.percentiles)
    assert "snr" not in ztf_row.percentiles


def test_recompute_drift_leaves_the_rubin_task_out_until_it_has_an_active_version(demo_alerts, rubin_alerts):
    make_version(version=1, status="active")
    rubin = make_version(task=RUBIN, version=1, status="candidate", architecture="braai_vgg6")
    recompute_drift(config=DriftConfig(reference_nights=1))
    assert not DriftNight.objects.filter(task=RUBIN).exists()
    type(rubin).objects.filter(pk=rubin.pk).update(status="active")
    recompute_drift(config=DriftConfig(reference_nights=1))
    assert DriftNight.objects.filter(task=RUBIN).count() == len({a.night for a in rubin_alerts})


def test_rubin_stamp_statistics_use_the_centre_fit_for_cutouts_larger_than_63(rubin_alerts):
    """A real Rubin version (its recipe says "centre"): the 71x71 cutouts are cropped, never refused."""
    assert max(a.stamps.height for a in rubin_alerts) > 63
    register_rubin_version(promote=True)
    recompute_drift(config=DriftConfig(reference_nights=1, stamp_sample_per_night=500))
    row = DriftNight.objects.get(task=RUBIN)
    assert row.statistics["stamp_diff_mad"]["n"] == len(rubin_alerts)


# ---------------------------------------------------------------------------------------------------------
# Compare and the versions table.


def test_two_rubin_versions_are_compared_on_rubin_alerts_against_rubin_reliability(both_surveys):
    a, b = both_surveys["a"], both_surveys["b"]
    result = compare_versions(a, b, n_resamples=50)
    reliability = result["reliability"]
    rubin_alerts = both_surveys["rubin_alerts"]
    with_reliability = [x for x in rubin_alerts if x.drb is not None]
    confident = [x for x in with_reliability if x.drb > 0.8 or x.drb < 0.2]
    assert reliability["label"] == RELIABILITY_LABEL == "Rubin reliability (a model's opinion, not human labels)"
    assert reliability["n_scored"] == len(with_reliability)
    assert reliability["n"] == len(confident)
    assert reliability["n_real"] == sum(x.drb > 0.8 for x in confident)
    assert 0 < reliability["n_real"] < reliability["n"]
    # B follows reliability, A guesses.
    assert reliability["metrics_b"]["roc_auc"] > 0.9
    assert reliability["metrics_b"]["roc_auc"] > reliability["metrics_a"]["roc_auc"] + 0.2
    assert reliability["metrics_b"]["agreement"] > reliability["metrics_a"]["agreement"]
    # The changed candidates are Rubin alerts.
    rubin_ids = {x.pk for x in rubin_alerts}
    assert result["changed"]
    assert all(c["alert_id"] in rubin_ids for c in result["changed"])


def test_a_ztf_comparison_has_no_reliability_section(both_surveys):
    other = make_version(version=2, status="candidate")
    add_scores(other, both_surveys["ztf_alerts"], np.linspace(0, 1, len(both_surveys["ztf_alerts"])))
    assert compare_versions(both_surveys["ztf"], other, n_resamples=20)["reliability"] is None


def test_the_versions_table_lists_the_rubin_task_with_its_reliability_figures(both_surveys):
    tasks = {t["task"]: t for t in versions_by_task()}
    assert list(tasks) == [Task.REAL_BOGUS, Task.STREAKS, RUBIN]
    rubin = tasks[RUBIN]
    assert [v["id"] for v in rubin["versions"]] == [both_surveys["b"].pk, both_surveys["a"].pk]
    assert rubin["reliability_label"] == RELIABILITY_LABEL
    assert tasks[Task.REAL_BOGUS]["reliability_label"] is None
    assert all(v["reliability"] is None for v in tasks[Task.REAL_BOGUS]["versions"])
    figures = reliability_figures([both_surveys["a"], both_surveys["b"], both_surveys["ztf"]])
    assert figures[both_surveys["ztf"].pk] is None
    assert figures[both_surveys["b"].pk]["roc_auc"] > figures[both_surveys["a"].pk]["roc_auc"]
    assert [t["task"] for t in versions_by_task(RUBIN)] == [RUBIN]


def test_the_compare_api_carries_the_reliability_comparison(client, mllead, both_surveys):
    client.force_login(mllead)
    a, b = both_surveys["a"], both_surveys["b"]
    body = client.get(reverse("api-console-compare"), {"a": a.pk, "b": b.pk}).json()
    assert body["task"] == RUBIN
    assert body["reliability"]["label"] == RELIABILITY_LABEL
    assert body["reliability"]["metrics_b"]["roc_auc"] > body["reliability"]["metrics_a"]["roc_auc"]
    ztf = client.get(reverse("api-console-drift"), {"task": RUBIN})
    assert ztf.status_code == 200


def test_the_console_pages_offer_the_rubin_task_and_show_its_versions_and_figures(client, mllead, both_surveys):
    recompute_drift(config=DriftConfig(reference_nights=1))
    client.force_login(mllead)
    a, b = both_surveys["a"], both_surveys["b"]

    page = client.get(reverse("console-versions"), {"task": RUBIN}).content.decode()
    assert f'href="{reverse("console-versions")}?task={RUBIN}"' in page
    assert f'data-task="{RUBIN}"' in page
    assert 'id="versions-real_bogus"' not in page
    assert f'id="versions-{RUBIN}"' in page
    assert "Against Rubin reliability (a model&#x27;s opinion, not human labels)" in page
    assert 'class="data reliability-table"' in page
    everything = client.get(reverse("console-versions")).content.decode()
    assert "Rubin real / bogus" in everything
    assert "Real / bogus (braai)" in everything

    compare = client.get(reverse("console-compare"), {"a": a.pk, "b": b.pk})
    assert compare.status_code == 200
    text = compare.content.decode()
    assert "Rubin reliability (a model&#x27;s opinion, not human labels)" in text
    assert 'id="reliability-roc-json"' in text
    assert 'id="reliability-table"' in text

    drift = client.get(reverse("console-drift"), {"task": RUBIN}).content.decode()
    assert 'id="drift-snr"' in drift
    assert 'id="drift-fwhm"' not in drift
    assert b.label in drift
    night = both_surveys["rubin_alerts"][0].night.isoformat()
    detail = client.get(reverse("console-drift-night", kwargs={"night": night}), {"task": RUBIN})
    assert detail.status_code == 200
    assert "Signal-to-noise ratio (Rubin diaSource.snr)" in detail.content.decode()
    assert f"{len(both_surveys['rubin_alerts'])} alerts · task {RUBIN}" in detail.content.decode()
    ztf_drift = client.get(reverse("console-drift")).content.decode()
    assert 'id="drift-fwhm"' in ztf_drift
    assert 'id="drift-snr"' not in ztf_drift
