"""The active-learning loop over HTTP, for ML leads (and admins): retrain, follow runs, reorder queues.

A retraining request records a ``TrainingRun`` and enqueues it for ``manage.py db_worker``; when a run of the task
is already queued or running, the answer is that run (``created: false``), never a second training.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from activelearning.policy import request_retraining
from activelearning.selectors import loop_overview
from activelearning.tasks import request_reorder
from classifiers.api.common import TASK_FILTER, MLLeadsOnly, task_filter
from classifiers.models import Task
from classifiers.runs.selectors import recent_runs, run_detail
from labeling.models import Campaign


class RetrainSerializer(serializers.Serializer):
    task = serializers.ChoiceField(choices=Task.choices, help_text="Which classifier to retrain")
    campaign = serializers.SlugField(help_text="Learn from this campaign's consensus labels")
    epochs = serializers.IntegerField(required=False, min_value=1, max_value=100, help_text="Fine-tuning epochs")
    auto_promote = serializers.BooleanField(
        required=False, default=True, help_text="Let the policy promote a candidate that is not worse on held-out data"
    )
    from_version = serializers.IntegerField(
        required=False, allow_null=True, help_text="Fine-tune this version (its id; default: the task's active one)"
    )
    freeze_conv = serializers.BooleanField(
        required=False, default=False, help_text="Keep the starting version's convolutional layers as they are"
    )


RUN_FIELDS = {
    "id": serializers.IntegerField(),
    "task": serializers.CharField(),
    "status": serializers.CharField(),
    "campaign": serializers.CharField(allow_null=True),
    "trigger": serializers.CharField(),
    "triggered_by": serializers.CharField(allow_null=True),
    "attempts": serializers.IntegerField(),
    "created_at": serializers.CharField(allow_null=True),
    "started_at": serializers.CharField(allow_null=True),
    "finished_at": serializers.CharField(allow_null=True),
    "heartbeat_at": serializers.CharField(allow_null=True),
    "error": serializers.CharField(allow_blank=True),
    "version": serializers.IntegerField(allow_null=True),
    "epochs": serializers.ListField(child=serializers.DictField()),
    "queued": serializers.DictField(allow_null=True),
    "labels": serializers.DictField(allow_null=True),
    "evaluation": serializers.DictField(allow_null=True),
    "decision": serializers.DictField(allow_null=True),
    "rescoring": serializers.DictField(allow_null=True),
    "done": serializers.DictField(allow_null=True),
    "events": serializers.ListField(child=serializers.DictField()),
    "seq": serializers.IntegerField(help_text="the number of the run's last stored event"),
    "events_url": serializers.CharField(help_text="the run's stored events after a number (no live layer needed)"),
}
RunSerializer = inline_serializer("LoopRun", fields=RUN_FIELDS)
RetrainResponse = inline_serializer(
    "LoopRetrainResponse",
    fields={"created": serializers.BooleanField(), "run": inline_serializer("LoopRunRef", RUN_FIELDS)},
)


@extend_schema(
    summary="Retrain a classifier on a campaign's consensus labels",
    description="Queues a fine-tuning of the active version (or of `from_version`) for `manage.py db_worker`. One "
    "training per task at a time: while one is queued or running, the answer is that run with `created: false` (200) "
    "instead of a new one (202). An unknown `from_version`, or one of another task, is refused naming the field.",
    request=RetrainSerializer,
    responses={
        202: RetrainResponse,
        200: RetrainResponse,
        400: OpenApiResponse(description="Bad input (the field is named)"),
    },
)
class Retrain(MLLeadsOnly):
    def post(self, request):
        data = RetrainSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        campaign = Campaign.objects.filter(slug=values["campaign"]).first()
        if campaign is None:
            raise ValidationError({"campaign": f"no campaign with slug {values['campaign']!r}"})
        run, created = request_retraining(
            task=values["task"],
            campaign=campaign,
            user=request.user,
            auto_promote=values.get("auto_promote", True),
            options={
                "epochs": values.get("epochs"),
                "from_version": values.get("from_version"),
                "freeze_conv": values.get("freeze_conv") or None,
            },
        )
        return Response(
            {"created": created, "run": run_detail(run.pk)},
            status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK,
        )


@extend_schema(
    summary="Recent training runs",
    parameters=[
        TASK_FILTER,
        OpenApiParameter("limit", int, description="how many (1-100, default 20)"),
    ],
    responses={200: inline_serializer("LoopRun", fields=RUN_FIELDS, many=True)},
)
class RunList(MLLeadsOnly):
    def get(self, request):
        task = task_filter(request)
        try:
            limit = int(request.query_params.get("limit", 20))
        except ValueError:
            raise ValidationError({"limit": "must be an integer"}) from None
        if not 1 <= limit <= 100:
            raise ValidationError({"limit": "must be between 1 and 100"})
        return Response(recent_runs(task=task, limit=limit))


@extend_schema(summary="One training run with every progress event", responses={200: RunSerializer})
class RunDetail(MLLeadsOnly):
    def get(self, request, pk: int):
        detail = run_detail(pk)
        if detail is None:
            raise NotFound(f"no training run {pk}")
        return Response(detail)


@extend_schema(
    summary="Reorder a campaign's queue now (in the background)",
    request=None,
    responses={
        202: inline_serializer(
            "LoopReorderResponse",
            fields={"campaign": serializers.CharField(), "task_result_id": serializers.CharField()},
        )
    },
)
class Reorder(MLLeadsOnly):
    def post(self, request, slug: str):
        campaign = get_object_or_404(Campaign, slug=slug)
        return Response(
            {"campaign": campaign.slug, "task_result_id": request_reorder(campaign)}, status=status.HTTP_202_ACCEPTED
        )


@extend_schema(
    summary="The loop at a glance: tasks, campaigns' queues, recent runs, policy",
    responses={200: OpenApiTypes.OBJECT},
)
class Overview(MLLeadsOnly):
    def get(self, request):
        return Response(loop_overview())


urlpatterns = [
    path("loop/", Overview.as_view(), name="api-loop"),
    path("loop/retrain/", Retrain.as_view(), name="api-loop-retrain"),
    path("loop/runs/", RunList.as_view(), name="api-loop-runs"),
    path("loop/runs/<int:pk>/", RunDetail.as_view(), name="api-loop-run"),
    path("loop/campaigns/<slug:slug>/reorder/", Reorder.as_view(), name="api-loop-reorder"),
]
