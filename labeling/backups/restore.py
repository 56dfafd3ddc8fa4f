"""``import_all``: a backup written by ``export_all`` restored into this database, all or nothing."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import serializers
from django.core.management.color import no_style
from django.core.serializers.base import DeserializationError
from django.db import IntegrityError, connection, transaction

from labeling.backups.scope import (
    BACKED_UP_APPS,
    BATCH,
    FORMAT,
    VERSION,
    BackupError,
    BackupReport,
    applied_migrations,
    backed_up_models,
    label_of,
)


def _occupied_models() -> list[str]:
    """The backed-up models that already hold rows (role groups do not count: migrations may create them)."""
    return [label_of(m) for m in backed_up_models() if m is not Group and m._base_manager.exists()]


def _open_lines(path: Path) -> Iterator[tuple[int, dict]]:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    yield number, json.loads(line)
                except json.JSONDecodeError as exc:
                    raise BackupError(f"{path}: line {number} is not JSON ({exc.msg})") from exc
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise BackupError(f"{path}: not a readable gzip backup ({exc})") from exc


def import_all(
    *,
    path: Path,
    force: bool = False,
    progress: Callable[[str, int], None] | None = None,
) -> BackupReport:
    """Restore a backup written by ``export_all`` into this database, in one transaction.

    The target must hold no Blink rows (run ``migrate`` on a fresh database first); ``force=True``
    empties the backed-up tables first — and, through cascades, tokens and admin log entries of the
    replaced accounts — within the same transaction, so a failed restore leaves the old data in place.
    """
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    lines = _open_lines(path)
    try:
        number, header = next(lines)
    except StopIteration:
        raise BackupError(f"{path}: empty file") from None
    if header.get("format") != FORMAT:
        raise BackupError(f"{path}: line {number} is not a Blink backup header (format {header.get('format')!r})")
    if header.get("version") != VERSION:
        raise BackupError(f"{path}: backup format version {header.get('version')!r}; this Blink reads {VERSION}")
    _check_migrations(path, header.get("migrations") or {})

    report = BackupReport(path=path)
    known = {label_of(m): m for m in backed_up_models()}
    with transaction.atomic():
        occupied = _occupied_models()
        if occupied and not force:
            raise BackupError(
                "the database already holds Blink data ("
                + ", ".join(occupied[:6])
                + (", ..." if len(occupied) > 6 else "")
                + "); restore into an empty, migrated database, or pass --force to replace it"
            )
        if occupied:
            _flush(known.values())
        if connection.vendor == "postgresql":
            with connection.cursor() as cur:
                cur.execute("SET CONSTRAINTS ALL DEFERRED")
        with connection.constraint_checks_disabled():
            trailer = _load_rows(path, lines, known, report, progress=progress)
        if trailer is None:
            raise BackupError(f"{path}: the file ends before its closing line — the backup is truncated")
        expected = trailer.get("counts") or {}
        differ = sorted(
            label
            for label in set(expected) | set(report.counts)
            if expected.get(label, 0) != report.counts.get(label, 0)
        )
        if differ:
            raise BackupError(
                f"{path}: rows read differ from the file's own summary for {', '.join(differ)} — the backup is damaged"
            )
        try:
            connection.check_constraints(table_names=[m._meta.db_table for m in known.values()])
        except IntegrityError as exc:
            raise BackupError(f"{path}: restored rows break a constraint ({exc}); nothing was kept") from exc
        _reset_sequences(known.values())
    return report


def _check_migrations(path: Path, theirs: dict[str, list[str]]) -> None:
    ours = applied_migrations()
    missing = sorted(
        f"{app}.{name}"
        for app, names in theirs.items()
        if app in (*BACKED_UP_APPS, "auth")
        for name in names
        if name not in ours.get(app, [])
    )
    if missing:
        raise BackupError(
            f"{path}: the backup was made by a newer schema; run `manage.py migrate` first "
            f"(missing here: {', '.join(missing[:5])})"
        )


def _link_tables(model_list) -> list:
    """The models Django made for the many-to-many fields of ``model_list`` (their link tables)."""
    return [
        f.remote_field.through
        for m in model_list
        for f in m._meta.many_to_many
        if f.remote_field.through._meta.auto_created
    ]


def _flush(model_list) -> None:
    tables = [m._meta.db_table for m in [*model_list, *_link_tables(model_list)]]
    if connection.vendor == "postgresql":
        # TRUNCATE refuses tables with deferred foreign-key checks still pending in this transaction.
        with connection.cursor() as cur:
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
    sql = connection.ops.sql_flush(no_style(), tables, reset_sequences=False, allow_cascade=True)
    connection.ops.execute_sql_flush(sql)


def _load_rows(path, lines, known, report, *, progress) -> dict | None:
    batch: list[dict] = []
    batch_model = None

    def store_batch() -> None:
        _flush_batch(path, batch_model, batch, report)
        if progress and batch:
            progress(label_of(batch_model), len(batch))

    for number, record in lines:
        if record.get("end"):
            store_batch()
            return record
        label = record.get("model")
        model = known.get(label)
        if model is None:
            raise BackupError(f"{path}: line {number}: model {label!r} is not one Blink backs up")
        if model is not batch_model or len(batch) >= BATCH:
            store_batch()
            batch, batch_model = [], model
        record["_line"] = number
        batch.append(record)
    _flush_batch(path, batch_model, batch, report)
    return None


def _flush_batch(path, model, batch: list[dict], report: BackupReport) -> None:
    if not batch:
        return
    label = label_of(model)
    first_line = batch[0]["_line"]
    try:
        deserialized = list(
            serializers.deserialize("python", [{k: v for k, v in r.items() if k != "_line"} for r in batch])
        )
    except DeserializationError as exc:
        raise BackupError(f"{path}: lines {first_line}-{batch[-1]['_line']} ({label}): {exc}") from exc
    objects = [d.object for d in deserialized]
    if model is Group:
        # Role groups may exist already (ensure_groups); match them by name, keeping the target's rows.
        existing = set(Group.objects.values_list("name", flat=True))
        objects = [o for o in objects if o.name not in existing]
        for o in objects:
            o.pk = None
        Group.objects.bulk_create(objects)
        report.counts[label] = report.counts.get(label, 0) + len(batch)
        return
    if model is get_user_model():
        for o in objects:
            if not o.password:
                o.set_unusable_password()
    _verify(path, model, batch, objects)
    fields = [f for f in model._meta.local_concrete_fields]
    # raw=True writes auto_now / auto_now_add fields as stored, as loaddata does.
    model._base_manager._insert(objects, fields=fields, using=connection.alias, raw=True)
    for d in deserialized:
        for name, targets in d.m2m_data.items():
            if targets:
                _insert_m2m(model, name, d.object.pk, targets)
    report.counts[label] = report.counts.get(label, 0) + len(batch)


def _verify(path, model, batch, objects) -> None:
    if model._meta.label_lower != "classifiers.modelversion":
        return
    for record, obj in zip(batch, objects, strict=True):
        digest = hashlib.sha256(bytes(obj.weights)).hexdigest()
        if obj.sha256 and digest != obj.sha256:
            raise BackupError(
                f"{path}: line {record['_line']}: model version {obj.pk} weights do not match their sha256 "
                f"(file {digest[:12]}…, recorded {obj.sha256[:12]}…) — the backup is damaged"
            )


def _insert_m2m(model, name: str, pk, targets) -> None:
    f = model._meta.get_field(name)
    through = f.remote_field.through
    source, target = f.m2m_field_name(), f.m2m_reverse_field_name()
    through._base_manager.bulk_create([through(**{f"{source}_id": pk, f"{target}_id": t}) for t in targets])


def _reset_sequences(model_list) -> None:
    model_list = list(model_list)
    statements = connection.ops.sequence_reset_sql(no_style(), model_list + _link_tables(model_list))
    if statements:
        with connection.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
