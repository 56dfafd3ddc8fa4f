"""``export_all``: the whole Blink database into one gzipped JSON-lines file, from one consistent snapshot."""

from __future__ import annotations

import contextlib
import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core import serializers
from django.db import connection, transaction
from django.utils import timezone

from labeling.backups.scope import (
    BATCH,
    FORMAT,
    VERSION,
    BackupEncoder,
    BackupReport,
    applied_migrations,
    backed_up_models,
    excluded_fields,
    label_of,
    rows_of,
)


@contextlib.contextmanager
def _read_transaction():
    """One transaction for the whole export. On SQLite a deferred one: the settings make transactions take the
    write lock at BEGIN (IMMEDIATE), and an export holding it would hold every vote back while it runs."""
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        with transaction.atomic():
            yield
        return
    connection.ensure_connection()  # connecting sets transaction_mode from the settings
    mode = connection.transaction_mode
    connection.transaction_mode = None
    try:
        with transaction.atomic():
            yield
    finally:
        connection.transaction_mode = mode


def export_all(
    *,
    out: Path,
    with_password_hashes: bool = False,
    progress: Callable[[str, int], Callable[[int], None]] | None = None,
) -> BackupReport:
    """Write the whole Blink database to ``out`` (gzip JSON lines), atomically: a temporary file is renamed
    over ``out`` only once complete, so a failed export never leaves a truncated backup under its name."""
    out = Path(out)
    tmp = out.with_name(f".{out.name}.partial")
    report = BackupReport(path=out)
    # Only an outermost transaction can choose its isolation level (inside one, the caller's snapshot rules).
    own_snapshot = connection.vendor == "postgresql" and not connection.in_atomic_block
    try:
        with _read_transaction(), gzip.open(tmp, "wt", encoding="utf-8", compresslevel=6) as fh:
            if own_snapshot:
                # One snapshot for the whole export, so a vote arriving halfway is either in or out entirely.
                with connection.cursor() as cur:
                    cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            header = {
                "format": FORMAT,
                "version": VERSION,
                "created_at": timezone.now().isoformat(),
                "database": connection.vendor,
                "migrations": applied_migrations(),
                "password_hashes": with_password_hashes,
            }
            fh.write(json.dumps(header) + "\n")
            for model in backed_up_models():
                label = label_of(model)
                qs = rows_of(model)
                tick = progress(label, qs.count()) if progress else None
                n = 0
                for row in _serialized_rows(model, qs, with_password_hashes=with_password_hashes):
                    fh.write(json.dumps(row, cls=BackupEncoder, allow_nan=True) + "\n")
                    n += 1
                    if tick and n % BATCH == 0:
                        tick(BATCH)
                if tick and n % BATCH:
                    tick(n % BATCH)
                report.counts[label] = n
            fh.write(json.dumps({"end": True, "counts": report.counts}) + "\n")
        tmp.replace(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return report


def _serialized_rows(model, qs, *, with_password_hashes: bool) -> Iterator[dict]:
    excluded = excluded_fields(model, with_password_hashes=with_password_hashes)
    names = [f.name for f in (*model._meta.concrete_fields, *model._meta.many_to_many) if not f.primary_key]
    keep = [n for n in names if n not in excluded]
    natural = model is get_user_model()  # user.groups by name, so roles map onto the target's groups
    chunk: list = []
    for obj in qs.iterator(chunk_size=BATCH):
        chunk.append(obj)
        if len(chunk) == BATCH:
            yield from serializers.serialize("python", chunk, fields=keep, use_natural_foreign_keys=natural)
            chunk = []
    if chunk:
        yield from serializers.serialize("python", chunk, fields=keep, use_natural_foreign_keys=natural)
