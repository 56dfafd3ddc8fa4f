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

4. The published braai (../shared/models/braai) on every real packet that carries a ``drb``, Avro and Parquet
   alike: d6_m7, fed its own per-row recipe, against ``drb`` (median |score - drb|, ``drb_within_1e-3``,
   ``drb_spearman``); d6_m9 against ``drb`` (Spearman); and the forgetting check: d6_m7 fine-tuned on demo truth
   (the training path of ``train_model --from-version``, with and without frozen convolutions), its Spearman with
   ``drb`` before and after (``forgetting_spearman``, keys ``stage`` and ``freeze_conv``). KEY: ``drb`` IS d6_m7's
   own output, so these lines measure agreement with braai (a model), not truth.

5. Rubin (bench/evaluate_rubin.py): the real Rubin alerts of ../shared/data/lsst (ingested into a throwaway
   database, dropped afterwards), scored by braai imported into the Rubin task (centre fit) and by braai fine-tuned on
   reliability-derived labels, against Rubin's ``reliability`` (``rubin_spearman_vs_reliability``; the fine-tune
   measured on test objects only). KEY: reliability is Rubin's own real/bogus model, a model's opinion.
   ``--rubin-only`` runs this section alone; ``--skip-rubin`` leaves it out.

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
from evaluate_rubin import add_rubin_arguments, django_for, rubin_section

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DRB_KEY = (
    "drb-derived labels (drb > 0.9 real, drb < 0.1 bogus) are the outputs of ZTF's deployed braai model, "
    "not human labels; they measure agreement with braai, not truth"
)


# Every figure of the braai section compares with drb, which is d6_m7's own score: agreement with a model.
REFERENCE = "drb (braai d6_m7's own output, not human labels)"
FORMATS = ("avro", "parquet")


emit = partial(blinkbench_emit, "evaluate", digits=None)


def rounded(value):
    return None if value is None else round(float(value), 4)


def significant(value):
    """Four significant digits: a median difference of 6e-8 must not print as 0."""
    return None if value is None else float(f"{float(value):.4g}")


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


# ------------------------------------------------------------------------------------------ the published braai


def real_files(real_dir: Path, limit: int | None) -> dict[str, list[Path]]:
    """The real packet files of each format (the first ``limit`` of each when given)."""
    from labeling.ingest import expand_paths

    out = {}
    for fmt in FORMATS:
        files, _ = expand_paths([real_dir / fmt])
        out[fmt] = files[:limit] if limit else files
    return out


def alerts_with_drb(files: dict[str, list[Path]], recipe):
    """``(x, drb, formats)``: every alert that carries a ``drb``, made into input by ``recipe``; an alert found in
    both formats counts once."""
    import numpy as np

    from classifiers.datasets import read_packets

    seen: set[int] = set()
    xs, drbs, formats = [], [], []
    for fmt, paths in files.items():
        packets = read_packets(paths, recipe)
        keep = [i for i, c in enumerate(packets.candids) if np.isfinite(packets.drb[i]) and c not in seen]
        seen.update(packets.candids[i] for i in keep)
        xs.append(packets.x[keep])
        drbs.append(packets.drb[keep])
        formats += [fmt] * len(keep)
    return np.concatenate(xs), np.concatenate(drbs), np.array(formats)


def drb_agreement(scores, drb) -> dict:
    import numpy as np
    from scipy.stats import spearmanr

    diff = np.abs(np.asarray(scores, dtype=np.float64) - drb)
    return {
        "n": len(drb),
        "within_1e-3": float(np.mean(diff <= 1e-3)),
        "median_abs_diff": float(np.median(diff)),
        "spearman": float(spearmanr(scores, drb).statistic) if len(drb) > 1 else None,
    }


def emit_agreement(name: str, recipe, scores, drb, formats, metrics: dict[str, str]) -> dict:
    """One line per metric (``{metric name: agreement key}``), over every alert and per format."""
    overall = drb_agreement(scores, drb)
    by_format = {f: drb_agreement(scores[formats == f], drb[formats == f]) for f in FORMATS if (formats == f).any()}
    context = {"data": "real", "model": name, "recipe": recipe.describe(), "reference": REFERENCE}
    for metric, key in metrics.items():
        per_format = {f: {"n": a["n"], "value": significant(a[key])} for f, a in by_format.items()}
        emit(metric, significant(overall[key]), n=overall["n"], by_format=per_format, **context)
    return overall


