"""Benchmarks of the ML lead console. Prints JSON lines:

* ``{"bench": "console", "metric": "drift_s", ...}``: night-by-night drift (percentile bands, PSI, KS, flags)
  over 1,000,000 alerts across 30 nights. The alerts are synthetic numpy arrays generated here (key
  ``"data": "synthetic arrays"``): the figure is the computation ``classifiers.drift.statistics.compute_drift`` does after
  the database read. Two layouts: ``"as_stored"`` (score and the four candidate columns for every alert, stamp
  statistics for the 200-per-night sample, volunteer agreement for the 2% with votes — what a recompute
  sees) and ``"all_dense"`` (all nine variables for every alert, the worst case).
* ``{"bench": "console", "metric": "page_ms", "page": "versions"|"drift"|"compare", ...}``: server time of the
  pages through Django's test client, against a throw-away PostgreSQL test database (created and dropped
  here) holding 3 model versions with 200-point ROC curves, 30 stored drift nights computed from the same
  synthetic alerts, 2,000 labelled alerts scored by two versions, and the audit log. The drift figures are
  built once beforehand, as the ``drift_recomputed`` receiver does after each background recompute (``figures_prebuilt_s``).
  ``cold_ms`` is the page's first request (the compare page computes its paired bootstrap then), ``value``
  the median of the next ``n``.

Run: ``DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/console.py``
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

import django  # noqa: E402
from blinkbench import emit as blinkbench_emit  # noqa: E402 (bench/ is the running script's folder, so on sys.path)

django.setup()
emit = partial(blinkbench_emit, "console")

import numpy as np  # noqa: E402

N_ALERTS = 1_000_000
N_NIGHTS = 30
REFERENCE_NIGHTS = 7
FIRST_NIGHT = 739_000  # a day ordinal (2024-04-...); only differences matter


def synthetic_alerts(rng: np.random.Generator, *, dense: bool) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One million alerts over thirty nights with ZTF-like columns; night 24 has broader seeing."""
    nights = np.sort(rng.integers(FIRST_NIGHT, FIRST_NIGHT + N_NIGHTS, N_ALERTS))
    fwhm = rng.gamma(9.0, 0.28, N_ALERTS)
    fwhm[nights == FIRST_NIGHT + 24] *= 1.5
    sgscore1 = rng.beta(0.5, 0.5, N_ALERTS)
    sgscore1[rng.random(N_ALERTS) < 0.15] = np.nan  # no PS1 match (-999 in the packets)
    variables = {
        "score": rng.beta(0.7, 0.7, N_ALERTS),
        "magpsf": rng.normal(19.0, 1.0, N_ALERTS),
        "fwhm": fwhm,
        "elong": 1 + rng.gamma(2.0, 0.06, N_ALERTS),
        "sgscore1": sgscore1,
    }
    sparse_stamps = np.zeros(N_ALERTS, dtype=bool)
    for night in range(FIRST_NIGHT, FIRST_NIGHT + N_NIGHTS):
        idx = np.flatnonzero(nights == night)
        sparse_stamps[rng.choice(idx, size=min(200, idx.size), replace=False)] = True
    for name, centre in (("stamp_diff_std", 30.0), ("stamp_diff_mad", 0.012), ("stamp_template_mad", 0.010)):
        values = rng.normal(centre, centre * 0.1, N_ALERTS)
        if not dense:
            values[~sparse_stamps] = np.nan
        variables[name] = values
    agreement = rng.beta(5, 1, N_ALERTS)
    if not dense:
        agreement[rng.random(N_ALERTS) > 0.02] = np.nan
    variables["agreement"] = agreement
    return nights, variables


def bench_drift(rng) -> list:
    from classifiers.drift.config import DriftConfig
    from classifiers.drift.statistics import compute_drift

    config = DriftConfig(reference_nights=REFERENCE_NIGHTS)
    results = None
    for layout, dense in (("as_stored", False), ("all_dense", True)):
        nights, variables = synthetic_alerts(rng, dense=dense)
        compute_drift(nights[:10_000], {k: v[:10_000] for k, v in variables.items()}, config)  # warm caches
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            out = compute_drift(nights, variables, config)
            timings.append(time.perf_counter() - started)
        flagged = [n.date.isoformat() for n in out if n.flagged]
        emit(
            "drift_s",
            min(timings),
            digits=3,
            median_s=round(statistics.median(timings), 3),
            n=N_ALERTS,
            nights=N_NIGHTS,
            variables=len(variables),
            layout=layout,
            data="synthetic arrays",
            reference_nights=REFERENCE_NIGHTS,
            flagged_nights=len(flagged),
            cpus=os.cpu_count(),
        )
        if layout == "as_stored":
            results = out
    return results


