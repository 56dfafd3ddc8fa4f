"""What a campaign's managers review: gold answers for its subjects, and its dashboard."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from labeling.api.campaigns.common import REFUSALS, ScientistsOnly, campaign_for, parse
from labeling.campaigns.services import subjects_set_gold
from labeling.inspect import dashboard


class GoldView(ScientistsOnly):
    """Mark subjects as gold standard with the experts' answer (an empty answer unmarks), all or nothing."""

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
    def post(self, request, slug: str):
        campaign = campaign_for(request, slug, manage=True)
        items = [parse(self.ItemSerializer, item) for item in parse(self.InputSerializer, request.data)["subjects"]]
        answers = {item["subject"]: item["answer"] for item in items}
        notes = {item["subject"]: item["note"] for item in items}
        subjects_set_gold(actor=request.user, campaign=campaign, answers=answers, notes=notes)
        return Response({"updated": len(items)})


class DashboardView(ScientistsOnly):
    """Progress, classifications per day, active volunteers, agreement and a leaderboard."""

    @extend_schema(operation_id="campaigns_dashboard", responses={200: OpenApiTypes.OBJECT, **REFUSALS})
    def get(self, request, slug: str):
        campaign = campaign_for(request, slug, manage=True)
        return Response(dashboard(campaign=campaign))
