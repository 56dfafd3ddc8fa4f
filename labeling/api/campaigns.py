"""The campaign API: build, preview, take live, inspect, mark gold, export.

Scientists (and admins, who hold every role) create campaigns and manage those they own or collaborate on;
volunteers list and read the campaigns open to them (description, tutorial, field guide), never anyone's
votes. Views parse input, call one service or selector (``labeling.campaigns``, ``labeling.inspect``,
``labeling.exports``) and shape the output. Every refusal is JSON ``{"detail": ..., "field": ...}``.
"""

from __future__ import annotations

import tempfile
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from core.roles import SCIENTIST, VOLUNTEER, HasRole
from core.streaming import StreamedFileResponse, StreamedResponse
from labeling import campaigns as services
from labeling.exports import (
    KINDS,
    METHODS,
    ExportError,
    ensure_consensus,
    export_filename,
    export_stream,
    write_training_set,
)
from labeling.filters import FilterError, compile_filter, preview_count, select_alerts
from labeling.inspect import MAX_PAGE, InspectError, dashboard, inspect_subjects, subject_rows, subject_votes
from labeling.models import Alert, Campaign, FieldGuideEntry, Subject, TutorialStep

AUTHENTICATION = [TokenAuthentication, SessionAuthentication]
SIGNED_IN = [HasRole.of(VOLUNTEER)]
SCIENTISTS = [HasRole.of(SCIENTIST)]
PREVIEW_MAX = 100

ERROR = inline_serializer("CampaignError", {"detail": serializers.CharField(), "field": serializers.CharField()})
REFUSALS = {code: OpenApiResponse(ERROR) for code in (400, 401, 403, 404)}


def refusal(status: int, detail: str, field: str = "") -> Response:
    return Response({"detail": detail, "field": field}, status=status)


def refusals_as_json(view):
    """Service and validation errors become 400/403 JSON naming the field."""

    @wraps(view)
    def wrapped(self, request, *args, **kwargs):
        try:
            return view(self, request, *args, **kwargs)
        except (services.CampaignError, FilterError, InspectError) as exc:
            return refusal(400, exc.message, exc.field)
        except ExportError as exc:
            return refusal(400, str(exc))
        except PermissionDenied as exc:
            return refusal(403, str(exc) or "You may not do this.")

    return wrapped


def campaign_for(request, slug: str, *, manage: bool = False) -> Campaign:
    campaign = get_object_or_404(Campaign, slug=slug)
    allowed = services.can_manage(request.user, campaign) if manage else services.can_view(request.user, campaign)
    if not allowed:
        raise PermissionDenied(
            "only the campaign's owner, its collaborators and admins may do this"
            if manage
            else "this campaign is not open to you"
        )
    return campaign


class Base(APIView):
    authentication_classes = AUTHENTICATION


# --------------------------------------------------------------------------------------------- serializers


class ClassSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    shortcut = serializers.CharField()
    description = serializers.CharField(required=False)
    example_candid = serializers.IntegerField(required=False)

    class Meta:
        ref_name = "CampaignClass"


