"""A campaign's tutorial and field guide: anyone the campaign is open to reads them, its managers write them.

Tutorial steps and field-guide entries are both short pages (a title, a text, an order, example alerts), so
one pair of views serves both; each kind names its serializers and services.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.response import Response

import labeling.api.campaigns.common as common
from core.urls import cutout_url, cutout_urls, field_guide_entry_api_url, tutorial_step_api_url
from labeling.api.campaigns.common import (
    ReadSignedInWriteScientists,
    ScientistsOnly,
    campaign_for,
    parse,
    require_fields,
)
from labeling.campaigns import services
from labeling.models import STAMP_KINDS, FieldGuideEntry, TutorialStep


class PageOutput(serializers.ModelSerializer):
    """What tutorial steps and field-guide entries show; each kind adds its examples."""

    FIELDS = ("id", "url", "order", "title", "text")
    url = serializers.SerializerMethodField(help_text="Where its campaign's managers change or delete it")
    example_stamps = serializers.SerializerMethodField()

    def get_url(self, page) -> str:
        return self.page_url(page.campaign.slug, page.pk)


class TutorialStepOutput(PageOutput):
    example_candid = serializers.SerializerMethodField()

    class Meta:
        model = TutorialStep
        ref_name = "TutorialStep"
        fields = (*PageOutput.FIELDS, "example_candid", "example_stamps")

    page_url = staticmethod(tutorial_step_api_url)

    @staticmethod
    def pages(campaign):
        return campaign.tutorial_steps.select_related("example_alert")

    def get_example_candid(self, step) -> int | None:
        return step.example_alert.candid if step.example_alert_id else None

    def get_example_stamps(self, step) -> dict[str, str]:
        return cutout_urls(step.example_alert.candid, STAMP_KINDS) if step.example_alert_id else {}


class FieldGuideOutput(PageOutput):
    class Meta:
        model = FieldGuideEntry
        ref_name = "FieldGuideEntry"
        fields = (*PageOutput.FIELDS, "answer", "example_candids", "example_stamps")

    page_url = staticmethod(field_guide_entry_api_url)

    example_candids = serializers.SerializerMethodField()

    @staticmethod
    def pages(campaign):
        return campaign.field_guide.prefetch_related("examples")

    def get_example_candids(self, entry) -> list[int]:
        return [a.candid for a in entry.examples.all()]

    def get_example_stamps(self, entry) -> list[str]:
        return [cutout_url(a.candid, "difference") for a in entry.examples.all()]


class PageInput(serializers.Serializer):
    """What tutorial steps and field-guide entries share; each kind adds its own fields."""

    title = serializers.CharField(max_length=200, required=False)
    text = serializers.CharField(required=False)
    order = serializers.IntegerField(required=False, min_value=0)


class TutorialStepInput(PageInput):
    example_candid = serializers.IntegerField(required=False, allow_null=True)

    class Meta:
        ref_name = "TutorialStepInput"


class FieldGuideInput(PageInput):
    answer = serializers.CharField(required=False, allow_blank=True)
    example_candids = serializers.ListField(child=serializers.IntegerField(), required=False, max_length=12)

    class Meta:
        ref_name = "FieldGuideInput"


def documented(name: str):
    """The OpenAPI operations of one kind of page (``name``: tutorial, field_guide), from the view's own
    serializers: ``campaigns_<name>_list`` and ``_create`` on its list view, ``_update`` and ``_delete`` on
    its detail view."""

    def decorate(view):
        out, given = view.output, view.input
        operations = {
            "get": extend_schema(
                operation_id=f"campaigns_{name}_list", responses={200: out(many=True), **common.REFUSALS}
            ),
            "post": extend_schema(
                operation_id=f"campaigns_{name}_create", request=given, responses={201: out, **common.REFUSALS}
            ),
            "patch": extend_schema(
                operation_id=f"campaigns_{name}_update", request=given, responses={200: out, **common.REFUSALS}
            ),
            "delete": extend_schema(operation_id=f"campaigns_{name}_delete", responses={204: None, **common.REFUSALS}),
        }
        served = {method: schema for method, schema in operations.items() if hasattr(view, method)}
        return extend_schema_view(**served)(view)

    return decorate


class PagesView(ReadSignedInWriteScientists):
    """A campaign's pages of one kind, in order; or add one. Subclasses name ``output``, ``input`` and the
    ``create`` service."""

    output: type[PageOutput]
    input: type[PageInput]

    def get(self, request, slug: str):
        campaign = campaign_for(request, slug)
        return Response(self.output(self.output.pages(campaign), many=True).data)

    def post(self, request, slug: str):
        campaign = campaign_for(request, slug, manage=True)
        data = parse(self.input, request.data)
        require_fields(data, "title", "text")
        page = self.create(actor=request.user, campaign=campaign, **data)
        return Response(self.output(page).data, status=201)


class PageView(ScientistsOnly):
    """One page: its campaign's managers change or delete it. Subclasses name ``output``, ``input``, the
    ``update`` and ``remove`` services and the keyword (``page_keyword``) those take the page by."""

    output: type[PageOutput]
    input: type[PageInput]
    page_keyword: str

    def _page(self, request, slug: str, pk: int):
        campaign = campaign_for(request, slug, manage=True)
        return get_object_or_404(self.output.Meta.model, campaign=campaign, pk=pk)

    def patch(self, request, slug: str, pk: int):
        page = self._page(request, slug, pk)
        data = parse(self.input, request.data, partial=True)
        page = self.update(actor=request.user, **{self.page_keyword: page}, **data)
        return Response(self.output(page).data)

    def delete(self, request, slug: str, pk: int):
        self.remove(actor=request.user, **{self.page_keyword: self._page(request, slug, pk)})
        return Response(status=204)


@documented("tutorial")
class TutorialListView(PagesView):
    """The campaign's tutorial steps (anyone it is open to), or add one (its managers)."""

    output, input, create = TutorialStepOutput, TutorialStepInput, staticmethod(services.tutorial_step_create)


@documented("field_guide")
class FieldGuideListView(PagesView):
    """The campaign's field guide (anyone it is open to), or add an entry (its managers)."""

    output, input, create = FieldGuideOutput, FieldGuideInput, staticmethod(services.field_guide_entry_create)


@documented("tutorial")
class TutorialDetailView(PageView):
    output, input, page_keyword = TutorialStepOutput, TutorialStepInput, "step"
    update, remove = staticmethod(services.tutorial_step_update), staticmethod(services.tutorial_step_delete)


@documented("field_guide")
class FieldGuideDetailView(PageView):
    output, input, page_keyword = FieldGuideOutput, FieldGuideInput, "entry"
    update, remove = staticmethod(services.field_guide_entry_update), staticmethod(services.field_guide_entry_delete)
