"""The ML lead console over HTTP, so an ML lead can script it: compare versions, slices, disagreements (and
sending them for expert review), drift nights.

Listing versions, promoting and rolling back are the registry API's (``classifiers.api.registry``:
``/api/models/versions/``, ``.../promote/``, ``/api/models/rollback/``); they are not repeated here.
Everything reads through ``classifiers.console``, the same selectors as the console pages.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.urls import path
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from classifiers import console
from classifiers.console import ConsoleError
from classifiers.models import Task
from core.roles import MLLEAD, HasRole
from labeling.api.alerts import AUTHENTICATION
from labeling.models import Campaign

ML_LEADS = [HasRole.of(MLLEAD)]
TASK_PARAMETER = OpenApiParameter("task", str, enum=list(Task.values), description="default real_bogus")


def _task(request) -> str:
    task = request.query_params.get("task") or Task.REAL_BOGUS
    if task not in Task.values:
        raise ValidationError({"task": f"unknown task {task!r}; expected one of {', '.join(Task.values)}"})
    return task


def _invalid(exc: ConsoleError):
    return ValidationError({exc.field: exc.message})


# ---------------------------------------------------------------------------------------------------------
# Serializers (output shapes, documented in the OpenAPI schema).


class HeadlineSerializer(serializers.Serializer):
    accuracy = serializers.FloatField(allow_null=True)
    precision = serializers.FloatField(allow_null=True)
    recall = serializers.FloatField(allow_null=True)
    fpr = serializers.FloatField(allow_null=True, help_text="False-positive rate at the operating threshold")
    fnr = serializers.FloatField(allow_null=True, help_text="False-negative rate at the operating threshold")
    roc_auc = serializers.FloatField(allow_null=True)


class VersionRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    task = serializers.CharField()
    version = serializers.IntegerField()
    label = serializers.CharField()
    status = serializers.CharField()
    architecture = serializers.CharField()
    parent = serializers.CharField(allow_null=True)
    training_set_size = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    threshold = serializers.FloatField()
    metrics = HeadlineSerializer(help_text="Held-out test metrics recorded at training")


class CurveSerializer(serializers.Serializer):
    fpr = serializers.ListField(child=serializers.FloatField(), required=False)
    tpr = serializers.ListField(child=serializers.FloatField(), required=False)
    precision = serializers.ListField(child=serializers.FloatField(), required=False)
    recall = serializers.ListField(child=serializers.FloatField(), required=False)
    thresholds = serializers.ListField(child=serializers.FloatField())


class MetricsSerializer(HeadlineSerializer):
    n = serializers.IntegerField()
    n_positive = serializers.IntegerField()
    n_negative = serializers.IntegerField()
    threshold = serializers.FloatField()
    confusion = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()), help_text="[[TN, FP], [FN, TP]]"
    )
    roc = CurveSerializer(required=False)
    pr = CurveSerializer(required=False)


class DeltaSerializer(serializers.Serializer):
    metric = serializers.CharField()
    label = serializers.CharField()
    a = serializers.FloatField(allow_null=True)
    b = serializers.FloatField(allow_null=True)
    delta = serializers.FloatField(allow_null=True, help_text="b - a")
    low = serializers.FloatField(allow_null=True, help_text="lower end of the 95% paired-bootstrap interval")
    high = serializers.FloatField(allow_null=True)
    better = serializers.ChoiceField(choices=["a", "b", ""], help_text="'' when the interval contains 0")
    higher_is_better = serializers.BooleanField()


class StampUrlsSerializer(serializers.Serializer):
    science = serializers.CharField()
    template = serializers.CharField()
    difference = serializers.CharField()


class CandidateSerializer(serializers.Serializer):
    alert_id = serializers.IntegerField()
    candid = serializers.IntegerField()
    object_id = serializers.CharField()
    night = serializers.CharField()
    magpsf = serializers.FloatField(allow_null=True)
    filter = serializers.CharField()
    stamps = StampUrlsSerializer()
    gradcam_url = serializers.CharField(allow_null=True)
    gradcam_version = serializers.CharField(allow_null=True, help_text="The version the Grad-CAM overlay explains")


class ChangedCandidateSerializer(CandidateSerializer):
    score_a = serializers.FloatField()
    score_b = serializers.FloatField()
    delta = serializers.FloatField()
    truth = serializers.CharField(allow_null=True)


class CompareSerializer(serializers.Serializer):
    task = serializers.CharField()
    a = VersionRowSerializer()
    b = VersionRowSerializer()
    n = serializers.IntegerField(help_text="Candidates in the evaluation set")
    scope = serializers.ChoiceField(choices=["held_out", "labelled"])
    scope_note = serializers.CharField()
    label_sources = serializers.DictField(child=serializers.IntegerField())
    source_note = serializers.CharField()
    metrics_a = MetricsSerializer(allow_null=True)
    metrics_b = MetricsSerializer(allow_null=True)
    deltas = DeltaSerializer(many=True)
    bootstrap = serializers.DictField()
    changed = ChangedCandidateSerializer(many=True)


class SliceSerializer(MetricsSerializer):
    slice = serializers.CharField()
    worse = serializers.BooleanField(help_text="Much worse than the overall figure")
    worse_reasons = serializers.ListField(child=serializers.CharField())


class DimensionSerializer(serializers.Serializer):
    dimension = serializers.CharField()
    label = serializers.CharField()
    slices = SliceSerializer(many=True)


class SliceReportSerializer(serializers.Serializer):
    version = VersionRowSerializer()
    source_note = serializers.CharField()
    label_sources = serializers.DictField(child=serializers.IntegerField())
    threshold = serializers.FloatField()
    overall = MetricsSerializer()
    dimensions = DimensionSerializer(many=True)


class DisagreementSerializer(CandidateSerializer):
    subject_id = serializers.IntegerField()
    campaign = serializers.DictField()
    consensus = serializers.CharField()
    consensus_label = serializers.CharField()
    consensus_confidence = serializers.FloatField()
    score = serializers.FloatField()
    model_says = serializers.ChoiceField(choices=["positive", "negative"])
    strength = serializers.FloatField(help_text="|score - consensus| x consensus confidence")
    votes = serializers.DictField(child=serializers.IntegerField())
    n_votes = serializers.IntegerField()
    retired = serializers.BooleanField()
    gold_answer = serializers.CharField(allow_blank=True)


class DisagreementListSerializer(serializers.Serializer):
    version = VersionRowSerializer(allow_null=True)
    threshold = serializers.FloatField(allow_null=True)
    n_disagreeing = serializers.IntegerField(required=False)
    rows = DisagreementSerializer(many=True)


class SendInputSerializer(serializers.Serializer):
    task = serializers.ChoiceField(choices=Task.choices, default=Task.REAL_BOGUS)
    subject_ids = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
    alert_ids = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
    target = serializers.ChoiceField(
        choices=[("gold", "an existing campaign's gold-standard review"), ("new", "a new draft campaign")]
    )
    campaign = serializers.SlugField(required=False, help_text="target=gold: the campaign's slug")
    name = serializers.CharField(required=False, max_length=200, help_text="target=new: the new campaign's name")
    owner = serializers.CharField(
        required=False, help_text="target=new: username of the scientist who owns it (default: you)"
    )


class SendOutputSerializer(serializers.Serializer):
    campaign = serializers.CharField(help_text="slug")
    created = serializers.BooleanField(help_text="True when a new draft campaign was created")
    added = serializers.IntegerField(required=False)
    marked = serializers.IntegerField(required=False, help_text="subjects now waiting for an expert answer")
    already_answered = serializers.IntegerField(required=False)


class VariableStatisticsSerializer(serializers.Serializer):
    n = serializers.IntegerField()
    psi = serializers.FloatField(allow_null=True)
    ks = serializers.FloatField(allow_null=True)
    ks_pvalue = serializers.FloatField(allow_null=True)
    drifted = serializers.BooleanField()
    reference = serializers.DictField(
        child=serializers.FloatField(),
        allow_null=True,
        required=False,
        help_text="The reference window's p16, p50 and p84",
    )


class DriftNightSerializer(serializers.Serializer):
    night = serializers.DateField()
    nids = serializers.ListField(child=serializers.IntegerField())
    n_alerts = serializers.IntegerField()
    reference = serializers.BooleanField(help_text="Part of the reference window")
    agreement = serializers.FloatField(allow_null=True, help_text="Share of consensus labels the model agrees with")
    n_consensus = serializers.IntegerField()
    flagged = serializers.BooleanField()
    flagged_reasons = serializers.ListField(child=serializers.CharField())
    percentiles = serializers.DictField(
        child=serializers.DictField(child=serializers.FloatField()),
        help_text="variable -> {max, p93, p84, p69, p50, p31, p16, p7, min}",
    )
    statistics = serializers.DictField(child=VariableStatisticsSerializer())
    thresholds = serializers.DictField()
    computed_at = serializers.DateTimeField()


class DriftListSerializer(serializers.Serializer):
    task = serializers.CharField()
    version = VersionRowSerializer(allow_null=True)
    variables = serializers.DictField(child=serializers.CharField())
    nights = DriftNightSerializer(many=True)


# ---------------------------------------------------------------------------------------------------------
# Views.


class ConsoleView(APIView):
    authentication_classes = AUTHENTICATION
    permission_classes = ML_LEADS


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
    def get(self, request):
        try:
            a = console.get_version(request.query_params.get("a"), "a")
            b = console.get_version(request.query_params.get("b"), "b")
            result = console.compare_versions(a, b)
        except ConsoleError as exc:
            raise _invalid(exc) from exc
        return Response(CompareSerializer(result).data)


@extend_schema(
    summary="Metrics per slice (filter, magnitude, Galactic latitude, isdiffpos, solar-system object, night)",
    parameters=[OpenApiParameter("version", str, description="version id or task:number (default: active braai)")],
    responses={200: SliceReportSerializer, 400: OpenApiResponse(description="Unknown version")},
)
class Slices(ConsoleView):
    def get(self, request):
        from classifiers.registry import active_version

        try:
            if request.query_params.get("version"):
                version = console.get_version(request.query_params["version"])
            else:
                version = active_version(Task.REAL_BOGUS)
                if version is None:
                    raise ConsoleError("version", "no active real/bogus version; give ?version=")
        except ConsoleError as exc:
            raise _invalid(exc) from exc
        return Response(SliceReportSerializer(console.slice_report(version)).data)


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
        result = console.disagreements(task, campaign=campaign, label=request.query_params.get("label"), limit=limit)
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
    def post(self, request):
        data = SendInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            if v["target"] == "new":
                owner_name = v.get("owner") or request.user.username
                owner = get_user_model().objects.filter(username=owner_name).first()
                campaign = console.send_to_new_campaign(
                    actor=request.user,
                    task=v["task"],
                    name=v.get("name", ""),
                    owner=owner,
                    subject_ids=v["subject_ids"],
                    alert_ids=v["alert_ids"],
                )
                body = {"campaign": campaign.slug, "created": True}
                return Response(SendOutputSerializer(body).data, status=status.HTTP_201_CREATED)
            campaign = Campaign.objects.filter(slug=v.get("campaign") or "").first()
            if campaign is None:
                raise ConsoleError("campaign", f"no campaign with slug {v.get('campaign')!r}")
            done = console.send_to_gold_review(
                actor=request.user,
                task=v["task"],
                campaign=campaign,
                subject_ids=v["subject_ids"],
                alert_ids=v["alert_ids"],
            )
        except ConsoleError as exc:
            raise _invalid(exc) from exc
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
    def get(self, request):
        flagged = request.query_params.get("flagged", "").lower() in ("1", "true", "yes")
        return Response(DriftListSerializer(console.drift_nights(_task(request), flagged_only=flagged)).data)


@extend_schema(
    summary="Flagged nights only",
    parameters=[TASK_PARAMETER],
    responses={200: DriftListSerializer},
)
class FlaggedNights(ConsoleView):
    def get(self, request):
        return Response(DriftListSerializer(console.drift_nights(_task(request), flagged_only=True)).data)


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
    def get(self, request, night: str):
        try:
            row = console.drift_night(_task(request), night)
        except ConsoleError as exc:
            raise NotFound(exc.message) from exc
        return Response(DriftNightSerializer(row).data)


urlpatterns = [
    path("console/compare/", Compare.as_view(), name="api-console-compare"),
    path("console/slices/", Slices.as_view(), name="api-console-slices"),
    path("console/disagreements/", Disagreements.as_view(), name="api-console-disagreements"),
    path("console/disagreements/send/", SendDisagreements.as_view(), name="api-console-disagreements-send"),
    path("console/drift/", DriftNights.as_view(), name="api-console-drift"),
    path("console/drift/flagged/", FlaggedNights.as_view(), name="api-console-drift-flagged"),
    path("console/drift/<str:night>/", DriftNightDetail.as_view(), name="api-console-drift-night"),
]
