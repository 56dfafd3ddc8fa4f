"""Prepared packets into ``Alert``, ``Stamps`` and ``LightCurvePoint`` rows, batch by batch.

Each batch is one transaction (alerts, then their stamps, then their light-curve points); if it fails in the
database (say another process inserted the same candid meanwhile) it is rolled back and retried alert by
alert, each alert in its own transaction. A candid already stored counts as "present" and is left untouched,
so ingesting twice adds nothing. On PostgreSQL rows go in by binary COPY (``bulk_create`` elsewhere).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import DataError, IntegrityError, OperationalError, connection, transaction

from labeling.ingest.prepare import galactic
from labeling.ingest.rows import FLUX_POINT_COLUMNS, PreparedAlert, pad_points, point_columns
from labeling.models import Alert, LightCurvePoint, StampPlane, Stamps

logger = logging.getLogger(__name__)

BATCH_SIZE = 500


@dataclass
class IngestReport:
    """What an ingest did, counted as it goes: files read, alerts new / already present / refused (with a
    message each), the ids of the new alerts, and notes on what failed after they were stored."""

    files: int = 0
    new: int = 0
    present: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)
    new_alert_ids: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def reject(self, message: str, count: int = 1) -> None:
        self.rejected += count
        self.errors.append(message)
        logger.warning("ingest: %s", message)

    @property
    def summary(self) -> str:
        return (
            f"{self.files} file(s): {self.new} alert(s) new, {self.present} already present, {self.rejected} rejected"
        )


def _unique_points(prepared: list[PreparedAlert]) -> list[tuple]:
    # The same observation appears in the prv_candidates of every later alert of an object; keep one,
    # preferring a detection over an upper limit at the same (object, jd, filter).
    points: dict[tuple, tuple] = {}
    for p in prepared:
        for point in p.points:
            key = point[:3]
            old = points.get(key)
            if old is None or (point[3] and not old[3]):
                points[key] = point
    return list(points.values())


def _write_batch(prepared: list[PreparedAlert]) -> list[int]:
    """Write alerts not yet stored, with their stamps and points, in one transaction; return new alert ids."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            ids = _copy_batch(prepared)
            _write_planes(ids, prepared)
            return ids
        alerts = Alert.objects.bulk_create(
            [
                Alert(
                    **p.fields,
                    candidate=json.loads(p.candidate_json),
                    survey_extra=json.loads(p.extra_json) if p.extra_json else None,
                )
                for p in prepared
            ]
        )
        Stamps.objects.bulk_create([Stamps(alert_id=a.pk, **p.stamps) for a, p in zip(alerts, prepared, strict=True)])
        points = _unique_points(prepared)
        columns = point_columns(points)
        LightCurvePoint.objects.bulk_create(
            [LightCurvePoint(**dict(zip(columns, p, strict=True))) for p in pad_points(points, columns)],
            ignore_conflicts=True,
            batch_size=2000,
        )
        _write_planes([a.pk for a in alerts], prepared)
    return [a.pk for a in alerts]


def _write_planes(ids: list[int], prepared: list[PreparedAlert]) -> None:
    """A Rubin cutout's variance and PSF (``StampPlane``), in the batch's transaction. ZTF alerts have none."""
    planes = [
        StampPlane(alert_id=pk, kind=kind, plane=plane, height=h, width=w, data=data)
        for pk, p in zip(ids, prepared, strict=True)
        for kind, plane, h, w, data in p.planes
    ]
    if planes:
        StampPlane.objects.bulk_create(planes, batch_size=500)


def _copy_columns(model) -> list:
    return list(model._meta.concrete_fields)


def _json_text(obj) -> str:
    # The candidate arrives as JSON text already (``PreparedAlert.candidate_json``).
    return obj if isinstance(obj, str) else json.dumps(obj, allow_nan=False)


def _column_types(cursor, table: str, columns: list[str]) -> list[str]:
    cursor.execute(
        "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute "
        "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
        [f'"{table}"'],
    )
    types = dict(cursor.fetchall())
    return [types[c] for c in columns]