class CampaignOutput(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username")
    collaborators = serializers.SerializerMethodField()
    volunteers = serializers.SerializerMethodField()
    classes = ClassSerializer(many=True)
    selection_summary = serializers.SerializerMethodField()
    n_subjects = serializers.SerializerMethodField()
    n_retired = serializers.SerializerMethodField()
    can_manage = serializers.SerializerMethodField()
    urls = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        ref_name = "Campaign"
        fields = (
            "slug", "name", "description", "question", "question_type", "classes", "state", "access",
            "selection", "selection_summary", "sample_size", "sample_seed", "retire_after", "retire_agree_k",
            "retire_agree_fraction", "gold_share", "exploration_share", "strategy", "model_task", "owner",
            "collaborators", "volunteers", "created_at", "updated_at", "went_live_at", "n_subjects", "n_retired",
            "can_manage", "urls",
        )  # fmt: skip

    def _manages(self, campaign) -> bool:
        request = self.context.get("request")
        return bool(request and services.can_manage(request.user, campaign))

    def get_collaborators(self, campaign) -> list[str]:
        return sorted(campaign.collaborators.values_list("username", flat=True))

    def get_volunteers(self, campaign) -> list[str]:
        # Who else is listed is the managers' business only.
        if not self._manages(campaign):
            return []
        return sorted(campaign.volunteers.values_list("username", flat=True))

    def get_selection_summary(self, campaign) -> str:
        try:
            return compile_filter(campaign.selection).summary
        except FilterError:
            return "invalid filter"

    def get_n_subjects(self, campaign) -> int:
        value = getattr(campaign, "n_subjects", None)
        return value if value is not None else campaign.subjects.count()

    def get_n_retired(self, campaign) -> int:
        value = getattr(campaign, "n_retired", None)
        return value if value is not None else campaign.subjects.filter(retired=True).count()

    def get_can_manage(self, campaign) -> bool:
        return self._manages(campaign)

    def get_urls(self, campaign) -> dict[str, str]:
        return {
            "classify": f"/classify/{campaign.slug}/",
            "builder": f"/campaigns/manage/{campaign.slug}/edit/",
            "inspect": f"/campaigns/manage/{campaign.slug}/inspect/",
            "dashboard": f"/campaigns/manage/{campaign.slug}/dashboard/",
        }


class CampaignInput(serializers.Serializer):
    """Campaign settings; on PATCH send only what changes. Validation messages name the field."""

    name = serializers.CharField(max_length=200, required=False)
    slug = serializers.SlugField(max_length=80, required=False)
    description = serializers.CharField(allow_blank=True, required=False)
    question = serializers.CharField(allow_blank=True, required=False)
    question_type = serializers.ChoiceField(choices=Campaign.QuestionType.choices, required=False)
    classes = serializers.ListField(child=serializers.DictField(), required=False, allow_null=True)
    selection = serializers.DictField(required=False, allow_null=True)
    sample_size = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    sample_seed = serializers.IntegerField(required=False, min_value=-(2**31), max_value=2**31 - 1)
    retire_after = serializers.IntegerField(required=False, min_value=1, max_value=1000)
    retire_agree_k = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    retire_agree_fraction = serializers.FloatField(required=False, allow_null=True)
    access = serializers.ChoiceField(choices=Campaign.Access.choices, required=False)
    volunteers = serializers.ListField(child=serializers.CharField(), required=False)
    collaborators = serializers.ListField(child=serializers.CharField(), required=False)
    gold_share = serializers.FloatField(required=False, min_value=0, max_value=1)
    exploration_share = serializers.FloatField(required=False, min_value=0, max_value=1)
    strategy = serializers.ChoiceField(choices=Campaign.Strategy.choices, required=False)

    class Meta:
        ref_name = "CampaignInput"


def parse(serializer_class, data, **kwargs) -> dict:
    serializer = serializer_class(data=data, **kwargs)
    if not serializer.is_valid():
        field, messages = next(iter(serializer.errors.items()))
        message = messages[0] if isinstance(messages, list) else str(messages)
        raise services.CampaignError("" if field == "non_field_errors" else field, str(message))
    return dict(serializer.validated_data)


def campaign_response(request, campaign: Campaign, status: int = 200) -> Response:
    return Response(CampaignOutput(campaign, context={"request": request}).data, status=status)


# -------------------------------------------------------------------------------------------------- views


class CampaignListView(Base):
    """Campaigns you may see (GET: ``?mine=true`` for those you manage), or create one (scientists)."""

    def get_permissions(self):
        return [p() for p in (SCIENTISTS if self.request.method == "POST" else SIGNED_IN)]

    permission_classes = SIGNED_IN

    @extend_schema(
        operation_id="campaigns_list",
        parameters=[OpenApiParameter("mine", bool, description="Only campaigns you own or collaborate on")],
        responses={200: CampaignOutput(many=True), **REFUSALS},
    )
    def get(self, request):
        if request.query_params.get("mine") in ("1", "true", "yes"):
            qs = services.managed_campaigns(request.user)
        else:
            qs = services.visible_campaigns(request.user)
        qs = (
            qs.select_related("owner")
            .annotate(
                n_subjects=Count("subjects", distinct=True),
                n_retired=Count("subjects", filter=Q(subjects__retired=True), distinct=True),
            )
            .order_by("-created_at")[:500]
        )
        return Response(CampaignOutput(qs, many=True, context={"request": request}).data)

    @extend_schema(operation_id="campaigns_create", request=CampaignInput, responses={201: CampaignOutput, **REFUSALS})
    @refusals_as_json
    def post(self, request):
        data = parse(CampaignInput, request.data)
        if "name" not in data:
            raise services.CampaignError("name", "a campaign needs a name")
        campaign = services.campaign_create(actor=request.user, **data)
        return campaign_response(request, campaign, 201)


class CampaignDetailView(Base):
    """Read a campaign (anyone it is open to); change or delete it (its owner, collaborators, admins)."""

    permission_classes = SIGNED_IN

    def get_permissions(self):
        return [p() for p in (SIGNED_IN if self.request.method == "GET" else SCIENTISTS)]

    @extend_schema(operation_id="campaigns_read", responses={200: CampaignOutput, **REFUSALS})
    @refusals_as_json
    def get(self, request, slug: str):
        return campaign_response(request, campaign_for(request, slug))

    @extend_schema(operation_id="campaigns_update", request=CampaignInput, responses={200: CampaignOutput, **REFUSALS})
    @refusals_as_json
    def patch(self, request, slug: str):
        campaign = campaign_for(request, slug, manage=True)
        data = parse(CampaignInput, request.data, partial=True)
        if "slug" in data and data.pop("slug") != campaign.slug:
            raise services.CampaignError("slug", "a campaign's slug does not change (links point to it)")
        campaign = services.campaign_update(actor=request.user, campaign=campaign, **data)
        return campaign_response(request, campaign)

    @extend_schema(operation_id="campaigns_delete", responses={204: None, **REFUSALS})
    @refusals_as_json
    def delete(self, request, slug: str):
        services.campaign_delete(actor=request.user, campaign=campaign_for(request, slug, manage=True))
        return Response(status=204)


class StateView(Base):
    """Go live (the first time fixes the subjects from the selection), pause, resume or finish."""

    permission_classes = SCIENTISTS

    class InputSerializer(serializers.Serializer):
        state = serializers.ChoiceField(choices=Campaign.State.choices)

        class Meta:
            ref_name = "CampaignStateInput"

    @extend_schema(
        operation_id="campaigns_set_state", request=InputSerializer, responses={200: CampaignOutput, **REFUSALS}
    )
    @refusals_as_json
    def post(self, request, slug: str):
        campaign = campaign_for(request, slug, manage=True)
        data = parse(self.InputSerializer, request.data)
        campaign = services.campaign_set_state(actor=request.user, campaign=campaign, state=data["state"])
        return campaign_response(request, campaign)


class AddMatchingView(Base):
    """Add alerts ingested since the campaign went live that match its filter (optionally a seeded sample)."""

    permission_classes = SCIENTISTS

    class InputSerializer(serializers.Serializer):
        limit = serializers.IntegerField(required=False, allow_null=True, min_value=1)

        class Meta:
            ref_name = "AddMatchingInput"

    class OutputSerializer(serializers.Serializer):
        added = serializers.IntegerField()
        subjects = serializers.IntegerField()

        class Meta:
            ref_name = "AddMatchingOutput"

    @extend_schema(
        operation_id="campaigns_add_matching", request=InputSerializer, responses={200: OutputSerializer, **REFUSALS}
    )
    @refusals_as_json
    def post(self, request, slug: str):
        campaign = campaign_for(request, slug, manage=True)
        data = parse(self.InputSerializer, request.data)
        added = services.campaign_add_matching_alerts(actor=request.user, campaign=campaign, limit=data.get("limit"))
        return Response({"added": added, "subjects": campaign.subjects.count()})


class PreviewView(Base):
    """Count the alerts a filter selects and show the first of them, before saving anything."""

    permission_classes = SCIENTISTS

    class InputSerializer(serializers.Serializer):
        selection = serializers.DictField(required=False, allow_null=True)
        sample_size = serializers.IntegerField(required=False, allow_null=True)
        sample_seed = serializers.IntegerField(required=False, default=0)
        n = serializers.IntegerField(required=False, default=24, min_value=0, max_value=PREVIEW_MAX)

        class Meta:
            ref_name = "PreviewInput"

    class AlertThumb(serializers.Serializer):
        candid = serializers.IntegerField()
        object_id = serializers.CharField()
        magpsf = serializers.FloatField(allow_null=True)
        filter = serializers.CharField()
        night = serializers.DateField()
        stamp_url = serializers.CharField()

        class Meta:
            ref_name = "PreviewAlert"

    class OutputSerializer(serializers.Serializer):
        count = serializers.IntegerField()
        count_exact = serializers.BooleanField(help_text="False when the count is PostgreSQL's estimate (huge tables)")
        summary = serializers.CharField()
        selection = serializers.DictField()
        alerts = serializers.ListField(child=serializers.DictField())

        class Meta:
            ref_name = "PreviewOutput"

    @extend_schema(
        operation_id="campaigns_preview", request=InputSerializer, responses={200: OutputSerializer, **REFUSALS}
    )
    @refusals_as_json
    def post(self, request):
        data = parse(self.InputSerializer, request.data)
        spec = data.get("selection") or {}
        compiled = compile_filter(spec)
        size, seed = data.get("sample_size"), data["sample_seed"]
        count, exact = preview_count(spec, sample_size=size, seed=seed)
        n = min(data["n"], count)
        alerts = []
        if n and size is not None:
            # The grid shows members of the sample itself: the first n of it in its seeded order.
            alerts = list(select_alerts(spec, sample_size=n, seed=seed))
        elif n:
            alerts = list(
                Alert.objects.filter(compiled.q)
                .only("candid", "object_id", "magpsf", "fid", "night")
                .order_by("-jd", "-candid")[:n]
            )
        return Response(
            {
                "count": count,
                "count_exact": exact,
                "summary": compiled.summary,
                "selection": compiled.spec,
                "alerts": [
                    {
                        "candid": a.candid,
                        "object_id": a.object_id,
                        "magpsf": a.magpsf,
                        "filter": a.filter_name,
                        "night": a.night.isoformat(),
                        "stamp_url": f"/api/alerts/{a.candid}/cutouts/difference.png",
                    }
                    for a in alerts
                ],
            }
        )


# ------------------------------------------------------------------------------------ tutorial, field guide


class TutorialStepOutput(serializers.ModelSerializer):
    example_candid = serializers.SerializerMethodField()
    example_stamps = serializers.SerializerMethodField()

    class Meta:
        model = TutorialStep
        ref_name = "TutorialStep"
        fields = ("id", "order", "title", "text", "example_candid", "example_stamps")

    def get_example_candid(self, step) -> int | None:
        return step.example_alert.candid if step.example_alert_id else None

    def get_example_stamps(self, step) -> dict[str, str]:
        if not step.example_alert_id:
            return {}
        c = step.example_alert.candid
        return {k: f"/api/alerts/{c}/cutouts/{k}.png" for k in ("science", "template", "difference")}


class TutorialStepInput(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False)
    text = serializers.CharField(required=False)
    example_candid = serializers.IntegerField(required=False, allow_null=True)
    order = serializers.IntegerField(required=False, min_value=0)

    class Meta:
        ref_name = "TutorialStepInput"


class FieldGuideOutput(serializers.ModelSerializer):
    example_candids = serializers.SerializerMethodField()
    example_stamps = serializers.SerializerMethodField()

    class Meta:
        model = FieldGuideEntry
        ref_name = "FieldGuideEntry"
        fields = ("id", "order", "answer", "title", "text", "example_candids", "example_stamps")

    def get_example_candids(self, entry) -> list[int]:
        return [a.candid for a in entry.examples.all()]

    def get_example_stamps(self, entry) -> list[str]:
        return [f"/api/alerts/{a.candid}/cutouts/difference.png" for a in entry.examples.all()]


class FieldGuideInput(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False)
    text = serializers.CharField(required=False)
    answer = serializers.CharField(required=False, allow_blank=True)
    example_candids = serializers.ListField(child=serializers.IntegerField(), required=False, max_length=12)
    order = serializers.IntegerField(required=False, min_value=0)

    class Meta:
        ref_name = "FieldGuideInput"


def _require(data: dict, *names: str) -> None:
    for name in names:
        if not data.get(name):
            raise services.CampaignError(name, "this field is required")


class TutorialListView(Base):
    """The campaign's tutorial steps (anyone it is open to), or add one (its managers)."""

    permission_classes = SIGNED_IN

    def get_permissions(self):
        return [p() for p in (SIGNED_IN if self.request.method == "GET" else SCIENTISTS)]

    @extend_schema(operation_id="campaigns_tutorial_list", responses={200: TutorialStepOutput(many=True), **REFUSALS})
    @refusals_as_json
    def get(self, request, slug: str):
        campaign = campaign_for(request, slug)
        steps = campaign.tutorial_steps.select_related("example_alert")
        return Response(TutorialStepOutput(steps, many=True).data)

    @extend_schema(
        operation_id="campaigns_tutorial_create",
        request=TutorialStepInput,
        responses={201: TutorialStepOutput, **REFUSALS},
    )
    @refusals_as_json
    def post(self, request, slug: str):
        campaign = campaign_for(request, slug, manage=True)
        data = parse(TutorialStepInput, request.data)
        _require(data, "title", "text")
        step = services.tutorial_step_create(actor=request.user, campaign=campaign, **data)
        return Response(TutorialStepOutput(step).data, status=201)


class TutorialDetailView(Base):
    permission_classes = SCIENTISTS

    def _step(self, request, slug, pk) -> TutorialStep:
        campaign = campaign_for(request, slug, manage=True)
        return get_object_or_404(TutorialStep, campaign=campaign, pk=pk)

    @extend_schema(
        operation_id="campaigns_tutorial_update",
        request=TutorialStepInput,
        responses={200: TutorialStepOutput, **REFUSALS},
    )
    @refusals_as_json
    def patch(self, request, slug: str, pk: int):
        step = self._step(request, slug, pk)
        data = parse(TutorialStepInput, request.data, partial=True)
        step = services.tutorial_step_update(actor=request.user, step=step, **data)
        return Response(TutorialStepOutput(step).data)

    @extend_schema(operation_id="campaigns_tutorial_delete", responses={204: None, **REFUSALS})
    @refusals_as_json
    def delete(self, request, slug: str, pk: int):
        services.tutorial_step_delete(actor=request.user, step=self._step(request, slug, pk))
        return Response(status=204)


class FieldGuideListView(Base):
    """The campaign's field guide (anyone it is open to), or add an entry (its managers)."""

    permission_classes = SIGNED_IN

    def get_permissions(self):
        return [p() for p in (SIGNED_IN if self.request.method == "GET" else SCIENTISTS)]

    @extend_schema(operation_id="campaigns_field_guide_list", responses={200: FieldGuideOutput(many=True), **REFUSALS})
    @refusals_as_json
    def get(self, request, slug: str):
        campaign = campaign_for(request, slug)
        return Response(FieldGuideOutput(campaign.field_guide.prefetch_related("examples"), many=True).data)

    @extend_schema(
        operation_id="campaigns_field_guide_create",
        request=FieldGuideInput,
        responses={201: FieldGuideOutput, **REFUSALS},
    )
    @refusals_as_json
    def post(self, request, slug: str):
        campaign = campaign_for(request, slug, manage=True)
        data = parse(FieldGuideInput, request.data)
        _require(data, "title", "text")
        entry = services.field_guide_entry_create(actor=request.user, campaign=campaign, **data)
        return Response(FieldGuideOutput(entry).data, status=201)


class FieldGuideDetailView(Base):
    permission_classes = SCIENTISTS

    def _entry(self, request, slug, pk) -> FieldGuideEntry:
        campaign = campaign_for(request, slug, manage=True)
        return get_object_or_404(FieldGuideEntry, campaign=campaign, pk=pk)

    @extend_schema(
        operation_id="campaigns_field_guide_update",
        request=FieldGuideInput,
        responses={200: FieldGuideOutput, **REFUSALS},
    )
    @refusals_as_json
    def patch(self, request, slug: str, pk: int):
        entry = self._entry(request, slug, pk)
        data = parse(FieldGuideInput, request.data, partial=True)
        entry = services.field_guide_entry_update(actor=request.user, entry=entry, **data)
        return Response(FieldGuideOutput(entry).data)

    @extend_schema(operation_id="campaigns_field_guide_delete", responses={204: None, **REFUSALS})
    @refusals_as_json
    def delete(self, request, slug: str, pk: int):
        services.field_guide_entry_delete(actor=request.user, entry=self._entry(request, slug, pk))
        return Response(status=204)


# ------------------------------------------------------------------------------------ inspect, gold, votes


class SubjectRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    candid = serializers.IntegerField()
    object_id = serializers.CharField()
    magpsf = serializers.FloatField(allow_null=True)
    filter = serializers.CharField()
    night = serializers.CharField(allow_null=True)
    stamp_url = serializers.CharField()
    counts = serializers.DictField(child=serializers.IntegerField())
    n_votes = serializers.IntegerField()
    n_classifications = serializers.IntegerField()
    majority_label = serializers.CharField()
    majority_fraction = serializers.FloatField(allow_null=True)
    weighted_label = serializers.CharField()
    weighted_posterior = serializers.FloatField(allow_null=True)
    model_score = serializers.FloatField(allow_null=True)
    gold_answer = serializers.CharField()
    retired = serializers.BooleanField()
    retired_reason = serializers.CharField()

    class Meta:
        ref_name = "InspectSubject"


class InspectPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE


INSPECT_PARAMETERS = [
    OpenApiParameter("retired", bool),
    OpenApiParameter("gold", bool),
    OpenApiParameter("label", str, description="Consensus label (of the chosen method)"),
    OpenApiParameter("method", str, enum=list(METHODS)),
    OpenApiParameter("disagree", bool, description="Majority and weighted consensus disagree"),
    OpenApiParameter("min_votes", int),
    OpenApiParameter("q", str, description="objectId (part) or candid"),
    OpenApiParameter(
        "sort", str, description="candid, votes, agreement, posterior, score, retired (prefix - for desc)"
    ),
    OpenApiParameter("page", int),
    OpenApiParameter("page_size", int),
]


def inspect_queryset(request, campaign):
    p = request.query_params
    return inspect_subjects(
        campaign=campaign,
        retired=p.get("retired"),
        gold=p.get("gold"),
        label=p.get("label", ""),
        method=p.get("method", "majority"),
        disagree=p.get("disagree"),
        min_votes=p.get("min_votes"),
        search=p.get("q", ""),
        sort=p.get("sort", "-votes"),
    )


class InspectView(Base):
    """The campaign's subjects with vote counts per answer, consensus, confidence, model score, retirement."""

    permission_classes = SCIENTISTS

    @extend_schema(
        operation_id="campaigns_subjects",
        parameters=INSPECT_PARAMETERS,
        responses={
            200: inline_serializer(
                "InspectPage",
                {
                    "count": serializers.IntegerField(),
                    "next": serializers.CharField(allow_null=True),
                    "previous": serializers.CharField(allow_null=True),
                    "results": SubjectRowSerializer(many=True),
                },
            ),
            **REFUSALS,
        },
    )
    @refusals_as_json
    def get(self, request, slug: str):
        campaign = campaign_for(request, slug, manage=True)
        paginator = InspectPagination()
        page = paginator.paginate_queryset(inspect_queryset(request, campaign), request, view=self)
        return paginator.get_paginated_response(subject_rows(page, campaign))


class SubjectVotesView(Base):
    """Every vote on one subject (volunteer, time, answer): the campaign's managers only."""

    permission_classes = SCIENTISTS

    class VoteSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        volunteer = serializers.CharField()
        volunteer_id = serializers.IntegerField()
        answer = serializers.CharField()
        answer_label = serializers.CharField()
        created_at = serializers.DateTimeField()
        duration_ms = serializers.IntegerField(allow_null=True)

        class Meta:
            ref_name = "SubjectVote"

    @extend_schema(
        operation_id="campaigns_subject_votes",
        responses={
            200: inline_serializer(
                "SubjectWithVotes", {"subject": SubjectRowSerializer(), "votes": VoteSerializer(many=True)}
            ),
            **REFUSALS,
        },
    )
    @refusals_as_json
    def get(self, request, slug: str, pk: int):
        campaign = campaign_for(request, slug, manage=True)
        subject = get_object_or_404(inspect_subjects(campaign=campaign), pk=pk)
        row = subject_rows([subject], campaign)[0]
        votes = self.VoteSerializer(subject_votes(subject=subject), many=True).data
        return Response({"subject": row, "votes": votes})


class GoldView(Base):
    """Mark subjects as gold standard with the experts' answer (an empty answer unmarks), all or nothing."""

    permission_classes = SCIENTISTS

    class ItemSerializer(serializers.Serializer):
        subject = serializers.IntegerField()
        answer = serializers.CharField(allow_blank=True)
        note = serializers.CharField(allow_blank=True, required=False, default="")

        class Meta:
            ref_name = "GoldItem"

    class InputSerializer(serializers.Serializer):
        subjects = serializers.ListField(child=serializers.DictField(), min_length=1, max_length=1000)

        class Meta:
            ref_name = "GoldInput"

    @extend_schema(
        operation_id="campaigns_gold",
        request=InputSerializer,
        responses={200: inline_serializer("GoldOutput", {"updated": serializers.IntegerField()}), **REFUSALS},
    )
    @refusals_as_json
    def post(self, request, slug: str):
        campaign = campaign_for(request, slug, manage=True)
        items = [parse(self.ItemSerializer, item) for item in parse(self.InputSerializer, request.data)["subjects"]]
        with transaction.atomic():
            subjects = {
                s.pk: s for s in Subject.objects.filter(campaign=campaign, pk__in=[i["subject"] for i in items])
            }
            for item in items:
                subject = subjects.get(item["subject"])
                if subject is None:
                    raise services.CampaignError("subject", f"no subject {item['subject']} in this campaign")
                services.subject_set_gold(actor=request.user, subject=subject, answer=item["answer"], note=item["note"])
        return Response({"updated": len(items)})


class DashboardView(Base):
    """Progress, classifications per day, active volunteers, agreement and a leaderboard."""

    permission_classes = SCIENTISTS

    @extend_schema(operation_id="campaigns_dashboard", responses={200: OpenApiTypes.OBJECT, **REFUSALS})
    @refusals_as_json
    def get(self, request, slug: str):
        campaign = campaign_for(request, slug, manage=True)
        return Response(dashboard(campaign=campaign))


class ExportView(Base):
    """Download an export, streamed: zooniverse (classifications CSV), workflow (CSV), consensus-csv,
    consensus-json, npz (training set)."""

    permission_classes = SCIENTISTS

    @extend_schema(
        operation_id="campaigns_export",
        parameters=[
            OpenApiParameter("method", str, enum=list(METHODS), description="Consensus method (default dawid_skene)"),
            OpenApiParameter("retired_only", bool),
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            **REFUSALS,
        },
    )
    @refusals_as_json
    def get(self, request, slug: str, kind: str):
        campaign = campaign_for(request, slug, manage=True)
        if kind not in KINDS:
            return refusal(404, f"unknown export {kind!r}; one of {', '.join(KINDS)}", "kind")
        method = request.query_params.get("method", "dawid_skene")
        if method not in METHODS:
            return refusal(400, f"one of {', '.join(METHODS)}", "method")
        retired_only = request.query_params.get("retired_only") in ("1", "true", "yes")
        filename = export_filename(campaign, kind)
        if kind in ("consensus-csv", "consensus-json", "npz") and method == "dawid_skene":
            ensure_consensus(campaign)
        if kind == "npz":
            spool = tempfile.TemporaryFile()  # noqa: SIM115 - the response closes it after sending
            write_training_set(campaign, spool, method=method, retired_only=retired_only)
            spool.seek(0)
            return StreamedFileResponse(
                spool, as_attachment=True, filename=filename, content_type="application/octet-stream"
            )
        kwargs = {"method": method, "retired_only": retired_only} if kind.startswith("consensus") else {}
        content_type = "application/json" if kind == "consensus-json" else "text/csv; charset=utf-8"
        response = StreamedResponse(
            (chunk.encode("utf-8") for chunk in export_stream(campaign, kind, **kwargs)), content_type=content_type
        )
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


urlpatterns = [
    path("campaigns/", CampaignListView.as_view(), name="api-campaigns"),
    path("campaign-filters/preview/", PreviewView.as_view(), name="api-campaign-preview"),
    path("campaigns/<slug:slug>/", CampaignDetailView.as_view(), name="api-campaign"),
    path("campaigns/<slug:slug>/state/", StateView.as_view(), name="api-campaign-state"),
    path("campaigns/<slug:slug>/add-matching/", AddMatchingView.as_view(), name="api-campaign-add-matching"),
    path("campaigns/<slug:slug>/tutorial/", TutorialListView.as_view(), name="api-campaign-tutorial"),
    path("campaigns/<slug:slug>/tutorial/<int:pk>/", TutorialDetailView.as_view(), name="api-campaign-tutorial-step"),
    path("campaigns/<slug:slug>/field-guide/", FieldGuideListView.as_view(), name="api-campaign-field-guide"),
    path(
        "campaigns/<slug:slug>/field-guide/<int:pk>/",
        FieldGuideDetailView.as_view(),
        name="api-campaign-field-guide-entry",
    ),
    path("campaigns/<slug:slug>/subjects/", InspectView.as_view(), name="api-campaign-subjects"),
    path(
        "campaigns/<slug:slug>/subjects/<int:pk>/votes/", SubjectVotesView.as_view(), name="api-campaign-subject-votes"
    ),
    path("campaigns/<slug:slug>/gold/", GoldView.as_view(), name="api-campaign-gold"),
    path("campaigns/<slug:slug>/dashboard/", DashboardView.as_view(), name="api-campaign-dashboard"),
    path("campaigns/<slug:slug>/exports/<str:kind>/", ExportView.as_view(), name="api-campaign-export"),
]
