"""The alert page: SCIENCE − REFERENCE = DIFFERENCE, the light curve, and the alert's fields; and the light
curve's bokeh figure, which the alert, classify and Talk pages fetch (the points are ``labeling``'s JSON API).

Each survey's cutouts are drawn at their own pixel count (ZTF 63×63 at 1″, Rubin 30×30 to 71×71 at 0.2″),
each survey pixel a crisp square of a whole number of screen pixels, and the page says how much sky that is.
A Rubin alert also shows its own fields (flux, S/N, extendedness, pixel flags) and, on request, each cutout's
variance and PSF planes.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from core.roles import VOLUNTEER, role_required
from core.urls import cutout_url
from frontend.plots.lightcurves import SCALE_LABELS, light_curve_item, scales_for
from labeling.api.alerts import ANY_SIGNED_IN, AUTHENTICATION, alert_or_404, plane_url, sees_scores
from labeling.cards import cutout_orientation
from labeling.models import STAMP_KINDS, Alert, StampPlane
from labeling.stamps import MAX_SIZE, STRETCHES

STAMP_DISPLAY_SIZE = 252  # a ZTF stamp at 4 screen pixels per survey pixel; CSS keeps them crisp when scaled further
CAPTIONS = {"science": "Science", "template": "Reference", "difference": "Difference"}
PLANE_CAPTIONS = {"variance": "variance", "psf": "PSF"}


def _fmt(value, digits: int = 2, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}{unit}"
    return f"{value}{unit}"


def pixel_factor(pixels: int) -> int:
    """Screen pixels per survey pixel: whole, so each stays a crisp square, and about ``STAMP_DISPLAY_SIZE``
    across whatever the stamp's size (a 30×30 Rubin stamp is drawn 8× to look as wide as ZTF's 63×63 at 4×)."""
    return max(1, round(STAMP_DISPLAY_SIZE / max(1, pixels)))


def _arcsec(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0") + "″"


def stamp_scale_text(height: int, width: int, pixel_scale: float) -> str:
    """The stamp's pixels, the survey's pixel scale and the sky they cover, e.g. "30×30 px at 0.2″/px (6″)"."""
    sky = (
        _arcsec(width * pixel_scale)
        if height == width
        else f"{_arcsec(width * pixel_scale)}×{_arcsec(height * pixel_scale)}"
    )
    return f"{width}×{height} px at {pixel_scale:.1f}″/px ({sky})"


def orientation_text(alert: Alert) -> str:
    """Where north and east are on the stamps, as the page says it (the classify page's ``orientationText``
    says the same): ZTF's cutouts are north up, east left; Rubin's are in the detector's orientation."""
    if alert.survey != "rubin":
        return "north up, east left"
    found = cutout_orientation(alert)
    if found is None:
        return "detector orientation (not rotated to north)"
    return f"detector orientation: {_north_words(found['north_deg'])}, east {'left' if found['east_left'] else 'right'}"


def _north_words(north_deg: float) -> str:
    turn = round(abs(north_deg))
    if turn == 0:
        return "north up"
    if turn == 180:
        return "north down"
    return f"north {turn}° {'anticlockwise' if north_deg > 0 else 'clockwise'} from up"


def compass_context(alert: Alert) -> dict | None:
    """The compass beside a Rubin triptych: the rose turned as north is (CSS turns clockwise, hence the minus),
    east on its side; None for ZTF (the page's words suffice) and where the orientation is unknown."""
    found = cutout_orientation(alert) if alert.survey == "rubin" else None
    if found is None:
        return None
    return {"turn": f"{-found['north_deg']:.1f}deg", "east_left": found["east_left"], "text": orientation_text(alert)}


def _ztf_rows(alert: Alert, *, show_scores: bool) -> list[tuple[str, str, str]]:
    mag = "—" if alert.magpsf is None else f"{alert.magpsf:.2f} ± {_fmt(alert.sigmapsf, 2)}"
    ss = _fmt(alert.ssdistnr, 1, '"')
    if alert.ssnamenr:
        ss += f" ({alert.ssnamenr})"
    rows = [
        ("magpsf", mag, "PSF magnitude in the difference image ± 1σ"),
        ("filter", alert.filter_name, "ZTF filter (g, r or i)"),
        ("limit", _fmt(alert.diffmaglim, 2), "5σ limiting magnitude of the difference image"),
        (
            "isdiffpos",
            "positive" if alert.isdiffpos else "negative",
            "science brighter (positive) or fainter than reference",
        ),
        ("fwhm", _fmt(alert.fwhm, 2, " px"), "full width at half maximum (SExtractor)"),
        ("elong", _fmt(alert.elong, 2), "elongation a/b; streaks are long"),
        ("classtar", _fmt(alert.classtar, 2), "SExtractor star/galaxy score (1 = star)"),
        ("sgscore1", _fmt(alert.sgscore1, 2), "PS1 star/galaxy score of the nearest source"),
        ("distpsnr1", _fmt(alert.distpsnr1, 2, '"'), "distance to the nearest PS1 source"),
        ("ssdistnr", ss, "distance to the nearest known solar-system object"),
        ("ndethist", _fmt(alert.ndethist), "detections at this position so far"),
        ("first seen", _fmt(alert.days_since_first_detection, 2, " d ago"), "days since the first detection"),
        ("Galactic b", _fmt(alert.gal_b, 2, "°"), "Galactic latitude"),
        ("RA, Dec", f"{alert.ra:.5f}, {alert.dec:+.5f}", "J2000, degrees"),
        ("night", f"{alert.night.isoformat()} (nid {_fmt(alert.nid)})", "UTC date of the exposure"),
        ("programid", _fmt(alert.programid), "1 = public survey"),
    ]
    if show_scores:
        rows += [
            ("rb", _fmt(alert.rb, 3), "IPAC random-forest real/bogus score"),
            ("drb", _fmt(alert.drb, 3), "braai deep real/bogus score"),
        ]
    return rows


