"""Whole-site backups: every alert, campaign, vote, model version and score, as gzipped JSON lines.

``export_all`` streams rows model by model from one consistent snapshot (REPEATABLE READ on PostgreSQL),
so a database of millions of votes is never held in memory and votes arriving meanwhile do not tear the
backup. ``import_all`` reads the file line by line and inserts in batches inside ONE transaction: either
everything lands (primary keys, timestamps and sequences as they were) or nothing does.

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

from __future__ import annotations

import base64
import datetime as dt
import decimal
import gzip
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import serializers
from django.core.management.color import no_style
from django.core.serializers.base import DeserializationError
from django.db import IntegrityError, connection, models, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

FORMAT = "blink-backup"
VERSION = 1
BACKED_UP_APPS = ("labeling", "classifiers", "activelearning")
BATCH = 1000
USER_EXCLUDED_FIELDS = {"password", "user_permissions"}


class BackupError(Exception):
    """A backup that cannot be written or restored; the message says which file/line/model and why."""


@dataclass
class BackupReport:
    path: Path
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class _Encoder(json.JSONEncoder):
    # DjangoJSONEncoder cuts datetimes to milliseconds; a backup keeps them to the microsecond.
    def default(self, o):
        if isinstance(o, dt.datetime | dt.date | dt.time):
            return o.isoformat()
        if isinstance(o, uuid.UUID | decimal.Decimal):
            return str(o)
        if isinstance(o, bytes | memoryview):
            return base64.b64encode(bytes(o)).decode("ascii")
        return super().default(o)


def backed_up_models() -> list[type[models.Model]]:
    """Groups, users, then every model of Blink's apps, parents before children."""
    ours = [m for name in BACKED_UP_APPS for m in apps.get_app_config(name).get_models()]
    return [Group, get_user_model(), *_parents_first(ours)]


def _parents_first(model_list: list[type[models.Model]]) -> list[type[models.Model]]:
    inside = set(model_list)
    ordered: list[type[models.Model]] = []
    seen: set = set()

    def visit(model, stack=()):
        if model in seen or model in stack:
            return
        for f in model._meta.concrete_fields:
            target = f.related_model if f.is_relation else None
            if target in inside and target is not model:
                visit(target, (*stack, model))
        seen.add(model)
        ordered.append(model)

    for m in model_list:
        visit(m)
    return ordered


def _label(model) -> str:
    return model._meta.label_lower


def _queryset(model) -> models.QuerySet:
    qs = model._base_manager.order_by("pk")
    m2m = [f.name for f in model._meta.many_to_many if f.name not in _excluded_fields(model)]
    return qs.prefetch_related(*m2m) if m2m else qs


def _excluded_fields(model, *, with_password_hashes: bool = False) -> set[str]:
    if model is get_user_model():
        return USER_EXCLUDED_FIELDS - ({"password"} if with_password_hashes else set())
    if model is Group:
        return {"permissions"}
    return set()


def _applied_migrations() -> dict[str, list[str]]:
    applied: dict[str, list[str]] = {}
    for app, name in MigrationRecorder(connection).applied_migrations():
        applied.setdefault(app, []).append(name)
    return {app: sorted(names) for app, names in sorted(applied.items())}


# ---------------------------------------------------------------- export


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
        with transaction.atomic(), gzip.open(tmp, "wt", encoding="utf-8", compresslevel=6) as fh:
            if own_snapshot:
                # One snapshot for the whole export, so a vote arriving halfway is either in or out entirely.
                with connection.cursor() as cur:
                    cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            header = {
                "format": FORMAT,
                "version": VERSION,
                "created_at": timezone.now().isoformat(),
                "database": connection.vendor,
                "migrations": _applied_migrations(),
                "password_hashes": with_password_hashes,
            }
            fh.write(json.dumps(header) + "\n")
            for model in backed_up_models():
                label = _label(model)
                qs = _queryset(model)
                tick = progress(label, qs.count()) if progress else None
                n = 0
                for row in _serialized_rows(model, qs, with_password_hashes=with_password_hashes):
                    fh.write(json.dumps(row, cls=_Encoder, allow_nan=True) + "\n")
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
    excluded = _excluded_fields(model, with_password_hashes=with_password_hashes)
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


# ---------------------------------------------------------------- import


def database_is_empty() -> list[str]:
    """The backed-up models that already hold rows (role groups do not count: migrations may create them)."""
    return [_label(m) for m in backed_up_models() if m is not Group and m._base_manager.exists()]


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
    known = {_label(m): m for m in backed_up_models()}
    with transaction.atomic():
        occupied = database_is_empty()
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
    ours = _applied_migrations()
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


def _flush(model_list) -> None:
    tables = [m._meta.db_table for m in model_list]
    through = [
        f.remote_field.through._meta.db_table
        for m in model_list
        for f in m._meta.many_to_many
        if f.remote_field.through._meta.auto_created
    ]
    if connection.vendor == "postgresql":
        # TRUNCATE refuses tables with deferred foreign-key checks still pending in this transaction.
        with connection.cursor() as cur:
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
    sql = connection.ops.sql_flush(no_style(), tables + through, reset_sequences=False, allow_cascade=True)
    connection.ops.execute_sql_flush(sql)


def _load_rows(path, lines, known, report, *, progress) -> dict | None:
    batch: list[dict] = []
    batch_model = None
    for number, record in lines:
        if record.get("end"):
            _flush_batch(path, batch_model, batch, report)
            if progress and batch:
                progress(_label(batch_model), len(batch))
            return record
        label = record.get("model")
        model = known.get(label)
        if model is None:
            raise BackupError(f"{path}: line {number}: model {label!r} is not one Blink backs up")
        if model is not batch_model or len(batch) >= BATCH:
            _flush_batch(path, batch_model, batch, report)
            if progress and batch:
                progress(_label(batch_model), len(batch))
            batch, batch_model = [], model
        record["_line"] = number
        batch.append(record)
    _flush_batch(path, batch_model, batch, report)
    return None


def _flush_batch(path, model, batch: list[dict], report: BackupReport) -> None:
    if not batch:
        return
    label = _label(model)
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
    through = [
        f.remote_field.through
        for m in model_list
        for f in m._meta.many_to_many
        if f.remote_field.through._meta.auto_created
    ]
    statements = connection.ops.sequence_reset_sql(no_style(), model_list + through)
    if statements:
        with connection.cursor() as cur:
            for sql in statements:
                cur.execute(sql)


def table_fingerprints() -> dict[str, tuple[int, str]]:
    """(row count, sha256 of every value in pk order) per backed-up model — for comparing two databases.
    Auto-created m2m links are folded into their owner's rows; group ids are compared by name."""
    out: dict[str, tuple[int, str]] = {}
    for model in backed_up_models():
        digest = hashlib.sha256()
        n = 0
        m2m = [f for f in model._meta.many_to_many if f.name not in _excluded_fields(model)]
        qs = _queryset(model).order_by("name") if model is Group else _queryset(model)
        for obj in qs.iterator(chunk_size=BATCH):
            row = [] if model is Group else [obj.pk]
            for f in model._meta.concrete_fields:
                if f.primary_key or (model is get_user_model() and f.name == "password"):
                    continue
                row.append(f.value_from_object(obj))
            for f in m2m:
                related = getattr(obj, f.name).all()
                row.append(sorted(r.name if isinstance(r, Group) else r.pk for r in related))
            digest.update(json.dumps(row, cls=_Encoder, sort_keys=True, allow_nan=True).encode())
            n += 1
        out[_label(model)] = (n, digest.hexdigest())
    return out
