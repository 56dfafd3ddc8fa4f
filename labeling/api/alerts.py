"""Read API for alerts: list and detail, light curve (JSON; the bokeh figure is ``frontend.views.alerts``'s),
cutouts as PNG, and a Rubin cutout's variance and PSF planes as PNG.

Every endpoint needs a signed-in user (any role: volunteers look at alerts too). Machine real/bogus scores
(``rb``, ``drb``) are shown to scientists and ML leads only, as on the classify page, so they cannot bias a
volunteer's own judgement. Demo truth is never served.

Cutouts are rendered by ``labeling.stamps.stamp_png`` and cached: a strong ETag per (stamp bytes, stretch,
size) answers a repeated request with 304, ``Cache-Control`` lets the browser keep it, and the server keeps
rendered PNGs in Django's cache so one stamp is rendered once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.core.cache import cache
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import generics, serializers
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from core.conf import blink_setting
from core.roles import MLLEAD, SCIENTIST, VOLUNTEER, HasRole, has_role
from core.urls import alert_api_url, alert_page_url, cutout_urls, lightcurve_plot_url, lightcurve_url
from labeling.lightcurves import light_curve_json
from labeling.models import STAMP_KINDS, Alert, StampPlane, Stamps
from labeling.stamps import MAX_SIZE, STRETCHES, plane_etag, plane_png, stamp_etag, stamp_png

ANY_SIGNED_IN = [HasRole.of(VOLUNTEER)]
# Token first: DRF answers an anonymous request with the first class's WWW-Authenticate challenge, and only
# a challenge makes it a 401 (with session auth first it would be a 403).
AUTHENTICATION = [TokenAuthentication, SessionAuthentication]
# Machine verdicts and server paths are for scientists and ML leads; volunteers judge for themselves.
PRIVILEGED_FIELDS = ("rb", "drb", "source")
# Rubin's diaSource (a Rubin alert's candidate) carries its real/bogus score as reliability.
PRIVILEGED_CANDIDATE_KEYS = ("rb", "drb", "rbversion", "drbversion", "reliability")


def sees_scores(user) -> bool:
    return has_role(user, SCIENTIST, MLLEAD)


def alert_urls(candid: int) -> dict:
    return {
        "page": alert_page_url(candid),
        "api": alert_api_url(candid),
        "lightcurve": lightcurve_url(candid),
        "lightcurve_plot": lightcurve_plot_url(candid),
        "cutouts": cutout_urls(candid, STAMP_KINDS),
    }


class AlertSummarySerializer(serializers.ModelSerializer):
    filter = serializers.CharField(source="filter_name", read_only=True)
    urls = serializers.SerializerMethodField()

    class Meta:
        model = Alert
        fields = (
            "candid", "survey", "object_id", "jd", "night", "nid", "fid", "filter", "ra", "dec", "gal_l", "gal_b",
            "magpsf", "sigmapsf", "isdiffpos", "rb", "drb", "programid", "urls",
        )  # fmt: skip

    def get_urls(self, alert) -> dict:
        return alert_urls(alert.candid)

    def to_representation(self, alert):
        data = super().to_representation(alert)
        request = self.context.get("request")
        if request is None or not sees_scores(request.user):
            for name in PRIVILEGED_FIELDS:
                data.pop(name, None)
            if isinstance(data.get("candidate"), dict):
                data["candidate"] = {k: v for k, v in data["candidate"].items() if k not in PRIVILEGED_CANDIDATE_KEYS}
        return data


class StampsMetaSerializer(serializers.Serializer):
    height = serializers.IntegerField()
    width = serializers.IntegerField()
    nan_fraction = serializers.FloatField()


class AlertDetailSerializer(AlertSummarySerializer):
    days_since_first_detection = serializers.FloatField(read_only=True, allow_null=True)
    is_demo = serializers.BooleanField(read_only=True)
    pixel_scale_arcsec = serializers.FloatField(read_only=True, help_text="Sky per stamp pixel: ZTF 1.0, Rubin 0.2")
    stamps = serializers.SerializerMethodField()

    class Meta(AlertSummarySerializer.Meta):
        fields = (
            *AlertSummarySerializer.Meta.fields,
            "schemavsn", "publisher", "diffmaglim", "fwhm", "elong", "classtar", "nbad", "magdiff",
            "sgscore1", "distpsnr1", "ssdistnr", "ssnamenr", "ssmagnr", "ndethist", "ncovhist", "jdstarthist",
            "field", "rcid", "days_since_first_detection", "is_demo", "stamps", "candidate", "source",
            "ingested_at", "snr", "flux_njy", "flux_err_njy", "survey_extra", "pixel_scale_arcsec",
        )  # fmt: skip

    @extend_schema_field(StampsMetaSerializer(allow_null=True))
    def get_stamps(self, alert) -> dict | None:
        try:
            stamps = alert.stamps
        except Stamps.DoesNotExist:
            return None
        return {"height": stamps.height, "width": stamps.width, "nan_fraction": stamps.nan_fraction}


URLS_SCHEMA = inline_serializer(
    "AlertUrls",
    {
        "page": serializers.CharField(),
        "api": serializers.CharField(),
        "lightcurve": serializers.CharField(),
        "lightcurve_plot": serializers.CharField(),
        "cutouts": serializers.DictField(child=serializers.CharField()),
    },
)
AlertSummarySerializer.get_urls = extend_schema_field(URLS_SCHEMA)(AlertSummarySerializer.get_urls)


def alert_or_404(candid: int) -> Alert:
    return get_object_or_404(Alert, candid=candid)


# ----------------------------------------------------------------------------------------------------
# Alerts
# ----------------------------------------------------------------------------------------------------


@extend_schema(
    summary="List alerts",
    description="Alerts, newest first, paginated. Filter by objectId and/or UTC night. "
    "rb and drb are included for scientists and ML leads only.",
    parameters=[
        OpenApiParameter("object_id", str, description="ZTF objectId, e.g. ZTF20aahgyet"),
        OpenApiParameter("night", OpenApiTypes.DATE, description="UTC date of the exposure, YYYY-MM-DD"),
    ],
)
class AlertList(generics.ListAPIView):
    authentication_classes = AUTHENTICATION
    permission_classes = ANY_SIGNED_IN
    serializer_class = AlertSummarySerializer

    def get_queryset(self):
        qs = Alert.objects.order_by("-jd", "candid").defer("candidate")
        object_id = self.request.query_params.get("object_id")
        if object_id:
            qs = qs.filter(object_id=object_id)
        night = self.request.query_params.get("night")
        if night:
            try:
                qs = qs.filter(night=dt.date.fromisoformat(night))
            except ValueError:
                raise ValidationError({"night": f"{night!r} is not a date; use YYYY-MM-DD"}) from None
        return qs


@extend_schema(
    summary="One alert", responses={200: AlertDetailSerializer, 404: OpenApiResponse(description="No such candid")}
)
class AlertDetail(APIView):
    authentication_classes = AUTHENTICATION
    permission_classes = ANY_SIGNED_IN

    def get(self, request, candid: int):
        alert = get_object_or_404(
            Alert.objects.select_related("stamps").defer("stamps__science", "stamps__template", "stamps__difference"),
            candid=candid,
        )
        return Response(AlertDetailSerializer(alert, context={"request": request}).data)


# ----------------------------------------------------------------------------------------------------
# Light curves
# ----------------------------------------------------------------------------------------------------

LIGHT_CURVE_POINT_FIELDS = {
    "jd": serializers.FloatField(),
    "mjd": serializers.FloatField(),
    "fid": serializers.IntegerField(),
    "filter": serializers.CharField(),
    "is_detection": serializers.BooleanField(),
    "magpsf": serializers.FloatField(allow_null=True),
    "sigmapsf": serializers.FloatField(allow_null=True),
    "diffmaglim": serializers.FloatField(allow_null=True),
    "isdiffpos": serializers.BooleanField(allow_null=True),
    "candid": serializers.IntegerField(allow_null=True),
    "flux_njy": serializers.FloatField(allow_null=True, help_text="Rubin only: PSF flux in nJy, forced ones too"),
    "flux_err_njy": serializers.FloatField(allow_null=True),
}
LIGHT_CURVE = inline_serializer(
    "LightCurve",
    {
        "object_id": serializers.CharField(),
        "candid": serializers.IntegerField(),
        "survey": serializers.CharField(),
        "alert_jd": serializers.FloatField(),
        "n_detections": serializers.IntegerField(),
        "n_upper_limits": serializers.IntegerField(),
        "points": inline_serializer("LightCurvePointOut", LIGHT_CURVE_POINT_FIELDS, many=True),
    },
)


@extend_schema(
    summary="Light curve of the alert's object",
    description="Every stored detection and upper limit of the object (from all its alerts' prv_candidates), "
    "oldest first.",
    responses={200: LIGHT_CURVE, 404: OpenApiResponse(description="No such candid")},
)
class AlertLightCurve(APIView):
    authentication_classes = AUTHENTICATION
    permission_classes = ANY_SIGNED_IN

    def get(self, request, candid: int):
        return Response(light_curve_json(alert_or_404(candid)))


# ----------------------------------------------------------------------------------------------------
# Cutouts
# ----------------------------------------------------------------------------------------------------


def png_responses(*, bad_request: str, not_found: str) -> dict:
    """The OpenAPI answers of an image endpoint that sends an ETag (cutouts here, explanations in classifiers)."""
    return {
        (200, "image/png"): OpenApiTypes.BINARY,
        304: OpenApiResponse(description="Not modified (ETag matched)"),
        400: OpenApiResponse(description=bad_request),
        404: OpenApiResponse(description=not_found),
    }


class ImagesIgnoreAccept(BaseContentNegotiation):
    """An <img> asks for image/*; errors still go out as JSON, so negotiation must not refuse it with 406."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _etag_matches(request, etag: str) -> bool:
    header = request.headers.get("If-None-Match", "")
    if not header:
        return False
    if header.strip() == "*":
        return True
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return etag in tags


def png_response(request, etag: str, render: Callable[[], bytes]) -> HttpResponse:
    """A PNG the browser may keep: 304 when the client already holds ``etag``, else what ``render`` makes (only
    then is it called); both with the ETag and a private cache lifetime."""
    response = (
        HttpResponse(status=304) if _etag_matches(request, etag) else HttpResponse(render(), content_type="image/png")
    )
    response["ETag"] = etag
    response["Cache-Control"] = f"private, max-age={blink_setting('STAMP_CACHE_SECONDS')}"
    return response


def _size_param(request) -> int | None:
    size = request.query_params.get("size")
    if size is None:
        return None
    try:
        size = int(size)
    except ValueError:
        raise ValidationError({"size": f"{size!r} is not an integer"}) from None
    if not 16 <= size <= MAX_SIZE:
        raise ValidationError({"size": f"size must be between 16 and {MAX_SIZE}"})
    return size


@extend_schema(
    summary="A cutout as PNG",
    description="ZScale interval, linear / log / asinh stretch, NaN pixels in dark magenta; FITS row 0 at the "
    "bottom, so ZTF cutouts are north up and east left, Rubin's in the detector's orientation "
    "(`survey_extra.cutout_orientation`). Cached: send If-None-Match with the ETag to get 304.",
    parameters=[
        OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=list(STAMP_KINDS)),
        OpenApiParameter("stretch", str, enum=list(STRETCHES), default="linear"),
        OpenApiParameter("size", int, description=f"longer side in pixels, 16..{MAX_SIZE} (default: the stamp's own)"),
    ],
    responses=png_responses(bad_request="Unknown stretch or bad size", not_found="No such candid or kind"),
)
class AlertCutout(APIView):
    authentication_classes = AUTHENTICATION
    permission_classes = ANY_SIGNED_IN
    content_negotiation_class = ImagesIgnoreAccept

    def get(self, request, candid: int, kind: str):
        if kind not in STAMP_KINDS:
            raise NotFound(f"unknown cutout {kind!r}; expected one of {', '.join(STAMP_KINDS)}")
        stretch = request.query_params.get("stretch", "linear")
        if stretch not in STRETCHES:
            raise ValidationError({"stretch": f"unknown stretch {stretch!r}; expected one of {', '.join(STRETCHES)}"})
        size = _size_param(request)
        stamps = get_object_or_404(Stamps.objects.only("height", "width", kind), alert__candid=candid)
        raw = bytes(getattr(stamps, kind))
        etag = stamp_etag(raw, stretch=stretch, size=size)
        max_age = blink_setting("STAMP_CACHE_SECONDS")

        def render() -> bytes:
            key = f"blink:stamp:{candid}:{kind}:{etag}"
            png = cache.get(key)
            if png is None:
                png = stamp_png(stamps.unpack(kind), stretch=stretch, size=size)
                cache.set(key, png, timeout=max_age)
            return png

        return png_response(request, etag, render)


def plane_url(candid: int, kind: str, plane: str) -> str:
    return reverse("api-alert-cutout-plane", kwargs={"candid": candid, "kind": kind, "plane": plane})


@extend_schema(
    summary="A cutout's variance or PSF plane as PNG (Rubin)",
    description="Rubin sends each cutout with its variance and its PSF image, each at its own size; ZTF sends "
    "neither (404). Variance in ZScale, PSF linear from its minimum to its peak; oriented as the cutout. Cached "
    "like the cutouts: send If-None-Match with the ETag to get 304.",
    parameters=[
        OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=list(STAMP_KINDS)),
        OpenApiParameter("plane", str, OpenApiParameter.PATH, enum=list(StampPlane.PLANES)),
        OpenApiParameter("size", int, description=f"longer side in pixels, 16..{MAX_SIZE} (default: the plane's own)"),
    ],
    responses=png_responses(
        bad_request="Unknown plane or bad size", not_found="No such candid or kind, or the alert has no such plane"
    ),
)
class AlertCutoutPlane(APIView):
    authentication_classes = AUTHENTICATION
    permission_classes = ANY_SIGNED_IN
    content_negotiation_class = ImagesIgnoreAccept

    # Its path shares the cutout route's prefix, so drf-spectacular would derive the same operationId for both.
    @extend_schema(operation_id="api_alerts_cutouts_plane_retrieve")
    def get(self, request, candid: int, kind: str, plane: str):
        if kind not in STAMP_KINDS:
            raise NotFound(f"unknown cutout {kind!r}; expected one of {', '.join(STAMP_KINDS)}")
        if plane not in StampPlane.PLANES:
            raise ValidationError({"plane": f"unknown plane {plane!r}; expected one of {', '.join(StampPlane.PLANES)}"})
        size = _size_param(request)
        stored = StampPlane.objects.filter(alert__candid=candid, kind=kind, plane=plane).first()
        if stored is None:
            alert_or_404(candid)
            raise NotFound(f"alert {candid} has no {plane} plane for its {kind} cutout (only Rubin alerts have one)")
        raw = bytes(stored.data)
        etag = plane_etag(raw, plane=plane, size=size)

        def render() -> bytes:
            key = f"blink:plane:{candid}:{kind}:{etag}"
            png = cache.get(key)
            if png is None:
                png = plane_png(stored.array(), plane=plane, size=size)
                cache.set(key, png, timeout=blink_setting("STAMP_CACHE_SECONDS"))
            return png

        return png_response(request, etag, render)


urlpatterns = [
    path("alerts/", AlertList.as_view(), name="api-alerts"),
    path("alerts/<int:candid>/", AlertDetail.as_view(), name="api-alert"),
    path("alerts/<int:candid>/lightcurve/", AlertLightCurve.as_view(), name="api-alert-lightcurve"),
    path("alerts/<int:candid>/cutouts/<str:kind>.png", AlertCutout.as_view(), name="api-alert-cutout"),
    path(
        "alerts/<int:candid>/cutouts/<str:kind>/<str:plane>.png",
        AlertCutoutPlane.as_view(),
        name="api-alert-cutout-plane",
    ),
]
