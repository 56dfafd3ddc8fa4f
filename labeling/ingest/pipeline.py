"""``ingest_paths``: files found, their packets prepared and stored (here or in worker processes), and the
floors above told of the new alerts."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from django.db import connection

from labeling.ingest.files import expand_paths
from labeling.ingest.prepare import prepare_file
from labeling.ingest.workers import default_workers, ingest_in_workers, prepared_files
from labeling.ingest.writer import BATCH_SIZE, IngestReport, ingest_prepared
from labeling.models import Alert
from labeling.signals import alerts_ingested

logger = logging.getLogger(__name__)
# With a progress bar, alerts waiting for a full batch are stored after this long, so new= counts up as it goes.
PROGRESS_FLUSH_SECONDS = 1.0


def ingest_paths(
    paths: Iterable,
    *,
    progress: bool = False,
    batch_size: int = BATCH_SIZE,
    workers: int | None = None,
    schema: Path | str | None = None,
) -> IngestReport:
    """Ingest every alert in the given files, directories and globs. See the package docstring.

    ``workers``: processes that share the files out; None chooses (``default_workers``), 0 does it all here.
    ``schema``: an .avsc file that Rubin framed records are decoded with, instead of the schema their ID names
    (a rare, manual case: it is read in this process, without workers).
    """
    report = IngestReport()
    files, missing = expand_paths(paths if not isinstance(paths, str | Path) else [paths])
    for message in missing:
        report.reject(message, count=0)
        report.rejected += 1
    bar = None
    if progress:
        from tqdm import tqdm

        # tqdm's monitor thread (it only tunes the refresh rate) would make the workers spawn, not fork.
        tqdm.monitor_interval = 0
        bar = tqdm(total=len(files), unit="file", desc="Ingesting", dynamic_ncols=True)

    def show_progress(n_files: int = 1) -> None:
        if bar is not None:
            bar.update(n_files)
            bar.set_postfix(new=report.new, present=report.present, rejected=report.rejected)

    n_workers = default_workers(len(files)) if workers is None else workers
    if schema is not None:
        schema = Path(schema)
        if not schema.is_file():
            report.reject(f"{schema}: no such schema file", count=0)
            report.rejected += 1
            files = []
        flush_every = PROGRESS_FLUSH_SECONDS if bar is not None else None
        ingest_prepared((prepare_file(f, schema) for f in files), report, batch_size, show_progress, flush_every)
    # Inside the caller's transaction the alerts must be part of it: worker processes would commit their own.
    elif n_workers > 0 and connection.vendor == "postgresql" and not connection.in_atomic_block:
        ingest_in_workers(files, n_workers, batch_size, report, show_progress)
    else:
        flush_every = PROGRESS_FLUSH_SECONDS if bar is not None else None
        ingest_prepared(prepared_files(files, n_workers), report, batch_size, show_progress, flush_every)
    if bar is not None:
        bar.set_postfix(new=report.new, present=report.present, rejected=report.rejected)
        bar.close()
    _announce(report)
    return report


def _announce(report: IngestReport) -> None:
    """Tell the floors above of the new alerts (``alerts_ingested``: classifiers score them and queue the
    drift recompute) once every batch has committed. Sent here and now, not deferred with ``on_commit``: inside
    a caller's transaction the alerts are that transaction's, and so are their scores and the queued recompute.
    A listener's failure is logged and noted in the report, never raised: it must not fail an ingest whose
    alerts are stored."""
    if not report.new_alert_ids:
        return
    for receiver, error in alerts_ingested.send_robust(sender=Alert, alert_ids=list(report.new_alert_ids)):
        if isinstance(error, Exception):
            logger.error("ingest: %s failed on %d new alert(s)", receiver, len(report.new_alert_ids), exc_info=error)
            name = getattr(receiver, "__qualname__", repr(receiver))
            report.notes.append(f"after ingest, {name} failed on the new alerts: {error}")
