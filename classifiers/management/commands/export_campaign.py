"""Export a campaign: Zooniverse classification/workflow CSVs, consensus labels, or an .npz training set.

It lives with the classifiers because the training set needs their preprocessing; the text exports are
``labeling.exports``'s."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from classifiers.exports import KINDS, write_training_set
from labeling.exports import METHODS, ExportError, ensure_consensus, export_stream
from labeling.models import Campaign


class Command(BaseCommand):
    help = (
        "Export campaign SLUG. --kind zooniverse: classifications in Zooniverse's classification-export CSV "
        "layout (panoptes_aggregation reads it); workflow: the matching workflow-export CSV; consensus-csv / "
        "consensus-json: one label per subject (candid, objectId, label, confidence, n_votes, method); npz: a "
        "training set (stamps N x 63 x 63 x 3, labels, candids, objectIds). The file is written atomically."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the campaign's slug")
        parser.add_argument("--kind", required=True, choices=KINDS)
        parser.add_argument("--out", required=True, help="output file (replaced atomically)")
        parser.add_argument(
            "--method", choices=METHODS, default="dawid_skene", help="consensus method for labels (default dawid_skene)"
        )
        parser.add_argument("--retired-only", action="store_true", help="only retired subjects (consensus, npz)")

    def handle(self, *args, **opts):
        campaign = Campaign.objects.filter(slug=opts["slug"]).first()
        if campaign is None:
            raise CommandError(f"no campaign with the slug {opts['slug']!r}")
        out = Path(opts["out"])
        if not out.parent.exists():
            raise CommandError(f"{out.parent}: no such directory")
        kind = opts["kind"]
        started = time.monotonic()
        ensure_consensus(campaign, kind=kind, method=opts["method"])
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
        try:
            if kind == "npz":
                with os.fdopen(fd, "wb") as fh:
                    n = write_training_set(campaign, fh, method=opts["method"], retired_only=opts["retired_only"])
                unit = "subjects"
            else:
                total = campaign.votes.count() if kind == "zooniverse" else None
                n = -1  # the header line
                with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                    bar = tqdm(total=total, unit="row", disable=total is None or not total, leave=False)
                    for chunk in export_stream(
                        campaign, kind, method=opts["method"], retired_only=opts["retired_only"]
                    ):
                        fh.write(chunk)
                        n += 1
                        bar.update(1)
                    bar.close()
                if kind == "consensus-json":
                    n -= 1  # the closing line
                unit = "rows"
            os.replace(tmp, out)
        except ExportError as exc:
            os.unlink(tmp)
            raise CommandError(str(exc)) from exc
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        self.stdout.write(
            self.style.SUCCESS(
                f"{campaign.slug}: {kind} export, {n} {unit}, written to {out} in {time.monotonic() - started:.1f} s"
            )
        )