def _copy_rows(cursor, model, fields: list, rows: Iterable[list], table: str | None = None) -> None:
    """COPY in binary: bytea goes over as it is (text COPY doubles every stamp byte into hex, which both
    psycopg and the server then spend CPU on), numbers and dates without formatting or parsing."""
    from psycopg import sql

    table = table or model._meta.db_table
    columns = [f.column for f in fields]
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    types = _column_types(cursor, table, columns)
    with cursor.copy(statement) as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def _copy_batch(prepared: list[PreparedAlert]) -> list[int]:
    """PostgreSQL: COPY instead of INSERT. The ORM's bulk_create spends more time building one huge INSERT
    (and psycopg quoting ~50 kB of stamp bytes per alert into it) than the server spends storing the rows;
    COPY streams them. Alert ids come from the table's own sequence first, so the stamps can refer to them.
    Points go through a staging table, because COPY cannot skip rows already stored ("ON CONFLICT")."""
    from django.utils import timezone
    from psycopg.types.json import set_json_dumps

    alert_fields = _copy_columns(Alert)
    now = timezone.now()
    # Where each Alert column's value comes from: the prepared fields, or a constant for the whole batch.
    constants = {
        f.attname: f.get_db_prep_save(f.get_default(), connection)
        for f in alert_fields
        if f.attname not in ("id", "ingested_at", "candidate", "survey_extra")
    }
    constants["ingested_at"] = now
    names = [f.attname for f in alert_fields]
    with connection.wrap_database_errors, connection.cursor() as wrapper:
        cursor = wrapper.cursor  # psycopg's own cursor: COPY is not part of the DB-API
        set_json_dumps(_json_text, cursor)
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [Alert._meta.db_table, len(prepared)],
        )
        ids = [row[0] for row in cursor.fetchall()]

        def alert_row(pk: int, p: PreparedAlert) -> list:
            values = p.fields
            row = []
            for name in names:
                if name == "id":
                    row.append(pk)
                elif name == "candidate":
                    row.append(p.candidate_json)
                elif name == "survey_extra":
                    row.append(p.extra_json)
                elif name in values:
                    row.append(values[name])
                else:
                    row.append(constants[name])
            return row

        _copy_rows(cursor, Alert, alert_fields, (alert_row(pk, p) for pk, p in zip(ids, prepared, strict=True)))
        stamp_fields = _copy_columns(Stamps)
        stamp_names = [f.attname for f in stamp_fields]
        _copy_rows(
            cursor,
            Stamps,
            stamp_fields,
            (
                [pk if name == "alert_id" else p.stamps[name] for name in stamp_names]
                for pk, p in zip(ids, prepared, strict=True)
            ),
        )
        points = _unique_points(prepared)
        if points:
            # ZTF-only batches name no flux column (it stays null): their points go over as prepared.
            point_columns_used = point_columns(points)
            points = pad_points(points, point_columns_used)
            point_fields = [LightCurvePoint._meta.get_field(name) for name in point_columns_used]
            table = LightCurvePoint._meta.db_table
            columns = ", ".join(f'"{f.column}"' for f in point_fields)
            # The staging table lives as long as the connection, whichever survey's batch came first: it has
            # every column, and a batch fills those it has (the rest are null).
            all_columns = ", ".join(f'"{LightCurvePoint._meta.get_field(name).column}"' for name in FLUX_POINT_COLUMNS)
            cursor.execute(
                f'CREATE TEMP TABLE IF NOT EXISTS "blink_ingest_points" ON COMMIT DELETE ROWS '
                f'AS SELECT {all_columns} FROM "{table}" WITH NO DATA'
            )
            _copy_rows(
                cursor,
                LightCurvePoint,
                point_fields,
                points,
                table="blink_ingest_points",
            )
            cursor.execute(
                f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM "blink_ingest_points" '
                f"ORDER BY object_id, jd, fid ON CONFLICT (object_id, jd, fid) DO NOTHING"
            )
            # ON COMMIT empties it too, but a caller's outer transaction makes this one a savepoint.
            cursor.execute('DELETE FROM "blink_ingest_points"')
    return ids


