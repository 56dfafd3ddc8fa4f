"""The model registry over HTTP, for ML leads (and admins): versions, promote, roll back, train.

Promote and roll back go through :mod:`classifiers.registry` (atomic, audited, a reason required); a training
request records a ``TrainingRun`` and enqueues the background task run by ``manage.py db_worker``.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from classifiers import registry
from classifiers.api.common import TASK_FILTER, MLLeadsOnly, task_filter
from classifiers.models import ModelVersion, RegistryEvent, Task, TrainingRun
from classifiers.runs.requests import request_run
from core.errors import refusal_body
from labeling.models import Campaign

HEADLINE_METRICS = ("accuracy", "precision", "recall", "fpr", "fnr", "roc_auc", "threshold", "n")


class EventSerializer(serializers.ModelSerializer):
    version = serializers.CharField(source="version.label")
    previous_active = serializers.CharField(source="previous_active.label", allow_null=True, default=None)
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)

    class Meta:
        model = RegistryEvent
        fields = ["id", "task", "action", "version", "previous_active", "actor", "reason", "at"]


class VersionSerializer(serializers.ModelSerializer):
    label = serializers.CharField()
    status = serializers.CharField(help_text="candidate, active or retired")
    parent = serializers.IntegerField(source="parent_id", allow_null=True)
    headline = serializers.SerializerMethodField()
    n_labels = serializers.SerializerMethodField()
    input_recipe = serializers.SerializerMethodField()
    provenance = serializers.JSONField(
        read_only=True, help_text="where an imported version came from: name, source, file, sha256, licence"
    )

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "task",
            "version",
            "label",
            "architecture",
            "status",
            "parent",
            "sha256",
            "size_bytes",
            "created_at",
            "n_labels",
            "headline",
            "input_recipe",
            "provenance",
        ]

    def get_headline(self, obj) -> dict:
        return {k: (obj.metrics or {}).get(k) for k in HEADLINE_METRICS}

    def get_n_labels(self, obj) -> int | None:
        return (obj.training_set or {}).get("n_labels")

    def get_input_recipe(self, obj) -> dict:
        return registry.recipe_of(obj).to_dict()


class VersionDetailSerializer(VersionSerializer):
    events = serializers.SerializerMethodField()

    class Meta(VersionSerializer.Meta):
        fields = [
            *VersionSerializer.Meta.fields,
            "hyperparameters",
            "training_set",
            "metrics",
            "thresholds",
            "notes",
            "events",
        ]

    def get_events(self, obj) -> list[dict]:
        events = RegistryEvent.objects.filter(version=obj).select_related("version", "previous_active", "actor")
        return EventSerializer(events[:50], many=True).data


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, help_text="Why: kept in the audit log")


class RollbackSerializer(ReasonSerializer):
    task = serializers.ChoiceField(choices=Task.choices)


class TrainRequestSerializer(serializers.Serializer):
    task = serializers.ChoiceField(choices=Task.choices)
    campaign = serializers.SlugField(
        required=False, allow_null=True, help_text="Train on this campaign's consensus labels (default: demo truth)"
    )
    epochs = serializers.IntegerField(required=False, min_value=1, max_value=200)
    seed = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)
    from_version = serializers.IntegerField(
        required=False, allow_null=True, help_text="Fine-tune this version's weights (its id) instead of random ones"
    )
    freeze_conv = serializers.BooleanField(
        required=False, default=False, help_text="With from_version: keep its convolutional layers as they are"
    )
    learning_rate = serializers.FloatField(
        required=False, min_value=1e-7, max_value=1.0, help_text="Default: the architecture's, smaller for a fine-tune"
    )
    promote = serializers.BooleanField(required=False, default=False)


class TrainingRunSerializer(serializers.ModelSerializer):
    status = serializers.CharField(help_text="queued, running, succeeded, failed or diverged")
    campaign = serializers.CharField(source="campaign.slug", allow_null=True, default=None)
    version = serializers.IntegerField(source="version_id", allow_null=True)

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "task",
            "status",
            "campaign",
            "trigger",
            "options",
            "attempts",
            "created_at",
            "started_at",
            "finished_at",
            "heartbeat_at",
            "version",
            "error",
            "progress",
        ]


def _versions():
    return ModelVersion.objects.defer("weights")


@extend_schema(
    summary="Model versions",
    parameters=[TASK_FILTER],
    responses={200: VersionSerializer(many=True)},
)
class VersionList(MLLeadsOnly):
    def get(self, request):
        versions = _versions().order_by("task", "-version")
        task = task_filter(request)
        if task is not None:
            versions = versions.filter(task=task)
        return Response(VersionSerializer(versions[:500], many=True).data)


@extend_schema(summary="One model version with metrics and audit log", responses={200: VersionDetailSerializer})
class VersionDetail(MLLeadsOnly):
    def get(self, request, pk: int):
        return Response(VersionDetailSerializer(get_object_or_404(_versions(), pk=pk)).data)


@extend_schema(
    summary="Promote a version to active (the current active one is retired)",
    request=ReasonSerializer,
    responses={
        200: VersionSerializer,
        400: OpenApiResponse(description="No reason"),
        409: OpenApiResponse(description="Already active"),
    },
)
class VersionPromote(MLLeadsOnly):
    def post(self, request, pk: int):
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = get_object_or_404(_versions(), pk=pk)
        # A promotion the registry refuses (already active) raises RegistryError: a 409 refusal.
        version = registry.promote(version, actor=request.user, reason=data.validated_data["reason"])
        return Response(VersionSerializer(version).data)


@extend_schema(
    summary="Roll a task back to the version active before the current one",
    request=RollbackSerializer,
    responses={
        200: VersionSerializer,
        400: OpenApiResponse(description="Bad input"),
        409: OpenApiResponse(description="Nothing to roll back to"),
    },
)
class Rollback(MLLeadsOnly):
    def post(self, request):
        data = RollbackSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = registry.rollback(
            data.validated_data["task"], actor=request.user, reason=data.validated_data["reason"]
        )
        return Response(VersionSerializer(version).data)


@extend_schema(
    summary="Train a model in the background",
    description="Records a queued TrainingRun and enqueues it for `manage.py db_worker`. One training per task at "
    "a time: a second request while one is queued or running is refused (409) with the run in flight as `run`. `from_version` "
    "fine-tunes a version of the same task, or for rubin_real_bogus also a real_bogus (ZTF braai) version (an "
    "unknown one, or another task's, is refused naming the field).",
    request=TrainRequestSerializer,
    responses={
        202: TrainingRunSerializer,
        400: OpenApiResponse(description="Bad input"),
        409: OpenApiResponse(description="A training of this task is in flight (the refusal carries it as `run`)"),
    },
)
class Train(MLLeadsOnly):
    def post(self, request):
        data = TrainRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        campaign = None
        if values.get("campaign"):
            campaign = Campaign.objects.filter(slug=values["campaign"]).first()
            if campaign is None:
                raise ValidationError({"campaign": f"no campaign with slug {values['campaign']!r}"})
        options = {
            k: values[k] for k in ("epochs", "seed", "learning_rate", "from_version") if values.get(k) is not None
        }
        if values.get("freeze_conv"):
            options["freeze_conv"] = True
        options["promote"] = "always" if values.get("promote") else "never"
        run, created = request_run(
            task=values["task"], campaign=campaign, triggered_by=request.user, trigger="api", options=options
        )
        if not created:
            refused = refusal_body(f"a {run.task} training is already {run.status} (run {run.pk})", code="in_flight")
            return Response({**refused, "run": TrainingRunSerializer(run).data}, status=status.HTTP_409_CONFLICT)
        return Response(TrainingRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(summary="A training run: status and progress events", responses={200: TrainingRunSerializer})
class TrainingRunDetail(MLLeadsOnly):
    def get(self, request, pk: int):
        run = get_object_or_404(TrainingRun.objects.select_related("campaign"), pk=pk)
        return Response(TrainingRunSerializer(run).data)


urlpatterns = [
    path("models/versions/", VersionList.as_view(), name="api-model-versions"),
    path("models/versions/<int:pk>/", VersionDetail.as_view(), name="api-model-version"),
    path("models/versions/<int:pk>/promote/", VersionPromote.as_view(), name="api-model-promote"),
    path("models/rollback/", Rollback.as_view(), name="api-model-rollback"),
    path("models/train/", Train.as_view(), name="api-model-train"),
    path("models/training-runs/<int:pk>/", TrainingRunDetail.as_view(), name="api-training-run"),
]
