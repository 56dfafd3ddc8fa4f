"""Packets into rows: each packet validated and its cutouts decoded before anything is written, so that a bad
packet is refused with a message naming the file, the candid (when known) and the reason, never half-written.

Nothing here touches the database, so it runs as well in a worker process as in the caller's.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np

from labeling.ingest.files import read_file
from labeling.ingest.fits import common_shape, decode_stamp_checked, pack_stamp
from labeling.ingest.packets import CUTOUT_FIELDS, AlertRejected, FileUnreadable, RawAlert
from labeling.ingest.rows import (
    JD_RANGE,
    PreparedAlert,
    _candidate_json,
    _check_columns,
    _check_points,
    _clean_number,
    night_of,
)
from labeling.ingest.rubin import is_rubin_record, prepare_rubin
from labeling.models import Alert

# ZTF writes -999 where there is no match (no PS1 source, no known solar-system object nearby).
SENTINEL_FIELDS = frozenset({"sgscore1", "distpsnr1", "ssdistnr", "ssmagnr"})
FLOAT_COLUMNS = (
    "magpsf", "sigmapsf", "diffmaglim", "rb", "drb", "fwhm", "elong", "classtar", "magdiff",
    "sgscore1", "distpsnr1", "ssdistnr", "ssmagnr", "jdstarthist",
)  # fmt: skip
INT_COLUMNS = ("nbad", "ndethist", "ncovhist", "programid", "field", "rcid", "nid")


def _isdiffpos(value) -> bool | None:
    if value is None:
        return None
    return str(value).strip().lower() in ("t", "1", "true")


def _lightcurve_point(object_id: str, p: dict, own_candid: int | None = None) -> tuple | None:
    # ~25 of these per real alert (its prv_candidates): written flat, as the hottest loop of prepare().
    jd = p.get("jd")
    fid = p.get("fid")
    if jd is None or fid is None or (jd.__class__ is float and not math.isfinite(jd)):
        return None
    magpsf = p.get("magpsf")
    if magpsf is not None and magpsf.__class__ is float and not math.isfinite(magpsf):
        magpsf = None
    diffmaglim = p.get("diffmaglim")
    if diffmaglim is not None and diffmaglim.__class__ is float and not math.isfinite(diffmaglim):
        diffmaglim = None
    if magpsf is None and diffmaglim is None:
        return None
    candid = own_candid if own_candid is not None else p.get("candid")
    # Some Fink tables store prv candid as a double, with precision lost: such a value is no identifier.
    if candid.__class__ is not int:
        candid = None if not isinstance(candid, int) or isinstance(candid, bool) else int(candid)
    programid = p.get("programid")
    if programid is not None and programid.__class__ is not int:
        programid = int(programid) if isinstance(programid, int | float) and math.isfinite(programid) else None
    if magpsf is not None:
        sigmapsf = p.get("sigmapsf")
        if sigmapsf is not None and sigmapsf.__class__ is float and not math.isfinite(sigmapsf):
            sigmapsf = None
        isdiffpos = _isdiffpos(p.get("isdiffpos"))
    else:
        sigmapsf = isdiffpos = None
    return (
        object_id,
        float(jd),
        int(fid),
        magpsf is not None,
        magpsf,
        sigmapsf,
        diffmaglim,
        isdiffpos,
        candid,
        programid,
    )


def prepare(raw: RawAlert) -> PreparedAlert:
    """Validate one packet and decode its cutouts; nothing touches the database here."""
    record = raw.record
    missing = [k for k in ("candid", "objectId", "candidate") if record.get(k) is None]
    if missing:
        raise AlertRejected(f"not a ZTF alert packet (missing {', '.join(missing)})")
    candid = record["candid"]
    if not isinstance(candid, int) or isinstance(candid, bool) or candid <= 0:
        raise AlertRejected(f"candid {candid!r} is not a positive integer")
    cand = record["candidate"]
    if not isinstance(cand, dict):
        raise AlertRejected("candidate is not a record")
    for key in ("jd", "fid", "ra", "dec"):
        value = _clean_number(cand.get(key))
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise AlertRejected(f"candidate.{key} is missing or not a number")
    if not (0.0 <= cand["ra"] <= 360.0 and -90.0 <= cand["dec"] <= 90.0):
        raise AlertRejected(f"position out of range (ra={cand['ra']}, dec={cand['dec']})")
    if not JD_RANGE[0] < cand["jd"] < JD_RANGE[1]:
        raise AlertRejected(f"candidate.jd = {cand['jd']} is not a plausible exposure time")

    arrays = []
    nonfinite = []
    as_sent = []  # per stamp: the packet's bytes when they can be stored as they are, else None
    for kind, key in CUTOUT_FIELDS:
        cutout = record.get(key)
        if not isinstance(cutout, dict) or cutout.get("stampData") is None:
            raise AlertRejected(f"no {kind} cutout ({key})")
        try:
            array, bad, kept = decode_stamp_checked(cutout["stampData"])
        except AlertRejected as exc:
            raise AlertRejected(f"{kind} cutout: {exc}") from None
        arrays.append(array)
        nonfinite.append(bad)
        as_sent.append(kept)
    shapes = [a.shape for a in arrays]
    arrays = common_shape(arrays)
    h, w = arrays[0].shape
    if all(shape == (h, w) for shape in shapes):
        nan_fraction = (nonfinite[0] / (h * w) + nonfinite[1] / (h * w) + nonfinite[2] / (h * w)) / 3
    else:  # padded with NaN: count again
        nan_fraction = float(np.mean([np.isnan(a).mean() for a in arrays]))
        as_sent = [sent if shape == (h, w) else None for sent, shape in zip(as_sent, shapes, strict=True)]

    object_id = str(record["objectId"])
    fields = {
        "candid": candid,
        "object_id": object_id,
        "schemavsn": str(record.get("schemavsn") or ""),
        "publisher": str(record.get("publisher") or "")[:64],
        "jd": float(cand["jd"]),
        "night": night_of(float(cand["jd"])),
        "fid": int(cand["fid"]),
        "ra": float(cand["ra"]),
        "dec": float(cand["dec"]),
        "isdiffpos": bool(_isdiffpos(cand.get("isdiffpos"))),
        "ssnamenr": "" if cand.get("ssnamenr") in (None, "null") else str(cand["ssnamenr"])[:64],
        "source": raw.source[-500:],
        "demo_truth": raw.truth,
    }
    for name in FLOAT_COLUMNS:
        value = _clean_number(cand.get(name))
        if value is not None and name in SENTINEL_FIELDS and value <= -998.5:
            value = None
        fields[name] = float(value) if value is not None else None
    for name in INT_COLUMNS:
        value = cand.get(name)
        fields[name] = int(value) if isinstance(value, int | float) and math.isfinite(value) else None

    points = []
    for p in record.get("prv_candidates") or ():
        if isinstance(p, dict):
            point = _lightcurve_point(object_id, p)
            if point is not None:
                points.append(point)
    own = _lightcurve_point(object_id, cand, own_candid=candid)
    if own is not None:
        points.append(own)

    stamps = {
        "height": h,
        "width": w,
        # The packet's own gzip stream where it holds a plain image (most do): re-compressing the pixels cost
        # more than any other step but inflating them, for no smaller result.
        "science": as_sent[0] if as_sent[0] is not None else pack_stamp(arrays[0]),
        "template": as_sent[1] if as_sent[1] is not None else pack_stamp(arrays[1]),
        "difference": as_sent[2] if as_sent[2] is not None else pack_stamp(arrays[2]),
        "nan_fraction": nan_fraction,
    }
    _check_columns(Alert, fields, "")
    _check_points(points)
    candidate_json = _candidate_json(cand)
    return PreparedAlert(candid, fields, stamps, points, raw.source, candidate_json)


@functools.cache
def _icrs_to_galactic() -> np.ndarray:
    """The ICRS -> Galactic rotation, as astropy defines it (via FK5 J2000), taken from astropy once.

    Both frames are fixed (no epoch, no observer), so the transform is one constant 3x3 matrix; building a
    SkyCoord per batch spent its time in astropy's frame-graph machinery, not in arithmetic.
    """
    from astropy.coordinates import CartesianRepresentation, SkyCoord

    # The images of the ICRS unit vectors are the matrix's columns.
    return np.array(SkyCoord(CartesianRepresentation(np.eye(3)), frame="icrs").galactic.cartesian.xyz.value)


def galactic(ra: list[float], dec: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Galactic (l, b) in degrees of ICRS (ra, dec) in degrees; matches ``SkyCoord(...).galactic`` to ~1e-11 deg."""
    ra_rad = np.radians(np.asarray(ra, dtype=np.float64))
    dec_rad = np.radians(np.asarray(dec, dtype=np.float64))
    cos_dec = np.cos(dec_rad)
    x, y, z = _icrs_to_galactic() @ np.stack([cos_dec * np.cos(ra_rad), cos_dec * np.sin(ra_rad), np.sin(dec_rad)])
    gal_l = np.mod(np.degrees(np.arctan2(y, x)), 360.0)
    gal_l[gal_l >= 360.0] = 0.0  # a tiny negative angle rounds to 360.0; astropy's Longitude wraps it to 0
    return gal_l, np.degrees(np.arctan2(z, np.hypot(x, y)))


