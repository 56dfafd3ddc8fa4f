"""``manage.py simulate_active_learning``: replay the labelling loop with an oracle and measure the label saving."""

from __future__ import annotations

import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Replay the active-learning loop with an oracle: start from --initial random labels, then each round query "
        "--batch alerts by each --strategy, label them (demo truth; or, with --source pointing at real ZTF packets, "
        "labels derived from braai's drb score: drb > 0.9 real, drb < 0.1 bogus — braai's outputs, not human labels), "
        "retrain (warm start, a few epochs) and record ROC AUC on a fixed test set. Writes a JSON-lines log, a "
        "learning-curve plot (bokeh HTML and PNG) and prints the label saving of each strategy against random."
    )

    def add_arguments(self, parser):
        parser.add_argument("--task", default="real_bogus", choices=["real_bogus"], help="classifier task (real_bogus)")
        parser.add_argument(
            "--strategy",
            action="append",
            dest="strategies",
            choices=["uncertainty", "margin", "entropy", "committee", "ranked_batch", "random"],
            help="a query strategy; repeat for several (default: uncertainty and random)",
        )
        parser.add_argument("--initial", type=int, default=100, help="random labels to start from (default 100)")
        parser.add_argument("--batch", type=int, default=50, help="labels queried per round (default 50)")
        parser.add_argument("--rounds", type=int, default=10, help="query-label-retrain rounds (default 10)")
        parser.add_argument("--seeds", type=int, default=3, help="repetitions with different seeds (default 3)")
        parser.add_argument(
            "--source",
            nargs="+",
            help="Avro/Parquet packets (files, directories, globs) instead of generated demo alerts, "
            "e.g. ../shared/data/ztf",
        )
        parser.add_argument("--demo-n", type=int, default=2000, help="generated demo alerts (default 2000)")
        parser.add_argument("--demo-seed", type=int, default=11, help="demo generator seed (default 11)")
        parser.add_argument(
            "--model",
            choices=["braai", "small"],
            default="braai",
            help="braai's VGG6 (default) or the compact CNN of a DeepStreaks member (faster)",
        )
        parser.add_argument("--epochs", type=int, default=3, help="epochs per retraining round (default 3)")
        parser.add_argument("--first-epochs", type=int, default=8, help="epochs on the initial labels (default 8)")
        parser.add_argument("--learning-rate", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
        parser.add_argument(
            "--exploration",
            type=float,
            default=0.0,
            help="share of each batch drawn at random for the model-driven strategies, as the classify queue mixes "
            "in a campaign's exploration share (default 0: the pure strategy)",
        )
        parser.add_argument("--out", help="output folder (default var/simulation/<time>)")

    def handle(self, *args, **opts):
        from tqdm import tqdm

        from activelearning.simulation import ORACLE_NOTES, Settings, load_demo, load_packets, run_simulation

        strategies = opts["strategies"] or ["uncertainty", "random"]
        if "random" not in strategies:
            strategies.append("random")  # the baseline of the label saving
        for name in ("initial", "batch", "rounds", "seeds", "epochs"):
            if opts[name] < 1:
                raise CommandError(f"--{name} must be at least 1, got {opts[name]}")
        if not 0.0 <= opts["exploration"] < 1.0:
            raise CommandError(f"--exploration must be in [0, 1), got {opts['exploration']}")
        started = time.monotonic()
        try:
            if opts["source"]:
                dataset = load_packets(opts["source"], progress=True)
            else:
                dataset = load_demo(opts["demo_n"], opts["demo_seed"], progress=True)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Data: {dataset.description}" + (f"; {dataset.skipped} skipped" if dataset.skipped else ""))
        self.stdout.write(self.style.WARNING(ORACLE_NOTES[dataset.data]))
        cfg = Settings(
            strategies=strategies,
            initial=opts["initial"],
            batch=opts["batch"],
            rounds=opts["rounds"],
            seeds=opts["seeds"],
            model=opts["model"],
            epochs=opts["epochs"],
            first_epochs=opts["first_epochs"],
            learning_rate=opts["learning_rate"],
            exploration=opts["exploration"],
        )
        out = (
            Path(opts["out"]) if opts["out"] else Path(settings.VAR_DIR) / "simulation" / time.strftime("%Y%m%d-%H%M%S")
        )
        total = cfg.seeds * len(strategies) * (cfg.rounds + 1)
        bar = tqdm(total=total, desc="rounds", unit="round")

        def tick(point):
            bar.update(1)
            bar.set_postfix(strategy=point.strategy, seed=point.seed, labels=point.n_labels, auc=point.auc)

        try:
            report = run_simulation(dataset, cfg, out, on_point=tick)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        for note in report.notes:
            self.stdout.write(f"  {note}")
        self.stdout.write(f"Log (one JSON line per round): {report.log_path}")
        self.stdout.write(f"Learning curves: {report.html_path} and {report.png_path}")
        if report.savings:
            target = report.savings[0].target_auc
            self.stdout.write(
                self.style.MIGRATE_HEADING(f"Label saving (to reach random's final mean ROC AUC {target:.4f}):")
            )
            for s in sorted(report.savings, key=lambda s: s.strategy):
                if s.saving is None:
                    line = f"  {s.strategy:>12}: never reached it in {cfg.rounds} rounds (final AUC {s.final_auc:.4f})"
                else:
                    line = (
                        f"  {s.strategy:>12}: {s.labels_needed:7.1f} labels vs random's {s.random_labels:.1f} -> "
                        f"{100 * s.saving:5.1f}% fewer (final AUC {s.final_auc:.4f})"
                    )
                self.stdout.write(line)
        self.stdout.write(self.style.SUCCESS(f"Done in {time.monotonic() - started:.0f} s."))
