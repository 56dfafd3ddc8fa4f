"""The campaign endpoints that need a model: the inspect table with each subject's score, a subject's votes
beside its row, and the exports (the .npz training set is built with the classifiers' preprocessing).

The rest of the campaign API is ``labeling.api.campaigns``; these views share its guards and refusals
(``labeling.api.campaigns.common``).
"""

from __future__ import annotations

import tempfile

from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from classifiers.exports import KINDS, write_training_set
from classifiers.inspect import inspect_subjects
from core.errors import ServiceError
from core.streaming import StreamedFileResponse, StreamedResponse
from labeling.api.campaigns.common import REFUSALS, ScientistsOnly, campaign_for
from labeling.campaigns.selectors import inspect_filters
from labeling.exports import METHODS, ensure_consensus, export_filename, export_stream
from labeling.inspect import MAX_PAGE, subject_rows, subject_votes

# ------------------------------------------------------------------------------------ inspect, a subject's votes


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
    return inspect_subjects(campaign=campaign, **inspect_filters(request.query_params))


class InspectView(ScientistsOnly):
    """The campaign's subjects with vote counts per answer, consensus, confidence, model score, retirement."""

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
    def get(self, request, slug: str):
        campaign = campaign_for(request, slug, manage=True)
        paginator = InspectPagination()
        page = paginator.paginate_queryset(inspect_queryset(request, campaign), request, view=self)
        return paginator.get_paginated_response(subject_rows(page, campaign))


class SubjectVotesView(ScientistsOnly):
    """Every vote on one subject (volunteer, time, answer): the campaign's managers only."""

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
    def get(self, request, slug: str, pk: int):
        campaign = campaign_for(request, slug, manage=True)
        subject = get_object_or_404(inspect_subjects(campaign=campaign), pk=pk)
        row = subject_rows([subject], campaign)[0]
        votes = self.VoteSerializer(subject_votes(subject=subject), many=True).data
        return Response({"subject": row, "votes": votes})


# ---------------------------------------------------------------------------------------------------- exports


class ExportView(ScientistsOnly):
    """Download an export, streamed: zooniverse (classifications CSV), workflow (CSV), consensus-csv,
    consensus-json, npz (training set)."""

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
    def get(self, request, slug: str, kind: str):
        campaign = campaign_for(request, slug, manage=True)
        if kind not in KINDS:
            raise ServiceError(f"unknown export {kind!r}; one of {', '.join(KINDS)}", field="kind", status=404)
        method = request.query_params.get("method", "dawid_skene")
        if method not in METHODS:
            raise ServiceError(f"one of {', '.join(METHODS)}", field="method")
        retired_only = request.query_params.get("retired_only") in ("1", "true", "yes")
        filename = export_filename(campaign, kind)
        ensure_consensus(campaign, kind=kind, method=method)
        if kind == "npz":
            spool = tempfile.TemporaryFile()  # noqa: SIM115 - the response closes it after sending
            write_training_set(campaign, spool, method=method, retired_only=retired_only)
            spool.seek(0)
            return StreamedFileResponse(
                spool, as_attachment=True, filename=filename, content_type="application/octet-stream"
            )
        chunks = export_stream(campaign, kind, method=method, retired_only=retired_only)
        content_type = "application/json" if kind == "consensus-json" else "text/csv; charset=utf-8"
        response = StreamedResponse((chunk.encode("utf-8") for chunk in chunks), content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


urlpatterns = [
    path("campaigns/<slug:slug>/subjects/", InspectView.as_view(), name="api-campaign-subjects"),
    path(
        "campaigns/<slug:slug>/subjects/<int:pk>/votes/", SubjectVotesView.as_view(), name="api-campaign-subject-votes"
    ),
    path("campaigns/<slug:slug>/exports/<str:kind>/", ExportView.as_view(), name="api-campaign-export"),
]