_WRITE_ERRORS = (IntegrityError, DataError, OperationalError)


def _is_conflict(exc: Exception) -> bool:
    """A refusal worth retrying alert by alert: a unique or value conflict, or a deadlock (PostgreSQL's
    SQLSTATE 40P01; the lock order above makes it rare, not impossible: another program writing the same
    tables). Any other OperationalError (the database gone) is no conflict and must reach the caller."""
    if not isinstance(exc, OperationalError):
        return True
    return getattr(getattr(exc, "__cause__", None), "sqlstate", None) == "40P01"


def _flush(batch: list[PreparedAlert], report: IngestReport) -> None:
    if not batch:
        return
    by_candid: dict[int, PreparedAlert] = {}
    for p in batch:
        if p.candid in by_candid:
            report.present += 1  # the same packet twice in one run
        else:
            by_candid[p.candid] = p
    stored = dict(Alert.objects.filter(candid__in=list(by_candid)).values_list("candid", "survey"))
    # ZTF candids and Rubin diaSourceIds share one column: the same number from the other survey is another alert,
    # refused by name rather than counted as already present and silently dropped.
    for candid, survey in list(stored.items()):
        theirs = by_candid[candid].fields.get("survey", "ztf")
        if survey != theirs:
            report.reject(
                f"{by_candid[candid].source}: {theirs} alert {candid}: that identifier is already a {survey} "
                "alert's; not stored"
            )
    report.present += sum(by_candid[c].fields.get("survey", "ztf") == s for c, s in stored.items())
    # In candid order, as the points are in key order: two processes storing overlapping batches then take
    # the unique-index locks in the same order, so one waits for the other instead of deadlocking.
    fresh = sorted((p for c, p in by_candid.items() if c not in stored), key=lambda p: p.candid)
    if not fresh:
        return
    ls, bs = galactic([p.fields["ra"] for p in fresh], [p.fields["dec"] for p in fresh])
    for p, gl, gb in zip(fresh, ls, bs, strict=True):
        p.fields["gal_l"] = float(gl)
        p.fields["gal_b"] = float(gb)
    try:
        report.new_alert_ids.extend(_write_batch(fresh))
        report.new += len(fresh)
        return
    except _WRITE_ERRORS as exc:
        if not _is_conflict(exc):
            raise
        logger.info("ingest: batch of %d hit a conflict; retrying alert by alert", len(fresh))
    for p in fresh:
        try:
            if Alert.objects.filter(candid=p.candid).exists():
                report.present += 1
                continue
            report.new_alert_ids.extend(_write_batch([p]))
            report.new += 1
        except _WRITE_ERRORS as exc:
            if not _is_conflict(exc):
                raise
            if Alert.objects.filter(candid=p.candid).exists():
                report.present += 1  # another process stored it meanwhile
            else:
                report.reject(f"{p.source}: candid {p.candid}: not stored ({exc})")


def ingest_prepared(
    results: Iterable[tuple[list[PreparedAlert], list[str]]],
    report: IngestReport,
    batch_size: int = BATCH_SIZE,
    on_file=None,
    flush_every: float | None = None,
) -> None:
    """Store ``prepare_file`` results batch by batch, counting into ``report``.

    ``flush_every`` (seconds): also store a partial batch once it has waited that long, so that a progress bar
    watching ``report.new`` moves while files are read (a night's few hundred single-alert files would
    otherwise fill one batch and show ``new=0`` until the very end)."""
    batch: list[PreparedAlert] = []
    started = time.monotonic()
    for prepared, errors in results:
        report.files += 1
        for message in errors:
            report.reject(message)
        batch.extend(prepared)
        while len(batch) >= batch_size:  # a big Parquet table still goes in batch by batch
            _flush(batch[:batch_size], report)
            batch = batch[batch_size:]
            started = time.monotonic()
        if batch and flush_every is not None and time.monotonic() - started >= flush_every:
            _flush(batch, report)
            batch = []
            started = time.monotonic()
        if on_file is not None:
            on_file()
    _flush(batch, report)
