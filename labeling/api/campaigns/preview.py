"""The builder's live preview: how many alerts a filter selects, and the first of them, before anything is saved."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from core.urls import cutout_url
from labeling.api.campaigns.common import REFUSALS, ScientistsOnly, parse
from labeling.campaigns.selectors import filter_preview
from labeling.models.alerts import SURVEYS

PREVIEW_MAX = 100


class PreviewView(ScientistsOnly):
    """Count the alerts a filter selects and show the first of them, before saving anything."""

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
        is_demo = serializers.BooleanField(help_text="A synthetic demo alert, not one from the survey")
        survey = serializers.ChoiceField(choices=SURVEYS, help_text="The survey that sent the alert")

        class Meta:
            ref_name = "PreviewAlert"

    class OutputSerializer(serializers.Serializer):
        count = serializers.IntegerField()
        count_exact = serializers.BooleanField(help_text="False when the count is PostgreSQL's estimate (huge tables)")
        count_survey = serializers.IntegerField(
            allow_null=True, help_text="How many of the matches are real survey alerts (null with an estimate)"
        )
        count_demo = serializers.IntegerField(
            allow_null=True, help_text="How many of the matches are synthetic demo alerts (null with an estimate)"
        )
        count_by_survey = serializers.DictField(
            child=serializers.IntegerField(),
            allow_null=True,
            help_text='Matches per survey, every survey named, e.g. {"ztf": 112, "rubin": 127} (null with an estimate)',
        )
        summary = serializers.CharField()
        selection = serializers.DictField()
        alerts = serializers.ListField(child=serializers.DictField())

        class Meta:
            ref_name = "PreviewOutput"

    @extend_schema(
        operation_id="campaigns_preview", request=InputSerializer, responses={200: OutputSerializer, **REFUSALS}
    )
    def post(self, request):
        data = parse(self.InputSerializer, request.data)
        preview = filter_preview(
            data.get("selection") or {}, sample_size=data.get("sample_size"), seed=data["sample_seed"], n=data["n"]
        )
        return Response(
            {
                "count": preview.counted.count,
                "count_exact": preview.counted.exact,
                "count_survey": preview.counted.survey,
                "count_demo": preview.counted.demo,
                "count_by_survey": preview.counted.by_survey,
                "summary": preview.compiled.summary,
                "selection": preview.compiled.spec,
                "alerts": [
                    {
                        "candid": a.candid,
                        "object_id": a.object_id,
                        "magpsf": a.magpsf,
                        "filter": a.filter_name,
                        "night": a.night.isoformat(),
                        "stamp_url": cutout_url(a.candid, "difference"),
                        "is_demo": a.is_demo,
                        "survey": a.survey,
                    }
                    for a in preview.alerts
                ],
            }
        )
