"""Rubin (LSST) alerts into the rows ZTF alerts make: the survey-neutral columns mapped from the diaSource
(the table in ``labeling.models.alerts``), the raw records kept, and all three planes of each cutout stored.

Records come from Avro containers and framed messages (``labeling.ingest.files``) and from Fink's Parquet
tables (``read_rubin_parquet``); ``prepare_rubin`` validates one and turns it into a ``PreparedAlert``, touching
no database, as ``labeling.ingest.prepare.prepare`` does for ZTF.
"""

from __future__ import annotations

import math

import numpy as np
import orjson

from labeling.ingest.fits import common_shape, pack_stamp
from labeling.ingest.packets import CUTOUT_FIELDS, AlertRejected, RawAlert
from labeling.ingest.rows import (
    PreparedAlert,
    _candidate_json,
    _check_columns,
    _check_points,
    _clean_number,
    night_of,
)
from labeling.ingest.rubin_fits import cutout_orientation, decode_cutout
from labeling.ingest.rubin_schemas import ID_FIELDS, RECORD_FIELDS
from labeling.models import Alert
from labeling.models.alerts import MAG_PER_RELATIVE_FLUX, NJY_AB_ZEROPOINT

BAND_FID = {"g": 1, "r": 2, "i": 3, "u": 4, "z": 5, "y": 6}
MJD_TO_JD = 2400000.5
# Rubin times are TAI; ZTF's jd, and so ``Alert.jd`` and ``night``, are UTC. TAI - UTC has been 37 s since 2017.
TAI_MINUS_UTC_DAYS = 37.0 / 86400.0
# A magnitude limit at five times the flux error, as ZTF's diffmaglim is a 5-sigma limit.
LIMIT_SIGMA = 5.0


def is_rubin_record(record) -> bool:
    return isinstance(record, dict) and "diaSource" in record


def jd_of(mjd_tai: float) -> float:
    """UTC Julian date of a Rubin TAI MJD."""
    return mjd_tai + MJD_TO_JD - TAI_MINUS_UTC_DAYS


def ab_magnitude(flux_njy) -> float | None:
    """AB magnitude of a flux in nJy, m = 31.4 - 2.5 log10(|f|); None for zero or no flux. A negative
    difference flux gives the magnitude of its size, as ZTF's magpsf does (``isdiffpos`` says which)."""
    if flux_njy is None or not math.isfinite(flux_njy) or flux_njy == 0:
        return None
    return NJY_AB_ZEROPOINT - 2.5 * math.log10(abs(flux_njy))


def magnitude_error(flux_njy, flux_err_njy) -> float | None:
    if flux_njy is None or flux_err_njy is None or not flux_njy or not math.isfinite(flux_err_njy):
        return None
    return MAG_PER_RELATIVE_FLUX * flux_err_njy / abs(flux_njy)


def limiting_magnitude(flux_err_njy) -> float | None:
    if flux_err_njy is None or not math.isfinite(flux_err_njy) or flux_err_njy <= 0:
        return None
    return NJY_AB_ZEROPOINT - 2.5 * math.log10(LIMIT_SIGMA * flux_err_njy)


