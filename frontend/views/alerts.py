"""The alert page: SCIENCE − REFERENCE = DIFFERENCE, the light curve, and the alert's fields; and the light
curve's bokeh figure, which the alert, classify and Talk pages fetch (the points are ``labeling``'s JSON API)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404, render
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from core.roles import VOLUNTEER, role_required
from core.urls import cutout_url
from frontend.plots.lightcurves import light_curve_item
from labeling.api.alerts import ANY_SIGNED_IN, AUTHENTICATION, alert_or_404, sees_scores
from labeling.models import STAMP_KINDS, Alert
from labeling.stamps import STRETCHES

STAMP_DISPLAY_SIZE = 252  # 4 screen pixels per survey pixel; CSS keeps them crisp when scaled further
CAPTIONS = {"science": "Science", "template": "Reference", "difference": "Difference"}


def _fmt(value, digits: int = 2, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}{unit}"
    return f"{value}{unit}"


def alert_field_rows(alert: Alert, *, show_scores: bool) -> list[tuple[str, str, str]]:
    """(label, value, explanation) rows for the fields people judge an alert by."""
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
    rows.append(("schema", f"{alert.schemavsn or 'pre-3.0'} · {alert.publisher or '—'}", "alert schema and publisher"))
    return rows


@role_required(VOLUNTEER)
def alert_page(request, candid: int):
    alert = get_object_or_404(Alert, candid=candid)
    stamps = [{"kind": kind, "caption": CAPTIONS[kind], "url": cutout_url(candid, kind)} for kind in STAMP_KINDS]
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
            "stamps": stamps,
            "stretches": STRETCHES,
            "stamp_size": STAMP_DISPLAY_SIZE,
            "fields": alert_field_rows(alert, show_scores=sees_scores(request.user)),
            "other_alerts": others,
        },
    )


@extend_schema(
    summary="Light curve as a bokeh figure",
    description="A bokeh json_item (magnitude vs time per filter, error bars, upper limits as open triangles, "
    "y inverted) for Bokeh.embed.embed_item. BokehJS is served at /static/bokeh/.",
    responses={200: OpenApiTypes.OBJECT, 404: OpenApiResponse(description="No such candid")},
)
class AlertLightCurvePlot(APIView):
    authentication_classes = AUTHENTICATION
    permission_classes = ANY_SIGNED_IN

    def get(self, request, candid: int):
        return Response(light_curve_item(alert_or_404(candid)))


urlpatterns = [
    path("alerts/<int:candid>/", alert_page, name="alert"),
    path("api/alerts/<int:candid>/lightcurve/plot/", AlertLightCurvePlot.as_view(), name="api-alert-lightcurve-plot"),
]
