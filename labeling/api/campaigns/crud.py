"""Campaigns themselves: list, create, read, change, delete; take live, pause, finish; add matching alerts."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from core.urls import campaign_page_urls
from labeling.api.campaigns.common import (
    REFUSALS,
    ReadSignedInWriteScientists,
    ScientistsOnly,
    campaign_for,
    parse,
)
from labeling.campaigns import services
from labeling.campaigns.permissions import can_manage
from labeling.campaigns.selectors import managed_campaigns, selection_summary, visible_campaigns, with_progress
from labeling.campaigns.validation import CampaignError
from labeling.models import Campaign


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
        return bool(request and can_manage(request.user, campaign))

    def get_collaborators(self, campaign) -> list[str]:
        return sorted(campaign.collaborators.values_list("username", flat=True))

    def get_volunteers(self, campaign) -> list[str]:
        # Who else is listed is the managers' business only.
        if not self._manages(campaign):
            return []
        return sorted(campaign.volunteers.values_list("username", flat=True))

    def get_selection_summary(self, campaign) -> str:
        return selection_summary(campaign)

    def get_n_subjects(self, campaign) -> int:
        value = getattr(campaign, "n_subjects", None)
        return value if value is not None else campaign.subjects.count()

    def get_n_retired(self, campaign) -> int:
        value = getattr(campaign, "n_retired", None)
        return value if value is not None else campaign.subjects.filter(retired=True).count()

    def get_can_manage(self, campaign) -> bool:
        return self._manages(campaign)

    def get_urls(self, campaign) -> dict[str, str]:
        return campaign_page_urls(campaign.slug)


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


def campaign_response(request, campaign: Campaign, status: int = 200) -> Response:
    return Response(CampaignOutput(campaign, context={"request": request}).data, status=status)


class CampaignListView(ReadSignedInWriteScientists):
    """Campaigns you may see (GET: ``?mine=true`` for those you manage), or create one (scientists)."""

    @extend_schema(
        operation_id="campaigns_list",
        parameters=[OpenApiParameter("mine", bool, description="Only campaigns you own or collaborate on")],
        responses={200: CampaignOutput(many=True), **REFUSALS},
    )
    def get(self, request):
        mine = request.query_params.get("mine") in ("1", "true", "yes")
        qs = with_progress(managed_campaigns(request.user) if mine else visible_campaigns(request.user))[:500]
        return Response(CampaignOutput(qs, many=True, context={"request": request}).data)

    @extend_schema(operation_id="campaigns_create", request=CampaignInput, responses={201: CampaignOutput, **REFUSALS})
    def post(self, request):
        data = parse(CampaignInput, request.data)
        if "name" not in data:
            raise CampaignError("name", "a campaign needs a name")
        campaign = services.campaign_create(actor=request.user, **data)
        return campaign_response(request, campaign, 201)


class CampaignDetailView(ReadSignedInWriteScientists):
    """Read a campaign (anyone it is open to); change or delete it (its owner, collaborators, admins)."""

    @extend_schema(operation_id="campaigns_read", responses={200: CampaignOutput, **REFUSALS})
    def get(self, request, slug: str):
        return campaign_response(request, campaign_for(request, slug))

    @extend_schema(operation_id="campaigns_update", request=CampaignInput, responses={200: CampaignOutput, **REFUSALS})
    def patch(self, request, slug: str):
        campaign = campaign_for(request, slug, manage=True)
        data = parse(CampaignInput, request.data, partial=True)
        if "slug" in data and data.pop("slug") != campaign.slug:
            raise CampaignError("slug", "a campaign's slug does not change (links point to it)")
        campaign = services.campaign_update(actor=request.user, campaign=campaign, **data)
        return campaign_response(request, campaign)

    @extend_schema(operation_id="campaigns_delete", responses={204: None, **REFUSALS})
    def delete(self, request, slug: str):
        services.campaign_delete(actor=request.user, campaign=campaign_for(request, slug, manage=True))
        return Response(status=204)


class StateView(ScientistsOnly):
    """Go live (the first time fixes the subjects from the selection), pause, resume or finish."""

    class InputSerializer(serializers.Serializer):
        state = serializers.ChoiceField(choices=Campaign.State.choices)

        class Meta:
            ref_name = "CampaignStateInput"

    @extend_schema(
        operation_id="campaigns_set_state", request=InputSerializer, responses={200: CampaignOutput, **REFUSALS}
    )
    def post(self, request, slug: str):
        campaign = campaign_for(request, slug, manage=True)
        data = parse(self.InputSerializer, request.data)
        campaign = services.campaign_set_state(actor=request.user, campaign=campaign, state=data["state"])
        return campaign_response(request, campaign)


class AddMatchingView(ScientistsOnly):
    """Add alerts ingested since the campaign went live that match its filter (optionally a seeded sample)."""

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
    def post(self, request, slug: str):
        campaign = campaign_for(request, slug, manage=True)
        data = parse(self.InputSerializer, request.data)
        added = services.campaign_add_matching_alerts(actor=request.user, campaign=campaign, limit=data.get("limit"))
        return Response({"added": added, "subjects": campaign.subjects.count()})