def evaluate_published_braai(real_dir: Path, braai_dir: Path, demo: tuple | None, args) -> None:
    """Section 4: d6_m7 and d6_m9 against drb, then the forgetting check on the demo sets ``demo``."""
    from classifiers.braai_import import load_published_braai
    from classifiers.inference import Predictor

    files = real_files(real_dir, args.real_limit)
    d6_m7, m7_recipe = load_published_braai("d6_m7", braai_dir)
    x, drb, formats = alerts_with_drb(files, m7_recipe)
    scores = Predictor(d6_m7).scores(x)
    emit_agreement(
        "d6_m7",
        m7_recipe,
        scores,
        drb,
        formats,
        {"drb_median_abs_diff": "median_abs_diff", "drb_within_1e-3": "within_1e-3", "drb_spearman": "spearman"},
    )
    d6_m9, m9_recipe = load_published_braai("d6_m9", braai_dir)
    m9_x, m9_drb, m9_formats = alerts_with_drb(files, m9_recipe)
    emit_agreement("d6_m9", m9_recipe, Predictor(d6_m9).scores(m9_x), m9_drb, m9_formats, {"drb_spearman": "spearman"})
    if demo is not None:
        forgetting_check(d6_m7, m7_recipe, scores, x, drb, demo, args)


def forgetting_check(d6_m7, recipe, before, x_real, drb, demo: tuple, args) -> None:
    """Fine-tune d6_m7 on demo truth, as ``train_model --from-version`` does (its hyper-parameters, its array-level
    training), with and without frozen convolutions; Spearman with drb on the real alerts before and after, and
    ROC AUC on the held-out demo set, so that what was learnt shows beside what was forgotten."""
    from dataclasses import replace

    import numpy as np

    from classifiers.datasets import read_packets
    from classifiers.evaluation import binary_metrics
    from classifiers.inference import Predictor
    from classifiers.labelled import real_bogus_targets
    from classifiers.runs.steps import hyperparameters
    from classifiers.training import fit_braai

    train_dir, test_dir, keep = demo
    train = read_packets([train_dir], recipe)
    test = read_packets([test_dir], recipe)
    y_test = real_bogus_targets([t for t, k in zip(test.truth, keep, strict=True) if k])
    x_test = test.x[keep]

    def demo_auc(model) -> float | None:
        return rounded(binary_metrics(y_test, Predictor(model).scores(x_test), 0.5)["roc_auc"])

    hp = replace(
        hyperparameters("real_bogus", {"from_version": "d6_m7", "epochs": args.forgetting_epochs}),
        seed=args.seed,
        input_recipe=recipe.to_dict(),
    )
    context = {
        "data": "real",
        "model": "d6_m7",
        "reference": REFERENCE,
        "fine_tuned_on": f"{len(train)} demo alerts (demo truth, seed {args.seed})",
        "demo_test": int(keep.sum()),
        "n": len(drb),
    }
    emit(
        "forgetting_spearman",
        rounded(drb_agreement(before, drb)["spearman"]),
        stage="before",
        freeze_conv=None,
        demo_roc_auc=demo_auc(d6_m7),
        **context,
    )
    for freeze in (False, True):
        started = time.perf_counter()
        result = fit_braai(
            train.x,
            real_bogus_targets(train.truth),
            np.ones(len(train)),
            train.object_ids,
            hp=hp,
            initial_weights=d6_m7.get_weights(),
            freeze_conv=freeze,
        )
        after = Predictor(result.model).scores(x_real)
        emit(
            "forgetting_spearman",
            rounded(drb_agreement(after, drb)["spearman"]),
            stage="after",
            freeze_conv=freeze,
            demo_roc_auc=demo_auc(result.model),
            epochs_run=result.metrics["epochs_run"],
            learning_rate=hp.learning_rate,
            train_s=round(time.perf_counter() - started, 1),
            **context,
        )


