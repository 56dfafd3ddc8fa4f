"""Scoring, explanation and training speed of braai on this machine's CPU (JSON lines on stdout).

    python bench/score.py [--n 10000] [--threads N]

Metrics (``"bench": "score"``):
  alerts_per_s           raw stamps -> preprocess() -> VGG6 score, over N alerts (path "arrays"); and the whole
                         ``score_alerts`` path from the database (read stamps, preprocess, score, upsert Score
                         rows) when a database with alerts is configured (path "db")
  gradcam_ms_per_alert   Grad-CAM at conv4, batched (256 a batch)
  saliency_ms_per_alert  vanilla saliency, batched
  train_s_per_epoch_10k  one training epoch (augmentation included) over 10,000 stamps
  peak_rss_mb            peak resident memory of this process (the worker does the same work)

The model is the database's active real/bogus version when one exists, else a VGG6 with random weights (the
same arithmetic, so the same speed). Stamps are the real ZTF cutouts of ../shared/data (cycled to N), or demo
stamps when those are absent.
"""

from __future__ import annotations

import argparse
import os
import resource
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


emit = partial(blinkbench_emit, "score", digits=None, load_1m=True)


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def raw_stamps(n: int):
    """N raw (science, template, difference) triplets, NaN and edge stamps included, as stored after ingest."""
    from django.conf import settings

    from classifiers.datasets import prepared_triplet
    from labeling.ingest import expand_paths, prepare_file

    real = Path(settings.SHARED_DATA_DIR) / "ztf"
    if real.exists():
        files, _ = expand_paths([real / "avro", real / "parquet"])
        source = "real ZTF stamps of ../shared/data, cycled"
    else:
        from fixtures.demo_alerts import write_demo_alerts

        files = write_demo_alerts(Path(tempfile.mkdtemp()), n=600, seed=5)
        source = "demo stamps (../shared/data absent), cycled"
    triplets = []
    for path in files:
        prepared, _ = prepare_file(path)
        triplets += [prepared_triplet(alert) for alert in prepared]
    return [triplets[i % len(triplets)] for i in range(n)], source, len(triplets)


def model_under_test():
    try:
        from classifiers.registry import active_version, load_model

        version = active_version("real_bogus")
        if version is not None:
            return load_model(version), version.label
    except Exception as exc:  # no database here: the bench still measures the network
        print(f"# no database model ({type(exc).__name__}: {exc}); using random VGG6 weights", file=sys.stderr)
    from classifiers.architectures import braai_vgg6
    from classifiers.runtime import keras

    keras().utils.set_random_seed(0)
    return braai_vgg6(), "braai_vgg6 (random weights, same arithmetic)"


def bench_db_path(model_label: str, context: dict) -> None:
    from classifiers.registry import active_version
    from classifiers.scoring import score_alerts
    from labeling.models import Alert

    version = active_version("real_bogus")
    if version is None:
        return
    ids = list(Alert.objects.values_list("pk", flat=True)[:20000])
    if len(ids) < 200:
        return
    score_alerts(ids[:100], version)  # warm: model load, traces
    seconds = best_of(2, lambda: score_alerts(ids, version))
    emit("alerts_per_s", round(len(ids) / seconds, 1), path="db", n=len(ids), model=model_label, **context)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="stamps to score (default 10000)")
    parser.add_argument("--threads", type=int, help="TensorFlow threads (default: the CPUs this process may use)")
    parser.add_argument("--skip-train", action="store_true", help="do not time a training epoch")
    args = parser.parse_args()
    if args.threads:
        os.environ["BLINK_TF_THREADS"] = str(args.threads)

    import django

    django.setup()
    import numpy as np

    from classifiers.explanations import Explainer
    from classifiers.inference import Predictor
    from classifiers.preprocessing import INPUT_SHAPE, preprocess
    from classifiers.runtime import cpu_threads, tensorflow

    tf = tensorflow()
    gpus = tf.config.list_physical_devices("GPU")
    context = {"device": "gpu" if gpus else "cpu", "threads": cpu_threads()}

    raw, source, distinct = raw_stamps(args.n)
    model, label = model_under_test()
    predictor = Predictor(model)
    predictor.scores(preprocess(raw[:1024]))  # trace once, outside the timing

    seconds = best_of(3, lambda: predictor.scores(preprocess(raw)))
    preprocess_seconds = best_of(3, lambda: preprocess(raw))
    emit(
        "alerts_per_s",
        round(args.n / seconds, 1),
        path="arrays",
        n=args.n,
        batch=1024,
        preprocess_share=round(preprocess_seconds / seconds, 3),
        stamps=source,
        distinct_alerts=distinct,
        model=label,
        **context,
    )
    try:
        bench_db_path(label, context)
    except Exception as exc:  # no database, or no alerts in it
        print(f"# db path skipped: {type(exc).__name__}: {exc}", file=sys.stderr)

    x = preprocess(raw[:2048])
    explainer = Explainer(model)
    explainer.gradcam(x[:256])
    explainer.saliency(x[:256])
    for kind, fn in (("gradcam", explainer.gradcam), ("saliency", explainer.saliency)):
        seconds = best_of(3, lambda fn=fn: fn(x))
        emit(f"{kind}_ms_per_alert", round(1000 * seconds / len(x), 3), n=len(x), batch=256, model=label, **context)

    if not args.skip_train:
        from classifiers.architectures import braai_vgg6
        from classifiers.fitting import fit_binary

        n_train = 10_000
        x_train = preprocess([raw[i % len(raw)] for i in range(n_train)])
        y = (np.arange(n_train) % 2).astype(np.float32)
        w = np.ones(n_train, dtype=np.float32)
        empty = np.zeros((0, *INPUT_SHAPE), dtype=np.float32)
        fresh = braai_vgg6()
        common = dict(learning_rate=3e-4, batch_size=64, patience=5, augment_data=True, seed=0, member="bench")
        fit_binary(fresh, x_train[:256], y[:256], w[:256], empty, y[:0], w[:0], epochs=1, **common)  # trace
        history = fit_binary(fresh, x_train, y, w, empty, y[:0], w[:0], epochs=1, **common)
        emit("train_s_per_epoch_10k", history[0]["seconds"], n=n_train, batch=64, augment=True, **context)

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    emit("peak_rss_mb", round(peak, 1), note="this process: stamps, model, scoring, explanations, training", **context)


if __name__ == "__main__":
    main()
