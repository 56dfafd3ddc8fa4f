"""``manage.py export_scores``: scores as CSV for scientists and ML leads."""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from classifiers.models import TASK_HELP, Task

COLUMNS = ["candid", "objectId", "task", "version", "score", "plausible"]


class Command(BaseCommand):
    help = (
        "Write scores as CSV: candid, objectId, task, version, score, plausible (the streak ensemble's decision; "
        "empty for real/bogus). By default the active version of each task; --task and --version narrow it, "
        "--all-versions includes every version. The file is written atomically."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        # --version V names a model version here; Django's own --version (its release) gives way to it.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, metavar="FILE.csv", help="where to write the CSV")
        parser.add_argument("--task", choices=Task.values, help=f"only this task. {TASK_HELP}".replace("%", "%%"))
        parser.add_argument("--version", type=int, metavar="V", help="only this version number (needs --task)")
        parser.add_argument("--all-versions", action="store_true", help="every version, not only the active ones")

    def handle(self, *args, **opts):
        from tqdm import tqdm

        from classifiers.models import ModelVersion, Score

        if opts["version"] is not None and not opts["task"]:
            raise CommandError("--version needs --task (version numbers count per task)")
        versions = ModelVersion.objects.defer("weights")
        if opts["task"]:
            versions = versions.filter(task=opts["task"])
        if opts["version"] is not None:
            versions = versions.filter(version=opts["version"])
        elif not opts["all_versions"]:
            versions = versions.filter(status=ModelVersion.Status.ACTIVE)
        versions = list(versions)
        if not versions:
            raise CommandError("no matching model version (is a model active? see manage.py train_model)")
        out = Path(opts["out"])
        if not out.parent.exists():
            raise CommandError(f"--out: folder {out.parent} does not exist")
        scores = (
            Score.objects.filter(version__in=versions)
            .order_by("version__task", "version__version", "alert__candid")
            .values_list("alert__candid", "alert__object_id", "version__task", "version__version", "score", "details")
        )
        total = scores.count()
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", newline="") as handle, tqdm(total=total, unit="row", desc="export") as bar:
                writer = csv.writer(handle)
                writer.writerow(COLUMNS)
                for candid, object_id, task, number, score, details in scores.iterator(chunk_size=5000):
                    plausible = details.get("plausible") if isinstance(details, dict) else None
                    writer.writerow(
                        [candid, object_id, task, number, f"{score:.6f}", "" if plausible is None else int(plausible)]
                    )
                    bar.update(1)
            os.replace(tmp, out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        labels = ", ".join(v.label for v in versions)
        self.stdout.write(self.style.SUCCESS(f"Wrote {total} scores ({labels}) to {out}."))
