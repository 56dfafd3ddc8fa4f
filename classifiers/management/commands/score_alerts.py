"""``manage.py score_alerts``: batch scoring of alerts by a version, stored per (alert, version)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from classifiers.models import TASK_HELP, Task


class Command(BaseCommand):
    help = (
        "Score alerts by a model version and store one score per (alert, version). By default the task's active "
        "version scores every alert it has not scored yet; --all rescores everything (idempotent)."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        # --version V names a model version here; Django's own --version (its release) gives way to it.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument(
            "--task",
            default=Task.REAL_BOGUS,
            choices=Task.values,
            help=f"default real_bogus; a task scores its own survey's alerts only. {TASK_HELP}".replace("%", "%%"),
        )
        parser.add_argument(
            "--version", type=int, metavar="V", help="version number of the task (default: the active one)"
        )
        parser.add_argument("--all", action="store_true", help="rescore alerts already scored by this version")
        parser.add_argument("--embeddings", action="store_true", help="also store braai's dense1 embedding (float16)")
        parser.add_argument("--chunk", type=int, default=10240, help="alerts per database round trip (default 10240)")

    def handle(self, *args, **opts):
        import time

        from tqdm import tqdm

        from classifiers.models import ModelVersion, task_survey
        from classifiers.registry import active_version
        from classifiers.scoring import score_alerts, unscored_alerts
        from labeling.models import Alert

        task = opts["task"]
        if opts["version"] is not None:
            version = ModelVersion.objects.defer("weights").filter(task=task, version=opts["version"]).first()
            if version is None:
                raise CommandError(f"--version: {task} has no version {opts['version']}")
        else:
            version = active_version(task)
            if version is None:
                raise CommandError(
                    f"no active {task} version: train one (manage.py train_model --task {task} --promote)"
                )
        # The task's own survey's alerts: a ZTF model never scores a Rubin stamp, nor the reverse.
        own = Alert.objects.filter(survey=task_survey(task))
        alerts = own if opts["all"] else unscored_alerts(version, own)
        total = alerts.count()
        started = time.perf_counter()
        with tqdm(total=total, unit="alert", desc=f"scoring by {version.label}", dynamic_ncols=True) as bar:
            last = [0]

            def on_progress(event):
                bar.update(event["done"] - last[0])
                last[0] = event["done"]

            written = score_alerts(
                alerts, version, embeddings=opts["embeddings"], progress=on_progress, chunk=opts["chunk"]
            )
        seconds = time.perf_counter() - started
        rate = written / seconds if seconds > 0 else 0.0
        self.stdout.write(
            self.style.SUCCESS(f"Scored {written} alerts by {version.label} in {seconds:.1f} s ({rate:.0f}/s).")
        )
