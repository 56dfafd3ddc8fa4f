"""``manage.py ingest_alerts PATH [PATH ...]``: ZTF and Rubin alerts (Avro, Parquet, Rubin framing) into Blink."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    # The system checks import every view (bokeh, scikit-learn, astropy's visualization: most of the
    # command's start-up) and check nothing ingest uses; an hourly ingest job should not spend that each time.
    requires_system_checks = []
    help = (
        "Ingest ZTF and Rubin alerts: Avro packets (one or many records per file), Fink Parquet alert tables (one "
        "alert a row) and Rubin framed records (a zero byte, a 4-byte schema ID, the schemaless Avro record; "
        "schemas lsst.v9_0 and lsst.v10_0 shipped), given as files, directories (searched recursively for *.avro "
        "and *.parquet) or glob patterns "
        "(quote them). Cutouts are decoded once, Galactic coordinates computed, light-curve points from "
        "prv_candidates stored once per object. Alerts already stored (same candid) are counted as present and "
        "left alone, so running it twice adds nothing. A bad file or packet is reported with its file, candid "
        "and reason, and the rest still goes in. Exit status 1 when anything was rejected."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH", help="file, directory or glob of alert packets")
        parser.add_argument(
            "--schema",
            metavar="FILE",
            default=None,
            help="an Avro schema (.avsc) to decode Rubin framed records with, instead of the schema their ID "
            "names among those Blink ships (labeling/ingest/schemas/lsst/)",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
        parser.add_argument("--batch-size", type=int, default=500, help="alerts written per transaction (default 500)")
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help="worker processes sharing the files out; on PostgreSQL each decodes and stores its share, "
            "elsewhere they decode while this process writes (default: two on a machine with spare cores, from "
            "200 files when they can be forked, 2,000 otherwise; BLINK_INGEST_WORKERS overrides; 0: all here)",
        )

    def handle(self, *args, **opts):
        from labeling.ingest import ingest_paths

        if opts["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        started = time.monotonic()
        report = ingest_paths(
            opts["paths"],
            progress=not opts["no_progress"],
            batch_size=opts["batch_size"],
            workers=opts["workers"],
            schema=opts["schema"],
        )
        elapsed = time.monotonic() - started
        for message in report.errors:
            self.stderr.write(self.style.ERROR(f"rejected: {message}"))
        for note in report.notes:
            self.stderr.write(self.style.WARNING(note))
        rate = f", {report.new / elapsed:.0f} alerts/s" if report.new and elapsed > 0 else ""
        line = f"{report.summary} in {elapsed:.1f} s{rate}"
        if report.rejected:
            self.stderr.write(self.style.ERROR(line))
            raise CommandError(f"{report.rejected} alert(s) or file(s) rejected; see the messages above", returncode=1)
        self.stdout.write(self.style.SUCCESS(line))