def _rubin_rows(alert: Alert, *, show_scores: bool) -> list[tuple[str, str, str]]:
    """A Rubin alert's fields: its diaSource as sent (``candidate``) beside the mapped columns."""
    source = alert.candidate if isinstance(alert.candidate, dict) else {}
    flux = "—" if alert.flux_njy is None else f"{alert.flux_njy:.0f} ± {_fmt(alert.flux_err_njy, 0)} nJy"
    mag = "—" if alert.magpsf is None else f"{alert.magpsf:.2f} ± {_fmt(alert.sigmapsf, 2)}"
    flags = sorted(
        k.removeprefix("pixelFlags_") for k, v in source.items() if k.startswith("pixelFlags_") and v is True
    )
    trail = source.get("trailLength")
    rows = [
        ("psfFlux", flux, "PSF flux in the difference image ± 1σ (nJy)"),
        ("magnitude", mag, "AB magnitude of that flux, 31.4 − 2.5 log10(flux/nJy) ± 1σ"),
        ("band", alert.filter_name, "Rubin band (u, g, r, i, z or y)"),
        ("limit", _fmt(alert.diffmaglim, 2), "5σ limiting magnitude, from the flux error"),
        (
            "isdiffpos",
            "positive" if alert.isdiffpos else "negative",
            "science brighter (positive) or fainter than reference",
        ),
        ("snr", _fmt(alert.snr, 1), "signal-to-noise ratio of the detection"),
        ("extendedness", _fmt(source.get("extendedness"), 2), "0 = point-like, 1 = extended"),
        ("isDipole", _fmt(source.get("isDipole")), "a positive and a negative lobe side by side"),
        ("trailLength", _fmt(trail, 2, "″") if isinstance(trail, float) else _fmt(trail), "fitted trail length"),
        ("pixel flags", ", ".join(flags) or "none", "pixelFlags_* set for this source (cr, streak, saturated…)"),
        ("asteroid", alert.ssnamenr or "none known", "known solar-system object matched"),
        ("ndethist", _fmt(alert.ndethist), "detections of this object so far (diaObject.nDiaSources)"),
        ("first seen", _fmt(alert.days_since_first_detection, 2, " d ago"), "days since the first detection"),
        ("Galactic b", _fmt(alert.gal_b, 2, "°"), "Galactic latitude"),
        ("RA, Dec", f"{alert.ra:.5f}, {alert.dec:+.5f}", "ICRS, degrees"),
        ("night", f"{alert.night.isoformat()} (visit {_fmt(source.get('visit'))})", "UTC date of the exposure"),
    ]
    if show_scores:
        rows.append(("reliability", _fmt(alert.drb, 3), "Rubin's real/bogus model score (0–1): a model's opinion"))
    return rows


def alert_field_rows(alert: Alert, *, show_scores: bool) -> list[tuple[str, str, str]]:
    """(label, value, explanation) rows for the fields people judge an alert by, in its survey's terms."""
    if alert.survey == "rubin":
        rows = _rubin_rows(alert, show_scores=show_scores)
    else:
        rows = _ztf_rows(alert, show_scores=show_scores)
    rows.append(("schema", f"{alert.schemavsn or 'pre-3.0'} · {alert.publisher or '—'}", "alert schema and publisher"))
    return rows


def _display(pixels: int, factor: int) -> int:
    return min(MAX_SIZE, pixels * factor)


def _plane_cell(candid: int, kind: str, plane: str, height: int, width: int, largest: int) -> dict:
    """One variance or PSF image at its own size: every plane is drawn at one magnification (the largest fills
    its column), so a PSF larger or smaller than its cutout looks so."""
    factor = pixel_factor(largest)
    return {
        "kind": kind,
        "caption": CAPTIONS[kind],
        "url": f"{plane_url(candid, kind, plane)}?size={_display(max(height, width), factor)}",
        "pixels": f"{width}x{height}",
        "text": f"{width}×{height} px",
        "width": _display(width, factor),
        "height": _display(height, factor),
        "percent": round(100 * width / largest, 2),
    }