def _describe(raw: RawAlert) -> str:
    candid = raw.record.get("candid") if isinstance(raw.record, dict) else None
    return f"{raw.source}: candid {candid}" if candid is not None else f"{raw.source}"


def prepare_file(path: Path | str, schema: Path | None = None) -> tuple[list[PreparedAlert], list[str]]:
    """Read and prepare every alert of one file: the packets ready to write, and one message per refusal.
    No database access, so it runs as well in a worker process as in the caller's. ``schema``: the .avsc a
    Rubin framed record is decoded with, instead of the one its schema ID names."""
    path = Path(path)
    prepared: list[PreparedAlert] = []
    errors: list[str] = []
    try:
        for raw in read_file(path, schema=schema):
            try:
                prepared.append(prepare_rubin(raw) if is_rubin_record(raw.record) else prepare(raw))
            except AlertRejected as exc:
                errors.append(f"{_describe(raw)}: {exc}")
            except (ValueError, TypeError, OverflowError, KeyError, IndexError) as exc:
                # A value no check above foresaw: refuse this packet, keep going with the others.
                errors.append(f"{_describe(raw)}: unreadable value ({type(exc).__name__}: {exc})")
    except FileUnreadable as exc:
        errors.append(f"{path}: {exc}")
    return prepared, errors
