"""Whole-site backups: every alert, campaign, vote, model version and score, as gzipped JSON lines.

``export_all`` streams rows model by model from one consistent snapshot (REPEATABLE READ on PostgreSQL),
so a database of millions of votes is never held in memory and votes arriving meanwhile do not tear the
backup. ``import_all`` reads the file line by line and inserts in batches inside ONE transaction: either
everything lands (primary keys, timestamps and sequences as they were) or nothing does.

``scope`` says what both sides agree on (the format, the models and their order, the row encoding), ``export``
writes, ``restore`` reads.

File layout (each line one JSON object, the whole file gzip-compressed)::

    {"format": "blink-backup", "version": 1, "created_at": ..., "migrations": {...}, "password_hashes": false}
    {"model": "auth.group", "pk": 1, "fields": {...}}        # Django's serialisation layout, one row a line
    ...
    {"end": true, "counts": {"labeling.vote": 123, ...}}    # absent when the file was cut short

What goes in: the role groups, the user accounts that Blink rows refer to (all of them, so roles and
ownership survive), and every model of the ``labeling``, ``classifiers`` and ``activelearning`` apps —
alerts with their stamps and light curves, campaigns with tutorials, field guides, subjects (gold answers,
counters, consensus fields), votes, Talk, model versions with their weights, registry events, scores,
explanations, training runs, drift and queue history. Models added to those apps later are picked up
without a change here.

What stays out, on purpose: password hashes unless asked for (``--with-password-hashes``; without them
restored accounts get an unusable password and log in after a reset, so a backup handed to a colleague
leaks no credentials), API tokens and sessions (credentials again), log-in attempt logs, admin log
entries and django-tasks results (transient).
"""

from labeling.backups.export import export_all
from labeling.backups.restore import import_all
from labeling.backups.scope import BackupError, BackupReport, backed_up_models, table_fingerprints

__all__ = [
    "BackupError",
    "BackupReport",
    "backed_up_models",
    "export_all",
    "import_all",
    "table_fingerprints",
]
