"""Reference sets over HTTP, for ML leads (and admins): list, name, change the guard of, and delete the sets every
candidate is scored on. The refusals (a bad kind, task or campaign, a taken name) are
:class:`classifiers.reference_sets.ReferenceSetRefused`, answered with the field at fault."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response

from classifiers.api.common import TASK_FILTER, MLLeadsOnly, task_filter
from classifiers.models import ReferenceSet, Task
from classifiers.reference_sets import (
    campaign_named,
    create_reference_set,
    delete_reference_set,
    reference_sets_list,
    set_row,
    update_reference_set,
)
from core.openapi import refusal_responses

SET_FIELDS = {
    "id": serializers.IntegerField(),
    "name": serializers.CharField(),
    "task": serializers.CharField(),
    "kind": serializers.CharField(),
    "kind_label": serializers.CharField(),
    "note": serializers.CharField(help_text="what the labels are; braai agreement is a model's opinion"),
    "model_opinion": serializers.BooleanField(),
    "campaign": serializers.CharField(allow_null=True),
    "guards_promotion": serializers.BooleanField(),
    "margin": serializers.FloatField(),
}
SetSerializer = inline_serializer("ReferenceSet", fields=SET_FIELDS)


class CreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    kind = serializers.CharField(help_text="gold (a campaign's gold subjects) or braai_agreement (drb > 0.9 vs < 0.1)")
    task = serializers.CharField(required=False, default=Task.REAL_BOGUS)
    campaign = serializers.CharField(required=False, allow_blank=True, default="", help_text="slug; gold sets only")
    guards_promotion = serializers.BooleanField(required=False, default=True)
    margin = serializers.FloatField(required=False, default=0.02, help_text="ROC AUC a candidate may lose")


class UpdateSerializer(serializers.Serializer):
    guards_promotion = serializers.BooleanField(required=False)
    margin = serializers.FloatField(required=False)


@extend_schema(
    summary="The named reference sets",
    parameters=[TASK_FILTER],
    responses={200: inline_serializer("ReferenceSetList", fields=SET_FIELDS, many=True)},
)
class ReferenceSetList(MLLeadsOnly):
    def get(self, request):
        task = task_filter(request)
        return Response(reference_sets_list(task))

    @extend_schema(
        summary="Name a reference set",
        request=CreateSerializer,
        responses={201: SetSerializer, **refusal_responses(400)},
    )
    def post(self, request):
        data = CreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        campaign = campaign_named(values.pop("campaign"))
        created = create_reference_set(actor=request.user, campaign=campaign, **values)
        return Response(set_row(created), status=status.HTTP_201_CREATED)


@extend_schema(summary="Change whether a set guards promotion, or its margin", request=UpdateSerializer)
class ReferenceSetDetail(MLLeadsOnly):
    @extend_schema(responses={200: SetSerializer})
    def patch(self, request, pk: int):
        data = UpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        updated = update_reference_set(reference_set=get_object_or_404(ReferenceSet, pk=pk), **data.validated_data)
        return Response(set_row(updated))

    @extend_schema(summary="Delete a reference set and every version's figures on it", responses={204: None})
    def delete(self, request, pk: int):
        delete_reference_set(reference_set=get_object_or_404(ReferenceSet, pk=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [
    path("models/reference-sets/", ReferenceSetList.as_view(), name="api-reference-sets"),
    path("models/reference-sets/<int:pk>/", ReferenceSetDetail.as_view(), name="api-reference-set"),
]
