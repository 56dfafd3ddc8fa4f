"""What runs inside an ingest worker process: decode (and, on PostgreSQL, store) a task's files.

Outside the ``labeling.ingest`` package on purpose: a spawned worker unpickles these functions by importing
their module *before* Django is set up, and importing anything inside the package runs its ``__init__``,
which imports the models. So this module imports nothing of Django (or of the models) at import time;
``init`` sets Django up, then the work is done by ``labeling.ingest.prepare`` and ``labeling.ingest.writer``.
The pool that starts these processes is ``labeling.ingest.workers``; nothing here imports it back.
"""

from __future__ import annotations

import os

_setup_error: str | None = None


def init(database_name: str | None = None) -> None:
    """Set Django up. ``database_name``: the caller's database, which is not the settings' one under a test
    runner (``test_…``); the worker must write where the caller reads."""
    global _setup_error
    try:
        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        django.setup()
        if database_name:
            from django.db import connections

            connections["default"].settings_dict["NAME"] = database_name
    except Exception as exc:  # reported with the first task: a pool would otherwise respawn it forever
        _setup_error = f"{type(exc).__name__}: {exc}"


def prepare_files(paths: list[str]):
    """(prepared alerts, error messages) of each file, or None when this worker could not start Django."""
    if _setup_error is not None:
        return None
    from labeling.ingest.prepare import prepare_file

    return [prepare_file(path) for path in paths]


def ingest_files(paths: list[str], batch_size: int):
    """Decode and store these files here (``labeling.ingest.writer.ingest_prepared``); return the small report
    ``(files, new, present, rejected, errors, new_alert_ids)``, or None when this worker could not start
    Django. Nothing big crosses back to the caller: a single writer of every worker's alerts was the
    bottleneck (see ``labeling.ingest.workers.ingest_in_workers``)."""
    if _setup_error is not None:
        return None
    from labeling.ingest.prepare import prepare_file
    from labeling.ingest.writer import IngestReport, ingest_prepared

    report = IngestReport()
    ingest_prepared((prepare_file(path) for path in paths), report, batch_size)
    return report.files, report.new, report.present, report.rejected, report.errors, report.new_alert_ids
