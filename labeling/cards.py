"""What a volunteer sees of a subject: stamp and light-curve links, the alert fields people use, and a slot for
the model's verdict (filled by the classifiers). One shape for the classify API, the classify page's tutorial
and field guide, and Talk."""

from __future__ import annotations

from core.urls import alert_page_url, cutout_urls, lightcurve_plot_url, talk_thread_url
from labeling.models import STAMP_KINDS, Alert, Subject


def stamp_urls(candid: int) -> dict[str, str]:
    """PNG cutouts (ZScale) of the three stamps; the page appends ``?stretch=`` one of ``stamps.STRETCHES``."""
    return cutout_urls(candid, STAMP_KINDS)


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def cutout_orientation(alert: Alert) -> dict | None:
    """How the alert's cutouts lie on screen: north's angle anticlockwise from up, whether east is left of north,
    and the pixel scale. ZTF's are north up, east left (``labeling.stamps``); a Rubin cutout is in its
    detector's orientation, measured from its WCS at ingest (``labeling.ingest.rubin_fits``); None where that
    is unknown (a Rubin alert stored before it was measured, or one whose cutout had no WCS)."""
    if alert.survey != "rubin":
        return {"north_deg": 0.0, "east_left": True, "pixel_scale_arcsec": alert.pixel_scale_arcsec}
    extra = alert.survey_extra if isinstance(alert.survey_extra, dict) else {}
    stored = extra.get("cutout_orientation")
    if not isinstance(stored, dict):
        return None
    north, east_left, scale = stored.get("north_deg"), stored.get("east_left"), stored.get("pixel_scale_arcsec")
    if not isinstance(north, int | float) or isinstance(north, bool) or not isinstance(east_left, bool):
        return None
    scale = float(scale) if isinstance(scale, int | float) and not isinstance(scale, bool) else None
    return {"north_deg": float(north), "east_left": east_left, "pixel_scale_arcsec": scale}


def _common_fields(alert: Alert) -> dict:
    """What both surveys' cards show the same way."""
    return {
        "isdiffpos": alert.isdiffpos,
        "ssnamenr": alert.ssnamenr or None,
        "ndethist": alert.ndethist,
        "days_since_first_detection": _rounded(alert.days_since_first_detection, 3),
        "gal_b": _rounded(alert.gal_b, 3),
        "ra": _rounded(alert.ra, 6),
        "dec": _rounded(alert.dec, 6),
        "jd": alert.jd,
        "night": alert.night.isoformat() if alert.night else None,
    }


def alert_fields(alert: Alert) -> dict:
    """The candidate fields volunteers look at, in its survey's terms (no rb/drb or Rubin's reliability: a
    machine's verdict would bias the human one). A Rubin candidate's own measures are a flux in nJy and its S/N
    where ZTF has SExtractor's and PS1's."""
    if alert.survey == "rubin":
        own = {
            "flux_njy": _rounded(alert.flux_njy, 1),
            "flux_err_njy": _rounded(alert.flux_err_njy, 1),
            "magpsf": _rounded(alert.magpsf, 3),
            "sigmapsf": _rounded(alert.sigmapsf, 3),
            "snr": _rounded(alert.snr, 1),
            "band": alert.filter_name,
            "filter": alert.filter_name,
        }
    else:
        own = {
            "magpsf": _rounded(alert.magpsf, 3),
            "sigmapsf": _rounded(alert.sigmapsf, 3),
            "filter": alert.filter_name,
            "fwhm": _rounded(alert.fwhm, 2),
            "elong": _rounded(alert.elong, 3),
            "classtar": _rounded(alert.classtar, 3),
            "sgscore1": _rounded(alert.sgscore1, 3),
            "distpsnr1": _rounded(alert.distpsnr1, 2),
            "ssdistnr": _rounded(alert.ssdistnr, 2),
        }
    return {**own, **_common_fields(alert)}


def subject_card(subject: Subject, panel: dict | None = None) -> dict:
    alert = subject.alert
    return {
        "id": subject.pk,
        # A string: candids pass 2**53, beyond what a JavaScript number holds exactly.
        "candid": str(alert.candid),
        "object_id": alert.object_id,
        "survey": alert.survey,
        "pixel_scale_arcsec": alert.pixel_scale_arcsec,
        "cutout_orientation": cutout_orientation(alert),
        "stamps": stamp_urls(alert.candid),
        "light_curve_url": lightcurve_plot_url(alert.candid),
        "talk_url": talk_thread_url(alert.candid),
        "alert_url": alert_page_url(alert.candid),
        "fields": alert_fields(alert),
        "model": panel,
    }


def subject_cards(subjects: list[Subject], panels: dict[int, dict] | None = None) -> list[dict]:
    """One card per subject; ``panels`` (by alert id) are the model's verdicts, which the floor that knows the
    models passes in (``classifiers.api.classify``)."""
    panels = panels or {}
    return [subject_card(s, panels.get(s.alert_id)) for s in subjects]


def example_card(alert: Alert) -> dict:
    """A tutorial or field-guide example: the stamps and the identifiers, no fields."""
    return {"candid": str(alert.candid), "object_id": alert.object_id, "stamps": stamp_urls(alert.candid)}
