"""``python manage.py compute_drift``: recompute night-by-night drift now (the background task does the same
after every ingest)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from classifiers.drift.config import DriftConfig
from classifiers.drift.recompute import recompute_drift
from classifiers.drift.selectors import resolve_night


class Command(BaseCommand):
    help = (
        "Recompute the night-by-night percentile bands (max, 93, 84, 69, 50, 31, 16, 7, min) of the active "
        "model's score, of magpsf, fwhm, elong, sgscore1, stamp statistics and volunteer agreement, with PSI and "
        "Kolmogorov-Smirnov drift statistics against a reference window, and store them for the ML console. "
        "Nights may be given as UTC dates (YYYY-MM-DD) or ZTF night ids (nid)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reference-nights", type=int, help="Reference window: the first K nights with alerts (default 7)"
        )
        parser.add_argument("--reference-start", help="Reference window start: a UTC date or a nid")
        parser.add_argument("--reference-end", help="Reference window end (inclusive): a UTC date or a nid")
        parser.add_argument("--psi-threshold", type=float, help="Flag a variable at this PSI (default 0.25)")
        parser.add_argument("--ks-threshold", type=float, help="Flag a variable at this KS statistic (default 0.2)")
        parser.add_argument(
            "--stamp-sample", type=int, help="Stamps decompressed per night for the pixel statistics (default 200)"
        )

    def handle(self, *args, **opts):
        try:
            config = DriftConfig.from_settings(
                reference_nights=opts["reference_nights"],
                reference_start=resolve_night(opts["reference_start"]) if opts["reference_start"] else None,
                reference_end=resolve_night(opts["reference_end"]) if opts["reference_end"] else None,
                psi_threshold=opts["psi_threshold"],
                ks_threshold=opts["ks_threshold"],
                stamp_sample_per_night=opts["stamp_sample"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        started = time.perf_counter()
        with tqdm(desc="Drift", unit="step", dynamic_ncols=True, disable=opts["verbosity"] < 1) as bar:

            def progress(message: str) -> None:
                bar.set_postfix_str(message)
                bar.update(1)

            summary = recompute_drift(config=config, progress=progress)
        elapsed = time.perf_counter() - started
        self.stdout.write(f"{summary['alerts']} alerts summarised in {elapsed:.1f} s")
        for entry in summary["tasks"]:
            version = f"v{entry['version']}" if entry["version"] else "no active version (inputs only)"
            flagged = ", ".join(entry["flagged"]) or "none"
            self.stdout.write(f"  {entry['task']} {version}: {entry['nights']} nights; flagged: {flagged}")
