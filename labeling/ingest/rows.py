"""What preparing a packet makes, for either survey: ``PreparedAlert``, and the checks its rows pass before
anything is written (values the database would refuse, absurd times), each refusal naming the packet's field.

Shared by ``labeling.ingest.prepare`` (ZTF) and ``labeling.ingest.rubin`` (Rubin); nothing here touches the
database.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
from dataclasses import dataclass, field

import orjson
from django.db import connection, models

from labeling.ingest.packets import AlertRejected
from labeling.models import LightCurvePoint

# Plausible exposure times (1858 to 2132): anything else is a corrupt or hostile packet, not an alert.
JD_RANGE = (2400000.5, 2500000.5)

JD_UNIX_EPOCH = 2440587.5


@dataclass
class PreparedAlert:
    candid: int
    fields: dict
    stamps: dict
    points: list[tuple]  # in POINT_COLUMNS order
    source: str
    # The packet's candidate record (non-finite numbers made null) as JSON text: what the ``candidate``
    # column stores. Encoded here, in the decoding worker when there is one, and a string crosses from a
    # worker process far cheaper than a dict of ~100 entries.
    candidate_json: str = ""
    # Rubin only: ``Alert.survey_extra`` as JSON text, and the cutouts' other planes as
    # (kind, plane, height, width, packed bytes) for ``StampPlane``.
    extra_json: str | None = None
    planes: list[tuple] = field(default_factory=list)


def _clean_number(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json_safe(record: dict) -> dict:
    # PostgreSQL's jsonb refuses NaN/Infinity, which Fink's tables contain.
    out = {}
    for k, v in record.items():
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        elif isinstance(v, bytes):
            continue
        out[k] = v
    return out


def _candidate_json(cand: dict) -> str:
    # orjson writes NaN and +-Infinity as null, which is what _json_safe does, far cheaper than json.dumps;
    # it refuses bytes and integers beyond 64 bits, left to the slow path.
    try:
        return orjson.dumps(cand).decode()
    except TypeError:
        pass
    # Encoding first and cleaning only when the text shows a non-finite number (or bytes refused it) saves
    # _json_safe's Python loop over ~100 values on nearly every packet.
    try:
        text = json.dumps(cand)
    except TypeError:
        text = "NaN"
    if "NaN" in text or "Infinity" in text:
        text = json.dumps(_json_safe(cand), allow_nan=False)
    return text


def night_of(jd: float) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=math.floor(jd - JD_UNIX_EPOCH))


# A light-curve point as ``prepare`` makes it: a tuple, not a dict, being ~25 per alert (pickled from a worker).
POINT_COLUMNS = (
    "object_id", "jd", "fid", "is_detection", "magpsf", "sigmapsf", "diffmaglim", "isdiffpos", "candid", "programid",
)  # fmt: skip
# A Rubin point goes on with its flux (nJy): ``POINT_COLUMNS + FLUX_COLUMNS``. A ZTF point stops at
# ``POINT_COLUMNS`` (its flux is null), so ZTF's hot loop builds and ships no two extra Nones per point.
FLUX_COLUMNS = ("flux_njy", "flux_err_njy")
FLUX_POINT_COLUMNS = POINT_COLUMNS + FLUX_COLUMNS


def point_columns(points: list[tuple]) -> tuple[str, ...]:
    """The columns that ``points`` fill: with the flux when any point carries one (``pad_points`` evens them)."""
    return FLUX_POINT_COLUMNS if any(len(p) > len(POINT_COLUMNS) for p in points) else POINT_COLUMNS


def pad_points(points: list[tuple], columns: tuple[str, ...]) -> list[tuple]:
    """``points`` each as long as ``columns``: a ZTF point in a batch with Rubin ones gets null flux."""
    missing = (None,) * (len(columns) - len(POINT_COLUMNS))
    return [p if len(p) == len(columns) else p + missing for p in points] if missing else points


_PACKET_NAMES = {"object_id": "objectId"}


@functools.cache
def _column_limits(model) -> tuple[tuple[str, str, int | None, int | None, int | None], ...]:
    """(name, packet label, max_length, low, high) of the text and integer columns of ``model``."""
    limits = []
    for f in model._meta.concrete_fields:
        label = _PACKET_NAMES.get(f.attname, f.attname)
        if isinstance(f, models.CharField) and f.max_length:
            limits.append((f.attname, label, f.max_length, None, None))
        elif isinstance(f, models.IntegerField) and not f.primary_key:
            low, high = connection.ops.integer_field_range(f.get_internal_type())
            limits.append((f.attname, label, None, low, high))
    return tuple(limits)


def _check_columns(model, values: dict, where: str) -> None:
    """Refuse values the database would refuse (text too long, integers out of range, absurd times) with
    the packet's own field name, before the batch is written: one hostile packet must not sink a batch."""
    for name, label, max_length, low, high in _column_limits(model):
        value = values.get(name)
        if value is None:
            continue
        if max_length is not None:
            if len(value) > max_length:
                raise AlertRejected(f"{where}{label} is {len(value)} characters long, more than {max_length}")
        elif (low is not None and value < low) or (high is not None and value > high):
            raise AlertRejected(f"{where}{label} = {value} is out of range")
    jd = values.get("jd")
    if jd is not None and not JD_RANGE[0] < jd < JD_RANGE[1]:
        raise AlertRejected(f"{where}jd = {jd} is not a plausible exposure time")


def _check_points(points: list[tuple]) -> None:
    """``_check_columns`` for the light-curve points, a column at a time (point by point it was dear: ~25 a packet).
    Only when a column is out of bounds are the points checked one by one, for the message."""
    if not points:
        return
    for name, _label, max_length, low, high in _column_limits(LightCurvePoint):
        i = POINT_COLUMNS.index(name)
        values = [v for p in points if (v := p[i]) is not None]
        if not values:
            continue
        if max_length is not None:
            bad = max(len(v) for v in values) > max_length
        else:
            bad = (low is not None and min(values) < low) or (high is not None and max(values) > high)
        if bad:
            break
    else:
        jds = [p[1] for p in points]
        if JD_RANGE[0] < min(jds) and max(jds) < JD_RANGE[1]:
            return
    for i, point in enumerate(points):
        columns = FLUX_POINT_COLUMNS[: len(point)]
        _check_columns(LightCurvePoint, dict(zip(columns, point, strict=True)), f"light-curve point {i}: ")