def _check_exact_ids(value, where: str) -> None:
    """Refuse any identifier (``ID_FIELDS``, at any depth) that is not an integer."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ID_FIELDS and item is not None and (not isinstance(item, int) or isinstance(item, bool)):
                raise AlertRejected(
                    f"{where}{key} = {item!r} is a {type(item).__name__}, not an integer: a 64-bit identifier "
                    "stored as floating point has lost digits and cannot be exact"
                )
            if isinstance(item, dict | list):
                _check_exact_ids(item, f"{where}{key}.")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_exact_ids(item, f"{where[:-1]}[{i}].")


def _number(source: dict, key: str, where: str = "diaSource.") -> float:
    value = _clean_number(source.get(key))
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise AlertRejected(f"{where}{key} is missing or not a number")
    return float(value)


def _finite(value) -> float | None:
    value = _clean_number(value)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _point(object_id: str, source: dict, *, detected: bool, candid: int | None) -> tuple | None:
    """A light-curve point (``FLUX_POINT_COLUMNS`` order) of a diaSource (a detection) or a forced source (an
    upper limit in magnitude; its flux, kept with its error, is a measurement where nothing was detected)."""
    mjd = _finite(source.get("midpointMjdTai"))
    fid = BAND_FID.get(str(source.get("band") or ""))
    if mjd is None or fid is None:
        return None
    flux = _finite(source.get("psfFlux"))
    err = _finite(source.get("psfFluxErr"))
    magpsf = ab_magnitude(flux) if detected else None
    diffmaglim = limiting_magnitude(err)
    if magpsf is None and diffmaglim is None:
        return None
    sigmapsf = magnitude_error(flux, err) if magpsf is not None else None
    isdiffpos = (flux > 0) if magpsf is not None else None
    return (
        object_id, jd_of(mjd), fid, magpsf is not None, magpsf, sigmapsf, diffmaglim, isdiffpos, candid, None, flux, err,
    )  # fmt: skip


def _object_id(source: dict) -> str:
    """The diaObjectId; a solar-system source has none (0) and is the object of its ssObjectId, "ss" before it
    so that the two ID spaces never meet."""
    dia_object, ss_object = source.get("diaObjectId"), source.get("ssObjectId")
    if isinstance(dia_object, int) and not isinstance(dia_object, bool) and dia_object > 0:
        return str(dia_object)
    if isinstance(ss_object, int) and not isinstance(ss_object, bool) and ss_object > 0:
        return f"ss{ss_object}"
    raise AlertRejected(f"diaSource.diaObjectId {dia_object!r} and ssObjectId {ss_object!r}: neither names an object")


def _asteroid_name(record: dict, source: dict) -> str:
    """The known solar-system object matched: its designation when the alert carries one, else its ID."""
    for key, name_key in (("mpc_orbits", "designation"), ("ssSource", "designation"), ("MPCORB", "mpcDesignation")):
        part = record.get(key)
        if isinstance(part, dict) and part.get(name_key):
            return str(part[name_key])[:64]
    ss_id = source.get("ssObjectId")
    return str(ss_id) if isinstance(ss_id, int) and ss_id else ""


def _json_text(obj) -> str:
    try:
        return orjson.dumps(obj, default=str).decode()  # NaN and infinities become null, dates text
    except TypeError:
        return _candidate_json(obj)


def _cutouts(record: dict) -> tuple[dict, list[tuple], dict | None]:
    """The stamps, the other planes, and how the science cutout lies on screen (``cutout_orientation``; the
    template is warped onto the science image's pixels, the difference is their difference)."""
    images, planes = [], []
    orientation = None
    for kind, key in CUTOUT_FIELDS:
        data = record.get(key)
        if data is None:
            raise AlertRejected(f"no {kind} cutout ({key})")
        try:
            image, others, cards = decode_cutout(data)
        except AlertRejected as exc:
            raise AlertRejected(f"{kind} cutout ({key}): {exc}") from None
        if kind == "science":
            orientation = cutout_orientation(cards)
        images.append(image)
        for plane, array in others.items():
            planes.append((kind, plane, array.shape[0], array.shape[1], pack_stamp(array)))
    images = common_shape(images)
    h, w = images[0].shape
    stamps = {"height": h, "width": w, "nan_fraction": float(np.mean([np.isnan(a).mean() for a in images]))}
    for (kind, _), image in zip(CUTOUT_FIELDS, images, strict=True):
        stamps[kind] = pack_stamp(image)
    return stamps, planes, orientation


def prepare_rubin(raw: RawAlert) -> PreparedAlert:
    """Validate one Rubin alert record and decode its cutouts; nothing touches the database here."""
    record = raw.record
    source = record.get("diaSource")
    if not isinstance(source, dict):
        raise AlertRejected("not a Rubin alert (diaSource is not a record)")
    _check_exact_ids({k: record.get(k) for k in RECORD_FIELDS if not k.startswith("cutout")}, "")
    candid = source.get("diaSourceId", record.get("diaSourceId"))
    if not isinstance(candid, int) or isinstance(candid, bool) or candid <= 0:
        raise AlertRejected(f"diaSource.diaSourceId {candid!r} is not a positive integer")
    top = record.get("diaSourceId")
    if top is not None and top != candid:
        raise AlertRejected(f"diaSourceId {top} differs from diaSource.diaSourceId {candid}")
    object_id = _object_id(source)
    mjd = _number(source, "midpointMjdTai")
    ra, dec = _number(source, "ra"), _number(source, "dec")
    if not (0.0 <= ra <= 360.0 and -90.0 <= dec <= 90.0):
        raise AlertRejected(f"position out of range (ra={ra}, dec={dec})")
    band = source.get("band")
    if band not in BAND_FID:
        raise AlertRejected(f"diaSource.band {band!r} is not one of {', '.join(BAND_FID)}")
    stamps, planes, orientation = _cutouts(record)

    jd = jd_of(mjd)
    flux, flux_err = _finite(source.get("psfFlux")), _finite(source.get("psfFluxErr"))
    is_negative = source.get("isNegative")
    dia_object = record.get("diaObject") if isinstance(record.get("diaObject"), dict) else {}
    first_mjd = _finite(dia_object.get("firstDiaSourceMjdTai"))
    n_sources = dia_object.get("nDiaSources")
    fields = {
        "survey": "rubin",
        "candid": candid,
        "object_id": object_id,
        "schemavsn": str(record.get("lsst_schema_version") or "")[:16],
        "publisher": str(record.get("publisher") or "")[:64],
        "jd": jd,
        "night": night_of(jd),
        "fid": BAND_FID[band],
        "ra": ra,
        "dec": dec,
        "magpsf": ab_magnitude(flux),
        "sigmapsf": magnitude_error(flux, flux_err),
        "diffmaglim": limiting_magnitude(flux_err),
        "isdiffpos": (not is_negative) if isinstance(is_negative, bool) else bool(flux and flux > 0),
        "drb": _finite(source.get("reliability")),
        "snr": _finite(source.get("snr")),
        "flux_njy": flux,
        "flux_err_njy": flux_err,
        "ssnamenr": _asteroid_name(record, source),
        "ndethist": n_sources if isinstance(n_sources, int) and not isinstance(n_sources, bool) else None,
        "jdstarthist": jd_of(first_mjd) if first_mjd is not None else None,
        "source": raw.source[-500:],
        "demo_truth": raw.truth,
    }
    points = []
    for past in record.get("prvDiaSources") or ():
        if isinstance(past, dict):
            point = _point(object_id, past, detected=True, candid=past.get("diaSourceId"))
            if point is not None:
                points.append(point)
    for forced in record.get("prvDiaForcedSources") or ():
        if isinstance(forced, dict):
            point = _point(object_id, forced, detected=False, candid=None)
            if point is not None:
                points.append(point)
    own = _point(object_id, source, detected=True, candid=candid)
    if own is not None:
        points.append(own)
    _check_columns(Alert, fields, "")
    _check_points(points)
    extra = {key: record.get(key) for key in ("diaObject", "ssSource", "MPCORB", "mpc_orbits") if key in record}
    extra.update({key: record.get(key) for key in ("observation_reason", "target_name")})
    if orientation is not None:
        extra["cutout_orientation"] = orientation
    return PreparedAlert(candid, fields, stamps, points, raw.source, _candidate_json(source), _json_text(extra), planes)
