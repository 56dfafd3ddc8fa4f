"""How good are Blink's classifiers? JSON lines on stdout (``"bench": "evaluate"``).

    python bench/evaluate.py [--train-n 3000] [--test-n 1000] [--active]

1. Trains braai's VGG6 and the streak ensemble on generated demo alerts (known truth), exactly as
   ``manage.py train_model`` does, but from arrays (no database needed).
2. Demo data: on a second, independently generated demo set (another seed, never trained on) it reports
   accuracy, FPR and FNR at 0.5 and ROC AUC for braai, and per-class recall of the streak ensemble's decision.
3. Real data: on the real ZTF packets of ../shared/data (which the model never saw) it reports ROC AUC against
   labels derived from ``drb`` (drb > 0.9 real, drb < 0.1 bogus) and the Spearman rank correlation with drb.
   KEY: drb is the score of ZTF's own deployed braai model. drb-derived labels are braai's outputs, NOT human
   labels: agreement with them measures how close Blink's model comes to ZTF's braai, not the truth.

``--active`` also evaluates the database's active real/bogus version on the real packets.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

from blinkbench import emit as blinkbench_emit  # bench/ is the running script's folder, so on sys.path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DRB_KEY = (
    "drb-derived labels (drb > 0.9 real, drb < 0.1 bogus) are the outputs of ZTF's deployed braai model, "
    "not human labels; they measure agreement with braai, not truth"
)


emit = partial(blinkbench_emit, "evaluate", digits=None)


def rounded(value):
    return None if value is None else round(float(value), 4)


def evaluate_real(scores, packets, model: str) -> None:
    import numpy as np
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    from classifiers.labelled import drb_targets

    drb = packets.drb
    has = np.isfinite(drb)
    targets = drb_targets(drb)
    labelled = np.isfinite(targets)
    y = targets[labelled].astype(int)
    context = {"data": "real", "model": model, "labels": "drb-derived", "key": DRB_KEY}
    auc = roc_auc_score(y, scores[labelled]) if 0 < y.sum() < len(y) else None
    emit(
        "roc_auc_vs_drb_labels",
        rounded(auc),
        n=int(labelled.sum()),
        n_real=int(y.sum()),
        n_bogus=int(len(y) - y.sum()),
        **context,
    )
    rho = spearmanr(scores[has], drb[has]).statistic
    emit("spearman_vs_drb", rounded(rho), n=int(has.sum()), **context)
    rb = packets.rb
    has_rb = np.isfinite(rb)
    emit(
        "spearman_vs_rb",
        rounded(spearmanr(scores[has_rb], rb[has_rb]).statistic),
        n=int(has_rb.sum()),
        **{**context, "labels": "rb (IPAC random forest score, not human labels)"},
    )
    emit("share_scored_real_at_0.5", rounded(float(np.mean(scores >= 0.5))), n=len(scores), **context)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-n", type=int, default=3000, help="demo alerts to train on (default 3000)")
    parser.add_argument("--test-n", type=int, default=1000, help="fresh demo alerts to test on (default 1000)")
    parser.add_argument("--seed", type=int, default=2024, help="seed of the training demo set")
    parser.add_argument("--test-seed", type=int, default=77, help="seed of the test demo set")
    parser.add_argument("--epochs", type=int, default=30, help="maximum braai epochs")
    parser.add_argument("--streak-epochs", type=int, default=20, help="maximum epochs per streak member")
    parser.add_argument("--skip-streaks", action="store_true")
    parser.add_argument("--active", action="store_true", help="also evaluate the database's active braai version")
    args = parser.parse_args()

    import django

    django.setup()
    import numpy as np
    from django.conf import settings

    from classifiers.architectures import BraaiHyperparameters, StreakHyperparameters
    from classifiers.datasets import read_packets
    from classifiers.evaluation import binary_metrics
    from classifiers.inference import Predictor
    from classifiers.labelled import real_bogus_targets
    from classifiers.training import fit_braai, fit_streaks, per_class_recall
    from fixtures.datasets import demo_packets

    work = Path(tempfile.mkdtemp(prefix="blink-evaluate-"))
    started = time.perf_counter()
    train = demo_packets(args.train_n, args.seed, work / "train")
    test = demo_packets(args.test_n, args.test_seed, work / "test")
    overlap = set(train.candids) & set(test.candids)
    keep = np.array([c not in overlap for c in test.candids])
    print(
        f"# demo sets ready in {time.perf_counter() - started:.0f} s: train {len(train)}, test {int(keep.sum())}",
        file=sys.stderr,
    )

    hp = BraaiHyperparameters(epochs=args.epochs, patience=6, batch_size=64, learning_rate=5e-4, seed=args.seed)
    started = time.perf_counter()
    braai = fit_braai(train.x, real_bogus_targets(train.truth), np.ones(len(train)), train.object_ids, hp=hp)
    train_s = time.perf_counter() - started
    label = f"braai_vgg6 trained on {len(train)} demo alerts (seed {args.seed})"
    emit("train_s", round(train_s, 1), model=label, epochs_run=braai.metrics["epochs_run"], data="demo")

    predictor = Predictor(braai.model)
    x_test = test.x[keep]
    truth = [t for t, k in zip(test.truth, keep, strict=True) if k]
    y_test = real_bogus_targets(truth)
    scores = predictor.scores(x_test)
    metrics = binary_metrics(y_test, scores, 0.5)
    context = {"data": "demo", "model": label, "labels": "demo truth (known by construction)", "n": len(y_test)}
    for name in ("accuracy", "fpr", "fnr", "roc_auc", "precision", "recall"):
        emit(name, rounded(metrics[name]), threshold=0.5, **context)
    for cls, row in per_class_recall(truth, scores >= 0.5).items():
        # For braai "correct" means: real called real, every bogus type called bogus (expected_plausible unused).
        of_class = np.array([t == cls for t in truth])
        right = float(np.mean((scores[of_class] >= 0.5) == y_test[of_class]))
        emit("braai_class_recall", round(right, 4), **{**context, "class": cls, "n": row["n"]})

    if not args.skip_streaks:
        streak_hp = StreakHyperparameters(epochs=args.streak_epochs, seed=args.seed)
        started = time.perf_counter()
        streaks = fit_streaks(train.x, train.truth, np.ones(len(train)), train.object_ids, hp=streak_hp)
        emit("train_s", round(time.perf_counter() - started, 1), model="streak ensemble", data="demo")
        score, plausible, _ = streaks.ensemble.predict(x_test)
        streak_context = {
            "data": "demo",
            "model": f"streak ensemble, {streak_hp.members_per_group} members per group",
            "labels": "demo truth",
            "thresholds": {g: round(t, 3) for g, t in streaks.thresholds.items()},
        }
        for cls, row in per_class_recall(truth, plausible).items():
            emit(
                "streak_class_recall",
                round(row["recall"], 4),
                **{
                    **streak_context,
                    "class": cls,
                    "n": row["n"],
                    "correct_decision": "plausible" if row["expected_plausible"] else "not plausible",
                },
            )

    real_dir = Path(settings.SHARED_DATA_DIR) / "ztf"
    if not real_dir.exists():
        emit("roc_auc_vs_drb_labels", None, data="real", note=f"no real packets at {real_dir}")
        return
    real = read_packets([real_dir / "avro", real_dir / "parquet"])
    evaluate_real(Predictor(braai.model).scores(real.x), real, label)

    if args.active:
        from classifiers.registry import active_version, load_model

        version = active_version("real_bogus")
        if version is not None:
            trained_on = version.training_set.get("source", "?")
            evaluate_real(
                Predictor(load_model(version)).scores(real.x),
                real,
                f"{version.label} (active; trained on {trained_on})",
            )


if __name__ == "__main__":
    main()
