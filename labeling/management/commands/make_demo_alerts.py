"""``manage.py make_demo_alerts --out DIR --n N --seed S``: deterministic demo packets with known truth."""

from __future__ import annotations

import collections
import json

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Write N deterministic demo alert packets (ZTF Avro schema 3.3, gzipped FITS cutouts) whose truth is known: "
        "real point sources (on and off host galaxies, several brightness levels) and the bogus types masked_star, "
        "yin_yang, ghost, cosmic_ray, satellite, asteroid and blank (CCD edge). The truth of each packet is kept in "
        "the Avro file metadata ('blink.demo_truth'), outside the ZTF schema. For demos and tests, never for "
        "evaluation in place of real alerts. Ingest them with: manage.py ingest_alerts DIR"
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="directory to write <candid>.avro files into")
        parser.add_argument("--n", type=int, default=200, help="number of alerts (default 200)")
        parser.add_argument("--seed", type=int, default=0, help="random seed; same n and seed give the same files")

    def handle(self, *args, **opts):
        from fixtures.demo_alerts import read_truth, write_demo_alerts

        if opts["n"] < 1:
            raise CommandError("--n must be at least 1")
        import fastavro

        paths = write_demo_alerts(opts["out"], n=opts["n"], seed=opts["seed"], progress=True)

        counts: collections.Counter = collections.Counter()
        for path in paths:
            with open(path, "rb") as fh:
                counts.update(read_truth(fastavro.reader(fh).metadata).values())
        self.stdout.write(
            self.style.SUCCESS(f"Wrote {len(paths)} demo alert(s) to {opts['out']}: {json.dumps(dict(counts))}")
        )