# ------------------------------------------------------------------------------------------ main


def evaluate_demo_models(train, test, keep, args):
    """Sections 1 and 2: a fresh VGG6 (and the streak ensemble) trained and tested on demo truth; returns VGG6."""
    import numpy as np

    from classifiers.architectures import BraaiHyperparameters, StreakHyperparameters
    from classifiers.evaluation import binary_metrics
    from classifiers.inference import Predictor
    from classifiers.labelled import real_bogus_targets
    from classifiers.training import fit_braai, fit_streaks, per_class_recall

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
    return braai.model, label


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-n", type=int, default=3000, help="demo alerts to train on (default 3000)")
    parser.add_argument("--test-n", type=int, default=1000, help="fresh demo alerts to test on (default 1000)")
    parser.add_argument("--seed", type=int, default=2024, help="seed of the training demo set")
    parser.add_argument("--test-seed", type=int, default=77, help="seed of the test demo set")
    parser.add_argument("--epochs", type=int, default=30, help="maximum braai epochs")
    parser.add_argument("--streak-epochs", type=int, default=20, help="maximum epochs per streak member")
    parser.add_argument("--skip-streaks", action="store_true")
    parser.add_argument("--skip-demo", action="store_true", help="skip sections 1-3 (the models trained on demo data)")
    parser.add_argument("--skip-forgetting", action="store_true", help="skip the forgetting check of section 4")
    parser.add_argument(
        "--forgetting-epochs", type=int, default=10, help="maximum epochs of each fine-tune of d6_m7 (default 10)"
    )
    parser.add_argument("--real-limit", type=int, help="read only the first N real files of each format")
    parser.add_argument("--active", action="store_true", help="also evaluate the database's active braai version")
    add_rubin_arguments(parser)
    args = parser.parse_args()

    with django_for(args):
        run(args)


def run(args) -> None:
    from django.conf import settings

    from classifiers.braai_import import published_braai_dir

    if args.rubin_only:
        rubin_section(args, emit)
        return
    import numpy as np

    from classifiers.datasets import read_packets
    from classifiers.inference import Predictor
    from fixtures.datasets import demo_packets

    work = Path(tempfile.mkdtemp(prefix="blink-evaluate-"))
    demo = None
    if not (args.skip_demo and args.skip_forgetting):
        started = time.perf_counter()
        train = demo_packets(args.train_n, args.seed, work / "train")
        test = demo_packets(args.test_n, args.test_seed, work / "test")
        overlap = set(train.candids) & set(test.candids)
        keep = np.array([c not in overlap for c in test.candids])
        demo = (work / "train", work / "test", keep)
        print(
            f"# demo sets ready in {time.perf_counter() - started:.0f} s: train {len(train)}, test {int(keep.sum())}",
            file=sys.stderr,
        )
    braai = None if args.skip_demo else evaluate_demo_models(train, test, keep, args)

    real_dir = Path(settings.SHARED_DATA_DIR) / "ztf"
    if not real_dir.exists():
        emit("roc_auc_vs_drb_labels", None, data="real", note=f"no real packets at {real_dir}")
        if not args.skip_rubin:
            rubin_section(args, emit)
        return
    if braai is not None:
        real = read_packets([real_dir / "avro", real_dir / "parquet"])
        evaluate_real(Predictor(braai[0]).scores(real.x), real, braai[1])

    braai_dir = published_braai_dir()
    if braai_dir is None:
        emit("drb_within_1e-3", None, data="real", model="d6_m7", note="no published braai under ../shared/models")
    else:
        evaluate_published_braai(real_dir, braai_dir, None if args.skip_forgetting else demo, args)

    if args.active:
        from classifiers.registry import active_version, load_model, recipe_of

        version = active_version("real_bogus")
        if version is not None:
            trained_on = version.training_set.get("source", "?")
            real = read_packets([real_dir / "avro", real_dir / "parquet"], recipe_of(version))
            evaluate_real(
                Predictor(load_model(version)).scores(real.x),
                real,
                f"{version.label} (active; trained on {trained_on})",
            )
    if not args.skip_rubin:
        rubin_section(args, emit)


if __name__ == "__main__":
    main()
