"""Light curves: the stored points of an object, as plain data (the pages' figure is
``frontend.plots.lightcurves``'s).

Points come from ``LightCurvePoint`` (detections and upper limits gathered at ingest from every alert of the
object, each (jd, filter) once). Rubin points carry their flux in nJy (``flux_njy`` ± ``flux_err_njy``), forced
photometry too; ZTF points have none (null).
"""

from __future__ import annotations

from labeling.models import FILTER_NAMES, Alert, LightCurvePoint

MJD_OFFSET = 2400000.5
POINT_FIELDS = (
    "jd", "fid", "is_detection", "magpsf", "sigmapsf", "diffmaglim", "isdiffpos", "candid", "flux_njy", "flux_err_njy",
)  # fmt: skip


def light_curve_points(object_id: str) -> list[dict]:
    """Every stored point of an object, oldest first, as plain dicts (selector: no writes)."""
    rows = LightCurvePoint.objects.filter(object_id=object_id).order_by("jd", "fid")
    return [
        {
            "jd": p.jd,
            "mjd": round(p.jd - MJD_OFFSET, 6),
            "fid": p.fid,
            "filter": FILTER_NAMES.get(p.fid, str(p.fid)),
            "is_detection": p.is_detection,
            "magpsf": p.magpsf,
            "sigmapsf": p.sigmapsf,
            "diffmaglim": p.diffmaglim,
            "isdiffpos": p.isdiffpos,
            "candid": p.candid,
            "flux_njy": p.flux_njy,
            "flux_err_njy": p.flux_err_njy,
        }
        for p in rows.only(*POINT_FIELDS).iterator()
    ]


def light_curve_json(alert: Alert) -> dict:
    points = light_curve_points(alert.object_id)
    return {
        "object_id": alert.object_id,
        "candid": alert.candid,
        "survey": alert.survey,
        "alert_jd": alert.jd,
        "n_detections": sum(p["is_detection"] for p in points),
        "n_upper_limits": sum(not p["is_detection"] for p in points),
        "points": points,
    }