def bench_pages(nights) -> None:
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    from classifiers.drift.config import DriftConfig
    from classifiers.drift.recompute import store_drift
    from classifiers.models import ModelVersion, RegistryEvent, Score
    from core.roles import MLLEAD, grant_role

    if connection.vendor != "postgresql":
        emit("page_ms", None, skipped="needs DATABASE_URL=postgres://...")
        return
    setup_test_environment()
    settings.ALLOWED_HOSTS = ["testserver"]
    db_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.create_user("bench-mllead", password="bench-mllead-pw")
        grant_role(user, MLLEAD)
        rng = np.random.default_rng(1)
        versions = []
        for number, status in ((1, "retired"), (2, "active"), (3, "candidate")):
            fpr = np.sort(rng.uniform(0, 1, 200))
            metrics = {
                "accuracy": 0.9 + number / 100,
                "precision": 0.9,
                "recall": 0.9,
                "fpr": 0.05,
                "fnr": 0.1,
                "roc_auc": 0.95,
                "n": 2000,
                "threshold": 0.5,
                "confusion": [[900, 50], [100, 950]],
                "roc": {"fpr": fpr.tolist(), "tpr": np.sqrt(fpr).tolist(), "thresholds": (1 - fpr).tolist()},
            }
            versions.append(
                ModelVersion.objects.create(
                    task="real_bogus",
                    version=number,
                    status=status,
                    architecture="braai_vgg6",
                    metrics=metrics,
                    training_set={"n_labels": 5000 * number, "source": "bench"},
                    thresholds={"operating": 0.5},
                    weights=b"bench",
                    sha256="0" * 64,
                    parent=versions[-1] if versions else None,
                )
            )
        for v in versions[:2]:
            RegistryEvent.objects.create(task="real_bogus", action="promote", version=v, reason="bench")
        store_drift(task="real_bogus", version=versions[1], nights=nights, config=DriftConfig())
        # As the background task does right after storing the rows: build the drift page's figures once.
        from frontend.plots.console import warm_drift_plots

        started = time.perf_counter()
        warm_drift_plots()
        plots_built_s = time.perf_counter() - started
        # A compare page needs labelled, scored candidates: 2,000 demo-truth alerts scored by v2 and v3.
        alerts = _bench_alerts(2000, rng)
        y = np.array([a.demo_truth == "real" for a in alerts], dtype=float)
        for v, sharp in ((versions[1], 0.3), (versions[2], 0.4)):
            s = np.clip(0.5 + sharp * (2 * y - 1) + rng.normal(0, 0.2, y.size), 0, 1)
            Score.objects.bulk_create(
                [Score(alert=a, version=v, score=float(x)) for a, x in zip(alerts, s, strict=True)]
            )
        client = Client()
        client.force_login(user)
        client.get("/accounts/login/")  # import the URL conf and every view module before timing anything
        pages = {
            "versions": "/ml/versions/",
            "drift": "/ml/drift/",
            "compare": f"/ml/compare/?a={versions[1].pk}&b={versions[2].pk}",
        }
        for page, url in pages.items():
            started = time.perf_counter()
            response = client.get(url)
            cold = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, (url, response.status_code)
            timings = []
            for _ in range(20):
                started = time.perf_counter()
                client.get(url)
                timings.append((time.perf_counter() - started) * 1000)
            emit(
                "page_ms",
                statistics.median(timings),
                digits=1,
                page=page,
                p95_ms=round(sorted(timings)[int(0.95 * len(timings)) - 1], 1),
                cold_ms=round(cold, 1),
                n=len(timings),
                db=connection.vendor,
                drift_nights=len(nights),
                bytes=len(response.content),
                **({"figures_prebuilt_s": round(plots_built_s, 2)} if page == "drift" else {}),
            )
    finally:
        connection.creation.destroy_test_db(db_name, verbosity=0)


def _bench_alerts(n: int, rng):
    import datetime as dt

    from labeling.models import Alert

    night = dt.date(2026, 7, 1)
    rows = [
        Alert(
            candid=4_000_000_000_000_000 + i,
            object_id=f"ZTF26bench{i:05d}",
            jd=2461222.5 + i * 1e-5,
            night=night,
            fid=1 + i % 2,
            ra=10.0,
            dec=20.0,
            gal_l=100.0,
            gal_b=float(rng.uniform(-60, 60)),
            magpsf=float(rng.normal(19, 1)),
            isdiffpos=True,
            candidate={},
            demo_truth="real" if rng.random() < 0.5 else "bogus",
        )
        for i in range(n)
    ]
    return Alert.objects.bulk_create(rows)


def main() -> None:
    rng = np.random.default_rng(0)
    nights = bench_drift(rng)
    bench_pages(nights)


if __name__ == "__main__":
    main()
