"""Scoring, explanation and training speed of braai on this machine's CPU (JSON lines on stdout).

    python bench/score.py [--n 10000] [--threads N] [--no-db] [--keep-db]

Metrics (``"bench": "score"``), the first three for each input recipe (``recipe``: ``default``, the whole-cutout
normalisation of Blink-trained models, and ``row``, braai d6_m7's per-row normalisation):
  limit_per_s            the bare VGG6 ``tf.function`` on the same N already preprocessed inputs, in batches of
                         1,024: what this machine's CPUs allow for the network alone, measured in the same run
  alerts_per_s           raw stamps -> preprocess() -> VGG6 score, over N alerts (path "arrays"); and the whole
                         ``score_alerts`` path from the database (read stored stamps, preprocess, score, upsert Score
                         rows; path "db")
  ratio_to_limit         alerts_per_s / limit_per_s of the same recipe, per path (target >= 0.9)
  gradcam_ms_per_alert   Grad-CAM at conv4, batched (256 a batch)
  saliency_ms_per_alert  vanilla saliency, batched
  train_s_per_epoch_10k  one training epoch (augmentation included) over 10,000 stamps
  peak_rss_mb            peak resident memory of this process (the worker does the same work)

The model is the published braai d6_m7 (../shared/models/braai) when present, else a VGG6 with random weights (the
same arithmetic, so the same speed). Stamps are the real ZTF cutouts of ../shared/data (cycled to N), or demo
stamps when those are absent. The db path runs in a throwaway PostgreSQL database (``blink_bench_score``, on
DATABASE_URL's server, dropped afterwards unless --keep-db): the packets are ingested, copied to N alerts, and the
model registered once per recipe. Every line carries the 1-minute load average: others' work on a shared machine
lowers both the path and the limit, not always alike.
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

from blinkbench import bench_database, replicate_alerts, shared_server_url  # bench/ is on sys.path
from blinkbench import emit as blinkbench_emit

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


BENCH_DB = "blink_bench_score"
BATCH = 1024


def model_under_test():
    from classifiers.architectures import braai_vgg6
    from classifiers.braai_import import load_published_braai, published_braai_dir
    from classifiers.runtime import keras

    folder = published_braai_dir()
    if folder is not None:
        return load_published_braai("d6_m7", folder)[0], "braai d6_m7 (published weights)"
    keras().utils.set_random_seed(0)
    return braai_vgg6(), "braai_vgg6 (random weights, same arithmetic)"


def recipes() -> dict:
    from classifiers.preprocessing import D6_M7_RECIPE, DEFAULT_RECIPE

    return {"default": DEFAULT_RECIPE, "row": D6_M7_RECIPE}


def bare_network(model):
    """The network alone as one traced function: the limit every scoring path is measured against."""
    from classifiers.runtime import tensorflow

    tf = tensorflow()
    spec = tf.TensorSpec(shape=(None, *model.inputs[0].shape[1:]), dtype=tf.float32)

    @tf.function(input_signature=[spec])
    def forward(x):
        return model(x, training=False)

    def run(x):
        for i in range(0, len(x), BATCH):
            forward(x[i : i + BATCH]).numpy()

    return run


def stored_alerts(n: int) -> list[int]:
    """N alerts with stored stamps in the bench database: the packets ingested, then copied."""
    from django.conf import settings

    from labeling.ingest import ingest_paths
    from labeling.models import Alert

    real = Path(settings.SHARED_DATA_DIR) / "ztf"
    if real.exists():
        paths = [real / "avro", real / "parquet"]
    else:
        from fixtures.demo_alerts import write_demo_alerts

        paths = write_demo_alerts(Path(tempfile.mkdtemp()), n=600, seed=5)
    ingest_paths(paths, workers=0)
    replicate_alerts(n)
    return list(Alert.objects.order_by("pk").values_list("pk", flat=True))


def register_per_recipe(model) -> dict:
    from classifiers import registry
    from classifiers.architectures import BRAAI_VGG6, BraaiHyperparameters

    return {
        name: registry.register(
            task="real_bogus",
            architecture=BRAAI_VGG6,
            model_bytes=registry.keras_bytes(model),
            hyperparameters=BraaiHyperparameters(input_recipe=recipe.to_dict()).to_dict(),
            training_set={"n_labels": 0},
            metrics={},
            notes=f"bench: scoring speed with the {name} recipe",
        )
        for name, recipe in recipes().items()
    }


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def bench_scoring(raw, model, label: str, context: dict, *, use_db: bool, repeats: int = 3) -> None:
    """Per recipe: the limit, the arrays path and the db path, taken in turns (so that a change in others' load
    falls on all three alike), each the best of ``repeats``."""
    from classifiers.inference import Predictor
    from classifiers.preprocessing import preprocess
    from classifiers.scoring import score_alerts

    n = len(raw)
    ids = stored_alerts(n) if use_db else []
    versions = register_per_recipe(model) if use_db else {}
    predictor = Predictor(model)
    network = bare_network(model)
    for name, recipe in recipes().items():
        common = {"recipe": name, "n": n, "batch": BATCH, "model": label, **context}
        x = preprocess(raw, recipe)
        network(x[:BATCH])  # trace once, outside the timing
        predictor.scores(x[:BATCH])
        paths = {"arrays": lambda recipe=recipe: predictor.scores(preprocess(raw, recipe))}
        if name in versions:
            score_alerts(ids[:BATCH], versions[name])  # warm: model load, traces
            paths["db"] = lambda version=versions[name]: score_alerts(ids, version)
        seconds = {"limit": [], **{path: [] for path in paths}}
        for _ in range(repeats):
            seconds["limit"].append(timed(lambda x=x: network(x)))
            for path, fn in paths.items():
                seconds[path].append(timed(fn))
        limit = n / min(seconds["limit"])
        emit("limit_per_s", round(limit, 1), what="bare VGG6 tf.function on preprocessed inputs", **common)
        preprocess_share = min(timed(lambda recipe=recipe: preprocess(raw, recipe)) for _ in range(2)) / min(
            seconds["arrays"]
        )
        for path in paths:
            rate = n / min(seconds[path])
            extra = {"preprocess_share": round(preprocess_share, 3)} if path == "arrays" else {"db": "postgresql"}
            emit("alerts_per_s", round(rate, 1), path=path, **extra, **common)
            emit("ratio_to_limit", round(rate / limit, 3), path=path, limit_per_s=round(limit, 1), **common)


def bench_explanations_and_training(raw, model, label: str, context: dict, skip_train: bool) -> None:
    import numpy as np

    from classifiers.explanations import Explainer
    from classifiers.preprocessing import INPUT_SHAPE, preprocess

    x = preprocess(raw[:2048])
    explainer = Explainer(model)
    explainer.gradcam(x[:256])
    explainer.saliency(x[:256])
    for kind, fn in (("gradcam", explainer.gradcam), ("saliency", explainer.saliency)):
        seconds = best_of(3, lambda fn=fn: fn(x))
        emit(f"{kind}_ms_per_alert", round(1000 * seconds / len(x), 3), n=len(x), batch=256, model=label, **context)

    if not skip_train:
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


def run(args, *, use_db: bool) -> None:
    from classifiers.runtime import cpu_threads, tensorflow

    tf = tensorflow()
    gpus = tf.config.list_physical_devices("GPU")
    context = {"device": "gpu" if gpus else "cpu", "threads": cpu_threads()}
    raw, source, distinct = raw_stamps(args.n)
    model, label = model_under_test()
    bench_scoring(raw, model, label, {**context, "stamps": source, "distinct_alerts": distinct}, use_db=use_db)
    bench_explanations_and_training(raw, model, label, context, args.skip_train)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    emit("peak_rss_mb", round(peak, 1), note="this process: stamps, model, scoring, explanations, training", **context)


def postgres_reachable() -> bool:
    import psycopg

    try:
        psycopg.connect(shared_server_url(), connect_timeout=5).close()
    except psycopg.Error as exc:
        print(f"# db path skipped: {type(exc).__name__}: {exc}", file=sys.stderr)
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="stamps to score (default 10000)")
    parser.add_argument("--threads", type=int, help="TensorFlow threads (default: the CPUs this process may use)")
    parser.add_argument("--skip-train", action="store_true", help="do not time a training epoch")
    parser.add_argument("--no-db", action="store_true", help="time the arrays path only (no PostgreSQL needed)")
    parser.add_argument("--keep-db", action="store_true", help=f"keep the {BENCH_DB} database afterwards")
    args = parser.parse_args()
    if args.threads:
        os.environ["BLINK_TF_THREADS"] = str(args.threads)
    if not args.no_db and postgres_reachable():
        with bench_database(BENCH_DB, keep=args.keep_db):
            run(args, use_db=True)
        return
    import django

    django.setup()
    run(args, use_db=False)


if __name__ == "__main__":
    main()