def stamp_context(alert: Alert) -> dict:
    """The triptych at the stamps' own size, and (Rubin) each cutout's variance and PSF planes beside it."""
    stamps_row = getattr(alert, "stamps", None)
    height, width = (stamps_row.height, stamps_row.width) if stamps_row else (63, 63)
    factor = pixel_factor(max(height, width))
    size = _display(max(height, width), factor)
    stamps = [{"kind": kind, "caption": CAPTIONS[kind], "url": cutout_url(alert.candid, kind)} for kind in STAMP_KINDS]
    shapes = {
        (kind, plane): (h, w)
        for kind, plane, h, w in alert.stamp_planes.values_list("kind", "plane", "height", "width")
    }
    largest = max((max(hw) for hw in shapes.values()), default=1)
    plane_rows = []
    for plane in StampPlane.PLANES:
        cells = [
            _plane_cell(alert.candid, kind, plane, *shapes[kind, plane], largest)
            for kind in STAMP_KINDS
            if (kind, plane) in shapes
        ]
        if cells:
            plane_rows.append({"plane": plane, "caption": PLANE_CAPTIONS[plane], "cells": cells})
    return {
        "stamps": stamps,
        "stamp_size": size,
        "stamp_width": _display(width, factor),
        "stamp_height": _display(height, factor),
        "stamp_pixels": f"{width}x{height}",
        "stamp_scale": stamp_scale_text(height, width, alert.pixel_scale_arcsec),
        "plane_rows": plane_rows,
    }


def light_curve_scales(alert: Alert) -> list[dict]:
    """The scales the page may switch the light curve to, the default first, each with its figure's URL."""
    base = reverse("api-alert-lightcurve-plot", kwargs={"candid": alert.candid})
    return [{"scale": s, "label": SCALE_LABELS[s], "url": f"{base}?scale={s}"} for s in scales_for(alert)]


@role_required(VOLUNTEER)
def alert_page(request, candid: int):
    alert = get_object_or_404(
        Alert.objects.select_related("stamps").defer(*(f"stamps__{k}" for k in STAMP_KINDS)), candid=candid
    )
    others = list(
        Alert.objects.filter(object_id=alert.object_id)
        .exclude(pk=alert.pk)
        .order_by("-jd")
        .values_list("candid", "night")[:20]
    )
    return render(
        request,
        "frontend/alerts/alert.html",
        {
            "alert": alert,
            **stamp_context(alert),
            "stretches": STRETCHES,
            "orientation": orientation_text(alert),
            "compass": compass_context(alert),
            "fields": alert_field_rows(alert, show_scores=sees_scores(request.user)),
            "other_alerts": others,
            "lc_scales": light_curve_scales(alert),
        },
    )


@extend_schema(
    summary="Light curve as a bokeh figure",
    description="A bokeh json_item (magnitude vs time per filter, error bars, upper limits as open triangles, "
    "y inverted; for Rubin also flux in nJy, forced photometry as open circles) for Bokeh.embed.embed_item, "
    "with the scale drawn and the scales offered (each with its URL). BokehJS is served at /static/bokeh/.",
    parameters=[
        OpenApiParameter("scale", str, enum=list(SCALE_LABELS), description="default: flux for Rubin, mag for ZTF")
    ],
    responses={
        200: OpenApiTypes.OBJECT,
        400: OpenApiResponse(description="A scale the alert's survey has no data for"),
        404: OpenApiResponse(description="No such candid"),
    },
)
class AlertLightCurvePlot(APIView):
    authentication_classes = AUTHENTICATION
    permission_classes = ANY_SIGNED_IN

    def get(self, request, candid: int):
        alert = alert_or_404(candid)
        offered = scales_for(alert)
        scale = request.query_params.get("scale") or offered[0]
        if scale not in offered:
            raise ValidationError(
                {"scale": f"this alert's light curve is drawn in {' or '.join(offered)}, not {scale!r}"}
            )
        # The figure, as embed_item takes it, and beside it what a page needs to offer the other scale and to
        # describe the alert's stamps (the classify page has no other word of the survey).
        return Response(
            {
                **light_curve_item(alert, scale),
                "scale": scale,
                "scales": light_curve_scales(alert),
                "survey": alert.survey,
                "pixel_scale_arcsec": alert.pixel_scale_arcsec,
            }
        )


urlpatterns = [
    path("alerts/<int:candid>/", alert_page, name="alert"),
    path("api/alerts/<int:candid>/lightcurve/plot/", AlertLightCurvePlot.as_view(), name="api-alert-lightcurve-plot"),
]
