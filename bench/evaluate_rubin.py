"""Section 5 of ``bench/evaluate.py``: braai on real Rubin LSSTCam alerts, against Rubin's ``reliability``.

Rubin alerts carry no human real/bogus label. The only reference is ``diaSource.reliability`` (stored in
``Alert.drb``), Rubin's own real/bogus model: a model's opinion, not human labels. Every line says so.

(a) The published braai (d6_m9, d6_m7) imported into the Rubin task, each with its own recipe and the ``"centre"``
    fit (a 30x30 to 71x71 Rubin stamp centre-padded or centre-cropped to 63x63), no fine-tuning: the Spearman rank
    correlation of its stored scores with reliability over every Rubin alert.
(b) The same braai fine-tuned on reliability-derived labels (reliability >= ``--rubin-threshold`` real, else
    bogus), as a Rubin fine-tune trains (``classifiers.training.fit_braai`` from the imported weights, the Rubin
    task's fine-tuning hyper-parameters, a fixed seed), alerts split by object: the Spearman is measured on the
    test objects only, never trained on, beside the un-tuned braai's on the same objects.

Everything registered or scored here happens in one transaction that is rolled back, so the bench's database
keeps only the Rubin alerts it ingested (when they were not there yet).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import replace
from pathlib import Path

REFERENCE = "Rubin reliability (a model's opinion)"
# Objects held out for the fine-tune's test: more than training's default, as 121 objects are few.
TEST_FRACTION = 0.3


def add_rubin_arguments(parser) -> None:
    parser.add_argument("--rubin-only", action="store_true", help="run section 5 (Rubin) alone")
    parser.add_argument("--skip-rubin", action="store_true", help="leave section 5 (Rubin) out")
    parser.add_argument("--rubin-epochs", type=int, default=30, help="maximum epochs of the Rubin fine-tune")
    parser.add_argument(
        "--rubin-threshold", type=float, default=0.5, help="reliability at or above which a Rubin alert is real"
    )


def django_for(args):
    """Django set up for the run, as a context: on a throwaway database when the Rubin section runs (it ingests,
    registers and scores), never on DATABASE_URL's own; on DATABASE_URL's when ``--active`` asks for its active
    version, or when the section is skipped."""
    if (args.rubin_only or not args.skip_rubin) and not args.active:
        import blinkbench

        return blinkbench.bench_database("blink_bench_evaluate")
    import django

    django.setup()
    return contextlib.nullcontext()


def rubin_section(args, emit) -> None:
    """The section with the shared data's paths and the command line's options (Django set up)."""
    from django.conf import settings

    from classifiers.braai_import import published_braai_dir

    folder = Path(settings.SHARED_DATA_DIR) / "lsst"
    options = {"epochs": args.rubin_epochs, "threshold": args.rubin_threshold, "seed": args.seed}
    evaluate_rubin(folder, published_braai_dir(), emit, **options)


class _RollBack(Exception):
    """Raised at the end of the section so nothing it registered or scored stays in the database."""


def rubin_alerts(lsst_dir: Path, emit) -> list[tuple[int, str, float]] | None:
    """``[(alert id, object id, reliability)]`` of the Rubin alerts with stamps and a reliability, the shared
    ones ingested first when the database lacks them; None (and a line saying why) when there are none."""
    from labeling.ingest import ingest_paths
    from labeling.models import Alert

    if lsst_dir.is_dir():
        started = time.perf_counter()
        report = ingest_paths([lsst_dir], workers=0)
        if report.new:
            print(f"# ingested {report.new} Rubin alerts in {time.perf_counter() - started:.0f} s", flush=True)
    rows = list(
        Alert.objects.filter(survey="rubin", drb__isnull=False, stamps__isnull=False)
        .order_by("pk")
        .values_list("pk", "object_id", "drb")
    )
    if not rows:
        emit(
            "rubin_spearman_vs_reliability",
            None,
            data="rubin",
            reference=REFERENCE,
            note=f"skipped: no Rubin alerts in the database and none at {lsst_dir}",
        )
        return None
    return rows


def spearman(a, b) -> float | None:
    from scipy.stats import spearmanr

    return None if len(a) < 3 else round(float(spearmanr(a, b).statistic), 4)


def roc_auc(y, scores) -> float | None:
    from sklearn.metrics import roc_auc_score

    return round(float(roc_auc_score(y, scores)), 4) if 0 < y.sum() < len(y) else None


def evaluate_rubin(lsst_dir: Path, braai_dir: Path | None, emit, *, epochs: int, threshold: float, seed: int):
    """Both parts, (a) and (b), for d6_m9 and d6_m7; lines through ``emit``."""
    from django.db import transaction

    if braai_dir is None:
        emit("rubin_spearman_vs_reliability", None, data="rubin", note="skipped: no published braai under ../shared")
        return
    rows = rubin_alerts(lsst_dir, emit)
    if rows is None:
        return
    try:
        with transaction.atomic():
            for name in ("d6_m9", "d6_m7"):
                _one_model(name, rows, braai_dir, emit, epochs=epochs, threshold=threshold, seed=seed)
            raise _RollBack
    except _RollBack:
        pass


def _one_model(name: str, rows, braai_dir: Path, emit, *, epochs: int, threshold: float, seed: int) -> None:
    import numpy as np

    from classifiers.braai_import import import_published_braai
    from classifiers.inference import Predictor
    from classifiers.models import Score, Task
    from classifiers.preprocessing import load_inputs
    from classifiers.registry import load_model, recipe_of
    from classifiers.runs.steps import hyperparameters
    from classifiers.scoring import score_alerts
    from classifiers.training import fit_braai

    ids = [pk for pk, _, _ in rows]
    objects = [o for _, o, _ in rows]
    reliability = np.array([r for _, _, r in rows], dtype=np.float64)
    # (a) braai as published, a version of the Rubin task: the registry's recipe (centre fit) and stored scores.
    version = import_published_braai(name, folder=braai_dir, task=Task.RUBIN_REAL_BOGUS)
    recipe = recipe_of(version)
    score_alerts(ids, version)
    stored = dict(Score.objects.filter(version=version, alert_id__in=ids).values_list("alert_id", "score"))
    before = np.array([stored[i] for i in ids], dtype=np.float64)
    context = {"data": "rubin", "reference": REFERENCE, "recipe": recipe.describe(), "n_objects": len(set(objects))}
    emit(
        "rubin_spearman_vs_reliability",
        spearman(before, reliability),
        model=f"{name} no fine-tune",
        n=len(ids),
        alerts="all",
        **context,
    )

    # (b) fine-tuned on reliability-derived labels, train objects apart from test objects.
    y = (reliability >= threshold).astype(np.float32)
    hp = replace(
        hyperparameters(Task.RUBIN_REAL_BOGUS, {"from_version": version.pk, "epochs": epochs}),
        seed=seed,
        test_fraction=TEST_FRACTION,
        input_recipe=recipe.to_dict(),
    )
    x = load_inputs(ids, recipe)
    started = time.perf_counter()
    result = fit_braai(x, y, np.ones(len(y)), objects, hp=hp, initial_weights=load_model(version).get_weights())
    test = result.split.test
    after = Predictor(result.model).scores(x[test])
    labels = {
        "labels": f"reliability >= {threshold:g} real, else bogus (a model's opinion)",
        "threshold": threshold,
        "split": {**result.split.sizes(), "by": "object"},
        "seed": seed,
    }
    n_test = {"n": len(test), "alerts": "test objects only", "n_test_objects": len({objects[i] for i in test})}
    emit(
        "rubin_spearman_vs_reliability",
        spearman(before[test], reliability[test]),
        model=f"{name} no fine-tune",
        **n_test,
        **context,
    )
    emit(
        "rubin_spearman_vs_reliability",
        spearman(after, reliability[test]),
        model=f"{name} fine-tuned on reliability labels",
        epochs_run=result.metrics["epochs_run"],
        learning_rate=hp.learning_rate,
        train_s=round(time.perf_counter() - started, 1),
        **labels,
        **n_test,
        **context,
    )
    for model, scores in ((f"{name} no fine-tune", before[test]), (f"{name} fine-tuned on reliability labels", after)):
        emit(
            "rubin_roc_auc_vs_reliability_labels", roc_auc(y[test], scores), model=model, **labels, **n_test, **context
        )
