"""Scores and explanations of one alert: every version's score, and explanation overlays as PNG.

Any signed-in user may read them (the classify page shows the model's hint to volunteers).
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from classifiers.models import Explanation, ModelVersion, Task
from classifiers.selectors import alert_scores
from core.roles import VOLUNTEER, HasRole
from labeling.api.alerts import AUTHENTICATION, ImagesIgnoreAccept, png_response, png_responses
from labeling.models import Alert

KINDS = [k.value for k in Explanation.Kind]


class ScoreSerializer(serializers.Serializer):
    task = serializers.ChoiceField(choices=Task.choices)
    version = serializers.IntegerField()
    version_id = serializers.IntegerField()
    label = serializers.CharField()
    status = serializers.CharField(help_text="the version's status: candidate, active or retired")
    score = serializers.FloatField()
    scored_at = serializers.DateTimeField(allow_null=True)
    plausible = serializers.BooleanField(required=False, help_text="Streak ensemble only: the DeepStreaks decision")
    groups = serializers.DictField(required=False, help_text="Streak ensemble only: member scores per group")


@extend_schema(
    summary="Scores of an alert, one per model version",
    responses={
        200: inline_serializer(
            "AlertScores", {"candid": serializers.IntegerField(), "scores": ScoreSerializer(many=True)}
        ),
        404: OpenApiResponse(description="No such candid"),
    },
)
class AlertScores(APIView):
    authentication_classes = AUTHENTICATION
    permission_classes = [HasRole.of(VOLUNTEER)]

    def get(self, request, candid: int):
        alert = get_object_or_404(Alert.objects.only("pk", "candid"), candid=candid)
        return Response({"candid": alert.candid, "scores": alert_scores(alert)})


def _version_for(request, alert) -> ModelVersion:
    """The version named by ``?version=`` or, by default, the one ``explaining_version`` picks for the alert's
    survey; one rule for both, kept in ``classifiers.explanations``."""
    from classifiers.explanations import explaining_version

    raw = request.query_params.get("version")
    if raw is None:
        return explaining_version(alert)
    try:
        pk = int(raw)
    except ValueError:
        raise ValidationError({"version": f"{raw!r} is not a version id"}) from None
    version = ModelVersion.objects.defer("weights").filter(pk=pk).first()
    if version is None:
        raise NotFound(f"no model version with id {pk}")
    return explaining_version(alert, version)


@extend_schema(
    summary="An explanation overlay of an alert as PNG",
    description="Science, reference and difference stamps (as the alert page draws them) with the model's "
    "explanation laid over them: `gradcam` (Grad-CAM at the last convolutional layer) or `saliency` (gradient "
    "of the score with respect to each input pixel, per stamp). Computed on first request and cached per "
    "(alert, version, kind). `version` is a model version id (default: the active real/bogus version of the "
    "alert's survey, ZTF's or Rubin's).",
    parameters=[
        OpenApiParameter("kind", str, OpenApiParameter.PATH, enum=KINDS),
        OpenApiParameter("version", int, description="model version id (default: the active real/bogus one)"),
    ],
    responses=png_responses(
        bad_request="Bad version parameter", not_found="No such candid, kind or version, or no active model"
    ),
)
class AlertExplanation(APIView):
    authentication_classes = AUTHENTICATION
    permission_classes = [HasRole.of(VOLUNTEER)]
    content_negotiation_class = ImagesIgnoreAccept

    def get(self, request, candid: int, kind: str):
        if kind not in KINDS:
            raise NotFound(f"unknown explanation {kind!r}; expected one of {', '.join(KINDS)}")
        alert = get_object_or_404(Alert.objects.only("pk", "candid", "survey"), candid=candid)
        version = _version_for(request, alert)
        # v3: overlays are drawn at each stamp's own size (Rubin cutouts, ZTF edge cutouts).
        etag = f'"{version.sha256[:16]}-{kind}-{alert.candid}-v3"'
        from classifiers.explanations import explanation_png

        return png_response(request, etag, lambda: explanation_png(alert, version, kind))


urlpatterns = [
    path("alerts/<int:candid>/scores/", AlertScores.as_view(), name="api-alert-scores"),
    path("alerts/<int:candid>/explanations/<str:kind>.png", AlertExplanation.as_view(), name="api-alert-explanation"),
]
