"""``manage.py reap_training_runs``: mark trainings whose worker died as failed and queue their one retry."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Find training runs still 'running' whose worker stopped beating (killed, machine lost), mark them failed "
        "(the active model is never touched by an unfinished run) and queue one retry per run (at most two "
        "attempts). Every training request and every task start already do this; run it from cron or with "
        "--every to cover quiet periods."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--stale-after",
            type=float,
            help="seconds without a heartbeat before a run counts as dead (default: BLINK TRAINING_STALE_SECONDS)",
        )
        parser.add_argument("--every", type=float, help="keep running, checking every this many seconds")

    def handle(self, *args, **opts):
        from classifiers.runs.worker import reap_stale_runs

        if opts["stale_after"] is not None and opts["stale_after"] < 0:
            raise CommandError("--stale-after must be zero or more seconds")
        if opts["every"] is not None and opts["every"] <= 0:
            raise CommandError("--every must be a positive number of seconds")
        while True:
            reaped = reap_stale_runs(stale_after=opts["stale_after"])
            for run in reaped:
                self.stdout.write(f"run #{run.pk} ({run.task}, attempt {run.attempts}): {run.error}")
            self.stdout.write(f"{len(reaped)} stale run(s) reaped.")
            if not opts["every"]:
                return
            time.sleep(opts["every"])
