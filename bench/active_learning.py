"""The active-learning loop's figures, printed as JSON lines ``{"bench": "al", "metric": ..., "value": ...}``.

    python bench/active_learning.py [--pool 1000000] [--loop-alerts 100000] [--skip-loop] [--skip-sim]
                                    [--demo-n 8000] [--demo-rounds 20] [--demo-strategies LIST]
                                    [--sim-demo DIR] [--sim-real DIR] [--keep-db]

1. ``query_ms`` (pool 1,000,000): choosing the next batch of 50 from a million stored probabilities -- modAL's
   uncertainty measure on a ``StoredProbabilityClassifier`` and an ``argpartition`` -- the median of 7 runs,
   per strategy (uncertainty, margin, entropy, a 5-member committee). Target: < 200 ms.
   ``ranked_batch_ms``: modAL's ranked batch-mode sampler for a batch of 50, on 256-d ``dense1`` embeddings for
   several shortlist and labelled-set sizes, and on raw 63x63x3 stamps (11,907 numbers each) for comparison.
2. ``loop_s`` (alerts 100,000): label -> retrain -> promote -> rescore 100,000 alerts -> reorder the queue, in a
   throwaway PostgreSQL database (``blink_bench_al``, dropped at the end unless --keep-db): 1,000 demo alerts are
   ingested through the real ingest path and replicated in SQL to 100,000 (new candids, same stamps); a live
   campaign holds them all; 500 subjects get consensus labels from demo truth; then the retraining run, its
   held-out evaluation and promotion, the rescoring of every unretired subject and the reordering run exactly as
   the worker runs them (in this process). Breakdown keys give each step's seconds.
3. ``label_saving`` per strategy and ``data`` (demo / real): from ``manage.py simulate_active_learning`` runs
   (3 seeds, braai VGG6; every strategy on demo data, uncertainty and random on the real packets by default):
   the demo run on --demo-n generated alerts (8,000: a pool of ~6,000 and a fixed test set of ~2,000), 100 random
   labels then --demo-rounds rounds of 50; the real run on ../shared/data/ztf (5 rounds) with drb-derived labels
   (braai's outputs, not human labels). Pass --sim-demo / --sim-real to read finished runs' ``summary.json``
   instead of running them (a replay retrains a network every round, the committee three: it takes long).
4. ``labels_to_target`` and ``label_saving`` with ``data=real_transfer``: the transfer scenario
   (``simulate_active_learning --scenario transfer``) on the real alerts: the published d6_m9, fine-tuned after
   each batch towards d6_m7's verdicts (drb > 0.5, a model's output standing in for a new labelling standard);
   for uncertainty and random, the labels needed to reach Spearman >= 0.95 with drb on the test objects (null:
   not reached within the rounds run). --transfer-* set its size (small by default: minutes on 2 cores);
   --sim-transfer reads a finished run; ``--sims transfer`` runs this simulation alone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
from blinkbench import emit as blinkbench_emit
from blinkbench import recreate_database, replicate_alerts  # bench/ is the running script's folder, so on sys.path
from blinkbench import shared_server_url as server_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BENCH_DB = "blink_bench_al"
# The demo simulation's pool: active learning chooses from a pool much larger than what gets labelled (Blink's
# queues hold a night of alerts). With 2,000 alerts (a 1,500 pool) the last rounds labelled 40 % of the pool and
# every strategy ran out of informative candidates; 8,000 alerts keep the labelled share under 15 %.
DEMO_N = 8000
# 100 + 20 x 50 = 1,100 labels, 18 % of the pool. The saving depends on this budget, because uncertainty
# sampling saturates early while random sampling keeps creeping up; the figure is printed with its rounds and
# labels.
DEMO_ROUNDS = 20


emit = partial(blinkbench_emit, "al", digits=3)


def median_ms(fn, repeat: int = 7) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)


# --------------------------------------------------------------------------------------------------- query


def bench_query(pool: int) -> None:
    from activelearning import strategies

    rng = np.random.default_rng(0)
    # Stored scores look like a trained model's: most near 0 or 1, some in between.
    proba = np.where(rng.random(pool) < 0.5, rng.beta(0.5, 6, pool), rng.beta(6, 0.5, pool)).astype(np.float32)
    keys = rng.random(pool)
    members = np.clip(proba[:, None] + rng.normal(0, 0.1, (pool, 5)), 0, 1).astype(np.float32)
    for strategy in ("uncertainty", "margin", "entropy", "committee"):
        scores = strategies.PoolScores(
            proba=proba, random_key=keys, members=members if strategy == "committee" else None
        )

        def choose(scores=scores, strategy=strategy):
            result = strategies.priorities(strategy, scores)
            return strategies.select_batch(result.priority, 50)

        picked = choose()
        assert len(picked) == 50
        emit("query_ms", median_ms(choose), pool=pool, batch=50, strategy=strategy, target_ms=200,
             note="utility on stored probabilities (equal to modAL's measures) + argpartition")  # fmt: skip


def bench_ranked_batch() -> None:
    from activelearning import strategies

    rng = np.random.default_rng(1)

    def data(candidates, labeled, dim):
        return (
            rng.normal(size=(candidates, dim)).astype(np.float32),
            rng.normal(size=(labeled, dim)).astype(np.float32),
            rng.random(candidates),
        )

    def timed(x, lab, unc, batch, use_modal, repeat):
        def run():
            return strategies.ranked_batch_order(
                pool_embeddings=x, pool_uncertainty=unc, labeled_embeddings=lab, n_instances=batch,
                candidates=len(x), use_modal=use_modal,
            )  # fmt: skip

        if repeat == 1:
            t0 = time.perf_counter()
            run()
            return (time.perf_counter() - t0) * 1000.0
        return median_ms(run, repeat=repeat)

    # Blink's incremental form of the sampler (same picks as modAL's, tested) on dense1 embeddings.
    for candidates, labeled in ((1000, 500), (2000, 2000), (5000, 2000)):
        x, lab, unc = data(candidates, labeled, 256)
        emit("ranked_batch_ms", timed(x, lab, unc, 50, False, 3), space="dense1_embedding_256",
             implementation="blink_incremental", candidates=candidates, labeled=labeled, batch=50)  # fmt: skip
    # modAL's own sampler, for comparison, on embeddings and on raw 63x63x3 stamps (single runs: it is slow).
    x, lab, unc = data(1000, 500, 256)
    emit("ranked_batch_ms", timed(x, lab, unc, 50, True, 1), space="dense1_embedding_256",
         implementation="modal", candidates=1000, labeled=500, batch=50)  # fmt: skip
    x, lab, unc = data(1000, 500, 63 * 63 * 3)
    emit("ranked_batch_ms", timed(x, lab, unc, 50, False, 1), space="raw_stamps_11907",
         implementation="blink_incremental", candidates=1000, labeled=500, batch=50)  # fmt: skip
    emit("ranked_batch_ms", timed(x, lab, unc, 10, True, 1), space="raw_stamps_11907",
         implementation="modal", candidates=1000, labeled=500, batch=10, note="batch of 10 only: it is slow")  # fmt: skip


# --------------------------------------------------------------------------------------------------- loop


def bench_loop(n_alerts: int) -> None:
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    _run_loop(n_alerts, settings, connection)


def _run_loop(n_alerts: int, settings, connection) -> None:
    from activelearning.policy import request_retraining, rescore_and_reorder
    from activelearning.queue import reorder_campaign
    from classifiers import registry
    from classifiers.architectures import BRAAI_VGG6, BraaiHyperparameters, braai_vgg6
    from classifiers.models import Score
    from classifiers.runs.worker import execute_run
    from classifiers.runtime import keras
    from fixtures.demo_alerts import write_demo_alerts
    from fixtures.demo_users import create_demo_users
    from labeling.ingest import ingest_paths
    from labeling.models import REAL_BOGUS_CLASSES, Campaign, Subject

    t0 = time.perf_counter()
    base = min(1000, n_alerts)
    with tempfile.TemporaryDirectory() as tmp:
        report = ingest_paths(write_demo_alerts(Path(tmp), n=base, seed=5))
    assert report.rejected == 0, report.errors
    replicate_alerts(n_alerts)
    users = create_demo_users()
    scientist = next(u for u in users if u.username == "scientist")
    mllead = next(u for u in users if u.username == "mllead")
    campaign = Campaign.objects.create(
        name="Bench", slug="bench", owner=scientist, classes=REAL_BOGUS_CLASSES, state=Campaign.State.LIVE
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO labeling_subject (campaign_id, alert_id, added_at, gold_answer, gold_note, n_classifications, "
            "n_votes, retired, retired_reason, majority_label, weighted_label, priority, random_key) "
            "SELECT %s, id, now(), '', '', 0, 0, false, '', '', '', 0, random() FROM labeling_alert",
            [campaign.pk],
        )
    keras().utils.set_random_seed(0)
    model = braai_vgg6()
    v1 = registry.register(
        task="real_bogus", architecture=BRAAI_VGG6, model_bytes=registry.keras_bytes(model),
        hyperparameters=BraaiHyperparameters().to_dict(), training_set={"n_labels": 0}, metrics={},
        thresholds={"operating": 0.5},
    )  # fmt: skip
    registry.promote(v1, actor=None, reason="bench: first version")
    emit("loop_setup_s", time.perf_counter() - t0, alerts=n_alerts, ingested=base, db="postgresql")

    # "Label": 500 subjects of the original (ingested) alerts settle with a consensus, as votes would leave them.
    t_label = time.perf_counter()
    labelled = list(
        Subject.objects.filter(campaign=campaign, alert__candid__lt=8_000_000_000_000_000_000)
        .select_related("alert")
        .order_by("alert__candid")[:500]
    )
    for s in labelled:
        s.retired = True
        s.majority_label = "real" if s.alert.demo_truth == "real" else "bogus"
        s.majority_fraction = 0.8
        s.n_votes = 5
    Subject.objects.bulk_update(labelled, ["retired", "majority_label", "majority_fraction", "n_votes"])
    label_s = time.perf_counter() - t_label

    settings.BLINK = {**settings.BLINK, "PROMOTE_MARGIN": 1.0}  # the bench measures the path that promotes
    t_train = time.perf_counter()
    run, _ = request_retraining(task="real_bogus", campaign=campaign, user=mllead, options={"epochs": 8})
    outcome = execute_run(run.pk)
    train_s = time.perf_counter() - t_train
    if not outcome.get("promoted"):
        emit("loop_s", None, alerts=n_alerts, error=f"not promoted: {outcome}")
        return
    run.refresh_from_db()
    events = {e.get("step") or e["phase"]: e for e in run.progress}
    epochs = [e for e in run.progress if e.get("step") == "epoch"]
    t_rescore = time.perf_counter()
    summary = rescore_and_reorder(run.version_id, run_id=run.pk)
    rescore_s = time.perf_counter() - t_rescore
    reorder_ms = [e["duration_ms"] for e in run.__class__.objects.get(pk=run.pk).progress if e["phase"] == "reordered"]
    total = label_s + train_s + rescore_s
    n_scored = Score.objects.filter(version_id=run.version_id).count()
    emit(
        "loop_s", total, alerts=n_alerts, rescored=summary["rescored"], scores_stored=n_scored,
        label_s=round(label_s, 2), retrain_evaluate_promote_s=round(train_s, 2),
        rescore_and_reorder_s=round(rescore_s, 2), reorder_ms=reorder_ms[-1] if reorder_ms else None,
        rescore_alerts_per_s=round(summary["rescored"] / max(rescore_s, 1e-9), 1), labels=events["labels"]["n"],
        epochs=len(epochs), heldout=events["evaluated"]["heldout"]["n"], db="postgresql",
        model="braai_vgg6 warm-started from the active version",
    )  # fmt: skip
    # Reordering alone, again, from stored scores (what runs after every rescoring).
    t = time.perf_counter()
    reorder_campaign(campaign)
    emit("reorder_s", time.perf_counter() - t, subjects=Subject.objects.filter(campaign=campaign, retired=False).count(),
         strategy=campaign.strategy, db="postgresql")  # fmt: skip


# --------------------------------------------------------------------------------------------------- savings


def run_simulation(
    out: Path, strategies: list[str], *extra: str, initial: int = 100, batch: int = 50, seeds: int = 3
) -> Path:
    chosen = [arg for name in strategies for arg in ("--strategy", name)]
    cmd = [sys.executable, "manage.py", "simulate_active_learning", "--task", "real_bogus", *chosen,
           "--initial", str(initial), "--batch", str(batch), "--seeds", str(seeds), "--out", str(out), *extra]  # fmt: skip
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=sys.stderr)
    return out


def emit_savings(summary_dir: Path) -> None:
    summary = json.loads((summary_dir / "summary.json").read_text())
    metric = summary.get("metric", "auc")
    run = {key: summary["settings"][key] for key in ("seeds", "rounds", "initial", "batch")}
    for s in summary["savings"]:
        quality = {f"target_{metric}": round(s["target"], 4), f"final_{metric}": round(s["final"], 4)}
        if summary["data"] == "real_transfer":
            emit("labels_to_target", s["labels_needed"], strategy=s["strategy"], data=summary["data"], **quality,
                 **run, note="null: not reached within the rounds run")  # fmt: skip
        emit(
            "label_saving",
            None if s["saving"] is None else round(s["saving"], 4),
            strategy=s["strategy"],
            data=summary["data"],
            labels_needed=s["labels_needed"],
            random_labels=s["random_labels"],
            **quality,
            **run,
            dataset=summary["dataset"],
            exploration=summary["settings"].get("exploration", 0.0),
            pool=summary["pool"],
            test=summary["test"],
            model=summary["model"],
            oracle=summary["oracle"],
        )


def bench_transfer(args, out: Path, real_dir: Path) -> None:
    braai_dir = ROOT.parent / "shared" / "models" / "braai"
    if args.sim_transfer:
        emit_savings(args.sim_transfer)
    elif real_dir.exists() and braai_dir.exists():
        extra = ("--scenario", "transfer", "--rounds", str(args.transfer_rounds), "--source", str(real_dir))
        run = run_simulation(
            out,
            ["uncertainty", "random"],
            *extra,
            initial=args.transfer_initial,
            batch=args.transfer_batch,
            seeds=args.transfer_seeds,
        )
        emit_savings(run)
    else:
        emit("label_saving", None, strategy="uncertainty", data="real_transfer", note="no ../shared data or models")


def bench_simulations(args, which: set[str]) -> None:
    out = ROOT / "bench" / "out" / "al"
    real_dir = ROOT.parent / "shared" / "data" / "ztf"
    if "demo" in which:
        demo = args.sim_demo or run_simulation(
            out / "demo",
            args.demo_strategies.split(","),
            *("--rounds", str(args.demo_rounds), "--demo-n", str(args.demo_n)),
        )
        emit_savings(demo)
    if "real" in which:
        if args.sim_real:
            emit_savings(args.sim_real)
        elif real_dir.exists():
            strategies = args.real_strategies.split(",")
            emit_savings(run_simulation(out / "real", strategies, "--rounds", "5", "--source", str(real_dir)))
        else:
            emit("label_saving", None, data="real", note=f"no real packets at {real_dir}")
    if "transfer" in which:
        bench_transfer(args, out / "real_transfer", real_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pool", type=int, default=1_000_000)
    parser.add_argument("--loop-alerts", type=int, default=100_000)
    parser.add_argument("--skip-query", action="store_true")
    parser.add_argument("--skip-loop", action="store_true")
    parser.add_argument("--skip-sim", action="store_true")
    parser.add_argument("--sims", default="demo,real,transfer", help="which simulations (default all three)")
    parser.add_argument(
        "--demo-n",
        type=int,
        default=DEMO_N,
        help=f"generated demo alerts for the demo simulation (default {DEMO_N}: a pool of ~6,000, a quarter held out)",
    )
    parser.add_argument(
        "--demo-rounds",
        type=int,
        default=DEMO_ROUNDS,
        help=f"rounds of 50 labels after the first 100 (default {DEMO_ROUNDS})",
    )
    parser.add_argument("--sim-demo", type=Path, help="a finished demo simulation folder (has summary.json)")
    parser.add_argument("--sim-real", type=Path, help="a finished real-packet simulation folder (has summary.json)")
    parser.add_argument(
        "--demo-strategies",
        default="uncertainty,margin,entropy,committee,ranked_batch,random",
        help="strategies simulated on demo data, comma-separated (random is the baseline each saving is against)",
    )
    parser.add_argument(
        "--real-strategies",
        default="uncertainty,random",
        help="strategies simulated on the real packets (default uncertainty,random: the other measures rank a "
        "single-sigmoid model's scores the same way, and the committee trains three models a round)",
    )
    parser.add_argument("--sim-transfer", type=Path, help="a finished transfer-scenario folder (has summary.json)")
    parser.add_argument("--transfer-initial", type=int, default=20, help="transfer: labels before round 1 (20)")
    parser.add_argument("--transfer-batch", type=int, default=20, help="transfer: labels per round (20)")
    parser.add_argument("--transfer-rounds", type=int, default=10, help="transfer: rounds (10)")
    parser.add_argument("--transfer-seeds", type=int, default=2, help="transfer: seeds (2)")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    admin = None
    if not args.skip_loop:
        # The loop runs in a throwaway database: point Django at it before it is set up.
        admin = server_url()
        os.environ["DATABASE_URL"] = recreate_database(admin, BENCH_DB)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    try:
        if not args.skip_query:
            bench_query(args.pool)
            bench_ranked_batch()
        if not args.skip_sim:
            bench_simulations(args, set(args.sims.split(",")))
        if not args.skip_loop:
            bench_loop(args.loop_alerts)
    finally:
        if admin is not None:
            from django.db import connection

            connection.close()
            if not args.keep_db:
                recreate_database(admin, BENCH_DB, drop_only=True)


if __name__ == "__main__":
    main()
