"""What a volunteer sees of a subject: stamp and light-curve links, the alert fields people use, the model's
score. One shape for the classify API, the classify page's tutorial and field guide, and Talk."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

from labeling.models import STAMP_KINDS, Alert, Subject

log = logging.getLogger(__name__)

STRETCHES = ("linear", "log", "asinh")


def stamp_urls(candid: int) -> dict[str, str]:
    """PNG cutouts (ZScale); the page appends ``?stretch=linear|log|asinh``."""
    return {kind: f"/api/alerts/{candid}/cutouts/{kind}.png" for kind in STAMP_KINDS}


def light_curve_url(candid: int) -> str:
    """The bokeh json_item of the alert's light curve."""
    return f"/api/alerts/{candid}/lightcurve/plot/"


def talk_url(candid: int) -> str:
    return f"/talk/alert/{candid}/"


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def alert_fields(alert: Alert) -> dict:
    """The candidate fields volunteers look at (no rb/drb: a machine's verdict would bias the human one)."""
    return {
        "magpsf": _rounded(alert.magpsf, 3),
        "sigmapsf": _rounded(alert.sigmapsf, 3),
        "filter": alert.filter_name,
        "fwhm": _rounded(alert.fwhm, 2),
        "elong": _rounded(alert.elong, 3),
        "classtar": _rounded(alert.classtar, 3),
        "sgscore1": _rounded(alert.sgscore1, 3),
        "distpsnr1": _rounded(alert.distpsnr1, 2),
        "isdiffpos": alert.isdiffpos,
        "ssdistnr": _rounded(alert.ssdistnr, 2),
        "ssnamenr": alert.ssnamenr or None,
        "ndethist": alert.ndethist,
        "days_since_first_detection": _rounded(alert.days_since_first_detection, 3),
        "gal_b": _rounded(alert.gal_b, 3),
        "ra": _rounded(alert.ra, 6),
        "dec": _rounded(alert.dec, 6),
        "jd": alert.jd,
        "night": alert.night.isoformat() if alert.night else None,
    }


def _jsonable(panel) -> dict | None:
    if not isinstance(panel, dict):
        return None
    out = {}
    for key, value in panel.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        out[str(key)] = value
    return out or None


def model_panels(alerts: Iterable[Alert]) -> dict[int, dict]:
    """The active model's score (and explanation overlay links) per alert id, from the classifiers app when it
    provides them; an empty dict when no model exists or the app has nothing to say. Never raises: a page
    without a model shows no score, not an error."""
    alerts = list(alerts)
    try:
        from classifiers import selectors
    except ImportError:
        return {}
    try:
        batch = getattr(selectors, "score_panels", None)
        if batch is not None:
            panels = batch(alerts) or {}
        else:
            single = getattr(selectors, "score_panel", None)
            if single is None:
                return {}
            panels = {a.pk: single(a) for a in alerts}
    except Exception:  # noqa: BLE001 - the score is optional; the volunteer can classify without it
        log.exception("model scores unavailable for the classify page")
        return {}
    return {pk: clean for pk, panel in panels.items() if (clean := _jsonable(panel))}


def subject_card(subject: Subject, panel: dict | None = None) -> dict:
    alert = subject.alert
    return {
        "id": subject.pk,
        # A string: candids pass 2**53, beyond what a JavaScript number holds exactly.
        "candid": str(alert.candid),
        "object_id": alert.object_id,
        "stamps": stamp_urls(alert.candid),
        "light_curve_url": light_curve_url(alert.candid),
        "talk_url": talk_url(alert.candid),
        "fields": alert_fields(alert),
        "model": panel,
    }


def subject_cards(subjects: list[Subject]) -> list[dict]:
    panels = model_panels(s.alert for s in subjects)
    return [subject_card(s, panels.get(s.alert_id)) for s in subjects]


def example_card(alert: Alert) -> dict:
    """A tutorial or field-guide example: the stamps and the identifiers, no fields."""
    return {"candid": str(alert.candid), "object_id": alert.object_id, "stamps": stamp_urls(alert.candid)}
