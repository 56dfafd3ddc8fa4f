"""The ML lead console over HTTP, so an ML lead can script it: compare versions, slices, disagreements (and
sending them for expert review), drift nights.

Listing versions, promoting and rolling back are the registry API's (``classifiers.api.registry``:
``/api/models/versions/``, ``.../promote/``, ``/api/models/rollback/``); they are not repeated here.
Everything reads through ``classifiers.console`` and ``classifiers.drift.selectors``, the same selectors as the
console pages.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from classifiers.api.common import MLLeadsOnly
from classifiers.api.console_serializers import (
    CompareSerializer,
    DisagreementListSerializer,
    DriftListSerializer,
    DriftNightSerializer,
    SendInputSerializer,
    SendOutputSerializer,
    SliceReportSerializer,
)
from classifiers.console.compare import compare_versions, slice_report
from classifiers.console.disagreements import find_disagreements, send_to_gold_review, send_to_new_campaign
from classifiers.console.versions import ConsoleError, get_version
from classifiers.drift.selectors import drift_nights, night_detail
from classifiers.models import Task
from classifiers.registry import active_version
from labeling.models import Campaign

TASK_PARAMETER = OpenApiParameter("task", str, enum=list(Task.values), description="default real_bogus")


def _task(request) -> str:
    task = request.query_params.get("task") or Task.REAL_BOGUS
    if task not in Task.values:
        raise ValidationError({"task": f"unknown task {task!r}; expected one of {', '.join(Task.values)}"})
    return task


# ---------------------------------------------------------------------------------------------------------
# Views.


class ConsoleView(MLLeadsOnly):
    route: str  # below /api/console/
    url_name: str  # the name reverse() knows it by


@extend_schema(
    summary="Compare two versions on the same labelled candidates",
    description="Metrics, ROC and precision-recall points, confusion matrices, paired-bootstrap 95% intervals of "
    "the metric differences (b - a), and the candidates whose scores changed most. Labels: volunteer consensus of "
    "retired subjects, else demo truth (see `source_note`).",
    parameters=[
        OpenApiParameter("a", str, required=True, description="version id, or task:number (real_bogus:2)"),
        OpenApiParameter("b", str, required=True, description="version id, or task:number"),
    ],
    responses={200: CompareSerializer, 400: OpenApiResponse(description="Unknown version, or two tasks")},
)
class Compare(ConsoleView):
    route, url_name = "compare/", "api-console-compare"

    def get(self, request):
        a = get_version(request.query_params.get("a"), "a")
        b = get_version(request.query_params.get("b"), "b")
        result = compare_versions(a, b)
        return Response(CompareSerializer(result).data)


@extend_schema(
    summary="Metrics per slice (filter, magnitude, Galactic latitude, isdiffpos, solar-system object, night)",
    parameters=[OpenApiParameter("version", str, description="version id or task:number (default: active braai)")],
    responses={200: SliceReportSerializer, 400: OpenApiResponse(description="Unknown version")},
)
class Slices(ConsoleView):
    route, url_name = "slices/", "api-console-slices"

    def get(self, request):
        if request.query_params.get("version"):
            version = get_version(request.query_params["version"])
        else:
            version = active_version(Task.REAL_BOGUS)
            if version is None:
                raise ConsoleError("version", "no active real/bogus version; give ?version=")
        return Response(SliceReportSerializer(slice_report(version)).data)


@extend_schema(
    summary="Where the active model and the volunteer consensus disagree, most confident first",
    parameters=[
        TASK_PARAMETER,
        OpenApiParameter("campaign", str, description="campaign slug"),
        OpenApiParameter("label", str, description="the volunteers' class (consensus label)"),
        OpenApiParameter("limit", int, description="at most this many (default 60, max 500)"),
    ],
    responses={200: DisagreementListSerializer},
)
class Disagreements(ConsoleView):
    route, url_name = "disagreements/", "api-console-disagreements"

    def get(self, request):
        task = _task(request)
        campaign = None
        slug = request.query_params.get("campaign")
        if slug:
            campaign = Campaign.objects.filter(slug=slug).first()
            if campaign is None:
                raise ValidationError({"campaign": f"no campaign with slug {slug!r}"})
        try:
            limit = min(max(int(request.query_params.get("limit", 60)), 1), 500)
        except ValueError:
            raise ValidationError({"limit": "a whole number"}) from None
        result = find_disagreements(task, campaign=campaign, label=request.query_params.get("label"), limit=limit)
        return Response(DisagreementListSerializer(result).data)


@extend_schema(
    summary="Send candidates for an expert answer",
    description="`target=gold`: add them to an existing campaign (subjects created where missing) marked as "
    "needing an expert (gold-standard) answer. `target=new`: create a new draft campaign over exactly these "
    "candidates, owned by a scientist.",
    request=SendInputSerializer,
    responses={201: SendOutputSerializer, 200: SendOutputSerializer, 400: OpenApiResponse(description="Bad input")},
)
class SendDisagreements(ConsoleView):
    route, url_name = "disagreements/send/", "api-console-disagreements-send"

    def post(self, request):
        data = SendInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        selection = {"subject_ids": v["subject_ids"], "alert_ids": v["alert_ids"]}
        if v["target"] == "new":
            campaign = send_to_new_campaign(
                actor=request.user,
                task=v["task"],
                name=v.get("name", ""),
                owner_username=v.get("owner", ""),
                **selection,
            )
            body = {"campaign": campaign.slug, "created": True}
            return Response(SendOutputSerializer(body).data, status=status.HTTP_201_CREATED)
        done = send_to_gold_review(
            actor=request.user, task=v["task"], campaign_slug=v.get("campaign") or "", **selection
        )
        return Response(SendOutputSerializer({**done, "created": False}).data)


# Method-level (not class-level) operation_id: drf-spectacular warns otherwise, and check --deploy fails.
@extend_schema_view(
    get=extend_schema(
        operation_id="console_drift_nights",
        summary="Drift night by night: percentile bands, PSI and KS against the reference window, flags",
        description="Stored rows, recomputed in the background after each ingest (`manage.py compute_drift` too).",
        parameters=[TASK_PARAMETER, OpenApiParameter("flagged", bool, description="only flagged nights")],
        responses={200: DriftListSerializer},
    )
)
class DriftNights(ConsoleView):
    route, url_name = "drift/", "api-console-drift"

    def get(self, request):
        flagged = request.query_params.get("flagged", "").lower() in ("1", "true", "yes")
        return Response(DriftListSerializer(drift_nights(_task(request), flagged_only=flagged)).data)


@extend_schema(
    summary="Flagged nights only",
    parameters=[TASK_PARAMETER],
    responses={200: DriftListSerializer},
)
class FlaggedNights(ConsoleView):
    route, url_name = "drift/flagged/", "api-console-drift-flagged"

    def get(self, request):
        return Response(DriftListSerializer(drift_nights(_task(request), flagged_only=True)).data)


# Method-level (not class-level) operation_id: drf-spectacular warns otherwise, and check --deploy fails.
@extend_schema_view(
    get=extend_schema(
        operation_id="console_drift_night",
        summary="One night's drift summary",
        parameters=[
            TASK_PARAMETER,
            OpenApiParameter("night", str, OpenApiParameter.PATH, description="UTC date YYYY-MM-DD or a ZTF nid"),
        ],
        responses={200: DriftNightSerializer, 404: OpenApiResponse(description="No summary for that night")},
    )
)
class DriftNightDetail(ConsoleView):
    route, url_name = "drift/<str:night>/", "api-console-drift-night"

    def get(self, request, night: str):
        return Response(DriftNightSerializer(night_detail(_task(request), night)).data)


# Every console endpoint lives under /api/console/; each view names its route and URL name above its methods.
VIEWS = (Compare, Slices, Disagreements, SendDisagreements, DriftNights, FlaggedNights, DriftNightDetail)
urlpatterns = [path(f"console/{view.route}", view.as_view(), name=view.url_name) for view in VIEWS]
