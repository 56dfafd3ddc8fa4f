"""Night-by-night drift: the statistics against hand-computed values, and shifted nights flagged."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pytest
from django.core.management import call_command
from scipy import stats

from classifiers.drift import inputs as drift_inputs
from classifiers.drift.config import META_KEY, DriftConfig
from classifiers.drift.recompute import recompute_drift, recompute_drift_task
from classifiers.drift.selectors import resolve_night
from classifiers.drift.statistics import EXACT_KS_MAX_N, compute_drift, ks_sorted, percentile_bands, psi
from classifiers.models import DriftNight
from labeling.models import Alert
from tests.classifiers.console_helpers import add_scores, clone_night, make_alerts, make_version


def test_psi_of_two_bins_matches_the_formula():
    # Reference 1,2,3,4: one edge at the median 2.5, half on each side. The night: three below, one above.
    value = psi([1, 2, 3, 4], [1, 1, 1, 4], bins=2)
    assert value == pytest.approx((0.75 - 0.5) * np.log(0.75 / 0.5) + (0.25 - 0.5) * np.log(0.25 / 0.5))
    assert value == pytest.approx(0.25 * np.log(3))


def test_psi_floors_an_empty_bin_instead_of_going_infinite():
    value = psi([1, 2, 3, 4], [1, 1, 1, 1], bins=2)
    assert value == pytest.approx((1 - 0.5) * np.log(1 / 0.5) + (1e-4 - 0.5) * np.log(1e-4 / 0.5))


def test_psi_of_the_same_distribution_is_zero():
    ref = np.arange(100.0)
    assert psi(ref, ref) == pytest.approx(0.0)


def test_ks_statistic_matches_the_hand_count_and_scipy():
    # CDFs at x = 2: reference 2/4, night 0/4 -> gap 0.5 (and the same at x = 4).
    d, p = ks_sorted(np.array([1.0, 2, 3, 4]), np.array([3.0, 4, 5, 6]))
    assert d == pytest.approx(0.5)
    assert p == pytest.approx(stats.ks_2samp([1, 2, 3, 4], [3, 4, 5, 6]).pvalue)


@pytest.mark.parametrize(
    ("n_ref", "n_night", "p_tolerance"),
    [(300, 120, 1e-9), (40_000, 3_000, 1e-6), (100_000, 20_000, 0.02)],  # exact, Smirnov, Kolmogorov's limit
)
def test_ks_agrees_with_scipy_on_every_code_path(n_ref, n_night, p_tolerance):
    rng = np.random.default_rng(n_ref)
    ref = np.sort(np.round(rng.normal(0, 1, n_ref), 2))  # rounded: ties on both sides
    night = np.sort(np.round(rng.normal(0.02, 1.01, n_night), 2))
    d, p = ks_sorted(ref, night)
    expected = stats.ks_2samp(ref, night, method="asymp" if n_ref > EXACT_KS_MAX_N else "auto")
    assert d == pytest.approx(expected.statistic, abs=1e-12)
    assert p == pytest.approx(expected.pvalue, rel=p_tolerance)


def test_percentile_bands_are_numpys_percentiles():
    values = np.sort(np.random.default_rng(0).normal(size=1001))
    bands = percentile_bands(values)
    expected = np.percentile(values, [100, 93, 84, 69, 50, 31, 16, 7, 0])
    assert list(bands.values()) == pytest.approx(expected.tolist())
    assert list(bands) == ["max", "p93", "p84", "p69", "p50", "p31", "p16", "p7", "min"]


def nights_with_a_broad_one(rng, n=400):
    days = [dt.date(2026, 7, d).toordinal() for d in (1, 2, 3, 4, 5)]
    nights = np.repeat(days, n)
    fwhm = rng.normal(2.4, 0.3, nights.size)
    fwhm[nights == days[4]] *= 1.6  # the last night: seeing got much worse
    magpsf = rng.normal(19, 0.8, nights.size)
    return days, nights, {"fwhm": fwhm, "magpsf": magpsf}


def test_a_night_with_broader_fwhm_is_flagged_and_an_unshifted_one_is_not():
    days, nights, variables = nights_with_a_broad_one(np.random.default_rng(5))
    out = {n.night: n for n in compute_drift(nights, variables, DriftConfig(reference_nights=3))}
    assert [out[d].reference for d in days] == [True, True, True, False, False]
    unshifted, shifted = out[days[3]], out[days[4]]
    assert not unshifted.flagged
    assert unshifted.statistics["fwhm"]["psi"] < 0.1
    assert shifted.flagged
    assert shifted.statistics["fwhm"]["drifted"]
    assert not shifted.statistics["magpsf"]["drifted"]
    assert shifted.flagged_reasons[0].startswith("Seeing FWHM (pixels): PSI")
    assert not any(out[d].flagged for d in days[:3])  # the reference is never tested against itself


def test_missing_values_are_left_out_not_counted_as_zero():
    nights = np.repeat([1, 2], 50)
    values = np.where(np.arange(100) % 2 == 0, np.nan, 1.0)
    out = compute_drift(nights, {"sgscore1": values}, DriftConfig(reference_nights=1))
    assert out[0].statistics["sgscore1"]["n"] == 25
    assert out[0].percentiles["sgscore1"]["min"] == 1.0


def test_a_small_noisy_night_is_not_flagged_on_thresholds_alone():
    rng = np.random.default_rng(9)
    nights = np.concatenate([np.repeat([1, 2, 3], 300), np.full(8, 4)])
    values = rng.normal(0, 1, nights.size)
    out = compute_drift(nights, {"elong": values}, DriftConfig(reference_nights=3))
    assert out[-1].statistics["elong"]["n"] == 8
    assert not out[-1].flagged


# ------------------------------------------------------------------------------------------------ database


@pytest.fixture
def shifted_demo_nights(demo_alerts):
    """The demo alerts, three resampled reference nights, one unshifted night, one with broader seeing and a
    degraded template. Returns the config whose reference window ends with the three resampled nights."""
    rng = np.random.default_rng(21)
    days = [dt.date(2026, 7, d) for d in (1, 2, 3, 4, 5)]
    for day in days[:4]:
        clone_night(demo_alerts, day, rng)
    clone_night(demo_alerts, days[4], rng, fwhm_factor=1.8, template_noise=4.0)
    first = min(a.night for a in demo_alerts)
    return DriftConfig(reference_start=first, reference_end=days[2]), days


def test_recompute_flags_the_degraded_demo_night_and_not_the_unshifted_one(shifted_demo_nights):
    config, days = shifted_demo_nights
    summary = recompute_drift(config=config)
    assert summary["tasks"][0]["flagged"] == [days[4].isoformat()]
    unshifted = DriftNight.objects.get(night=days[3])
    shifted = DriftNight.objects.get(night=days[4])
    assert not unshifted.flagged
    assert shifted.flagged
    reasons = " | ".join(shifted.flagged_reasons)
    assert "Seeing FWHM" in reasons
    assert "Reference stamp robust spread" in reasons  # the degraded template shows in its pixels
    assert shifted.statistics["fwhm"]["drifted"]
    assert not shifted.statistics["magpsf"]["drifted"]
    for name in ("magpsf", "fwhm", "elong", "stamp_diff_std", "stamp_template_mad"):
        assert set(shifted.percentiles[name]) == {"max", "p93", "p84", "p69", "p50", "p31", "p16", "p7", "min"}
    assert shifted.statistics[META_KEY]["nids"] == [(days[4] - dt.date(2017, 1, 1)).days]


def test_scores_and_volunteer_agreement_get_bands_for_the_active_version(demo_alerts):
    version = make_version(status="active")
    rng = np.random.default_rng(3)
    add_scores(version, demo_alerts, rng.uniform(0, 1, len(demo_alerts)))
    recompute_drift(config=DriftConfig(reference_nights=2))
    rows = DriftNight.objects.filter(task="real_bogus", version=version)
    assert rows.count() == len({a.night for a in demo_alerts})
    assert all("score" in r.percentiles for r in rows)
    total = sum(r.statistics["score"]["n"] for r in rows)
    assert total == len(demo_alerts)


def test_a_recompute_replaces_the_rows_and_reuses_unchanged_nights_stamp_samples(demo_alerts, monkeypatch):
    recompute_drift(config=DriftConfig(reference_nights=2))
    first = {r.night: r.statistics[META_KEY]["stamp_sample"] for r in DriftNight.objects.all()}

    def no_decompressing(alert_ids):
        raise AssertionError(f"stamps of {len(alert_ids)} alerts decompressed again")

    monkeypatch.setattr(drift_inputs, "stamp_statistics", no_decompressing)
    recompute_drift(config=DriftConfig(reference_nights=2))
    again = {r.night: r.statistics[META_KEY]["stamp_sample"] for r in DriftNight.objects.all()}
    assert first == again
    assert DriftNight.objects.count() == len(first) == len({a.night for a in demo_alerts})


def test_compute_drift_command_prints_a_summary(demo_alerts):
    out = io.StringIO()
    call_command("compute_drift", "--reference-nights", "2", stdout=out, verbosity=0)
    text = out.getvalue()
    assert f"{len(demo_alerts)} alerts summarised" in text
    assert "real_bogus no active version (inputs only)" in text
    assert DriftNight.objects.exists()


def test_compute_drift_command_names_a_bad_reference_date(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="neither a UTC date"):
        call_command("compute_drift", "--reference-start", "yesterday", "--reference-end", "2026-01-01")


def test_nights_may_be_named_by_nid(db):
    rng = np.random.default_rng(0)
    make_alerts(3, night=dt.date(2020, 2, 2), rng=rng, nid=1127)
    assert resolve_night("1127") == dt.date(2020, 2, 2)
    assert resolve_night("2020-02-03") == dt.date(2020, 2, 3)
    assert resolve_night("1128") == dt.date(2020, 2, 3)  # no alert of that nid: ZTF's own count


@pytest.mark.django_db(transaction=True)
def test_ingest_queues_one_drift_recompute_and_the_task_stores_nights_and_builds_the_figures(tmp_path, monkeypatch):
    from django_tasks_db.models import DBTaskResult

    from fixtures.demo_alerts import write_demo_alerts
    from frontend.plots import console as console_plots
    from labeling.ingest import ingest_paths

    report = ingest_paths(write_demo_alerts(tmp_path, n=12, seed=3))
    assert report.new == 12
    queued = DBTaskResult.objects.filter(task_path=recompute_drift_task.module_path, status="READY")
    assert queued.count() == 1
    ingest_paths(write_demo_alerts(tmp_path / "more", n=5, seed=4))
    assert queued.count() == 1  # a burst of ingests waits for one recompute
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", "--queue-name", "*", verbosity=0)
    assert DriftNight.objects.count() == len(set(Alert.objects.values_list("night", flat=True)))
    assert not queued.exists()

    def built_on_a_page_load(nights):
        raise AssertionError("the drift figures were not built by the worker")

    monkeypatch.setattr(console_plots, "_drift_plots", built_on_a_page_load)
    assert [p["name"] for p in console_plots.drift_plot_items("real_bogus")][:2] == ["magpsf", "fwhm"]


def test_thresholds_and_reference_window_come_from_settings(settings):
    settings.BLINK = {**settings.BLINK, "DRIFT": {"PSI_THRESHOLD": 0.5, "REFERENCE_START": "2026-07-01",
                                                  "REFERENCE_END": "2026-07-03"}}  # fmt: skip
    config = DriftConfig.from_settings()
    assert config.psi_threshold == 0.5
    assert (config.reference_start, config.reference_end) == (dt.date(2026, 7, 1), dt.date(2026, 7, 3))
    assert config.ks_threshold == 0.2  # the default where the settings say nothing
    settings.BLINK = {**settings.BLINK, "DRIFT": {"REFERENCE_START": "2026-07-03", "REFERENCE_END": "2026-07-01"}}
    with pytest.raises(ValueError, match="reference_start 2026-07-03 is after reference_end 2026-07-01"):
        DriftConfig.from_settings()
