"""The next subjects of a campaign for a volunteer, each card with the active model's verdict beside it.

The rest of the classify API (votes, progress, the tutorial) is ``labeling.api.classify``; this endpoint lives
with the classifiers because the card's score panel and explanation links are theirs. It is on the volunteers'
hot path (a page asks for subjects ahead of time), so it does a handful of indexed queries: the queue order is
precomputed (``labeling.queue``) and the verdicts of the whole batch are read at once
(``classifiers.selectors.score_panels``).
"""

from __future__ import annotations

import logging

from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from classifiers.selectors import score_panels
from core.errors import ServiceError
from core.roles import VOLUNTEER, HasRole
from labeling.api.classify import REFUSALS, JSONOnly, campaign_for
from labeling.cards import subject_cards
from labeling.models import Subject
from labeling.models.alerts import SURVEYS
from labeling.queue import MAX_BATCH, MAX_EXCLUDE, next_subjects
from labeling.votes import served_token

log = logging.getLogger(__name__)

MAX_SUBJECT_ID = 2**63 - 1


def cards_with_verdicts(subjects: list[Subject]) -> list[dict]:
    """The subjects' cards, each with the active models' panel where they scored its alert."""
    try:
        panels = score_panels(s.alert for s in subjects)
    except Exception:  # noqa: BLE001 - the score is optional; the volunteer can classify without it
        log.exception("model scores unavailable for the classify page")
        panels = {}
    return subject_cards(subjects, panels)


def parse_next_query(params) -> tuple[int, list[int]]:
    raw_n = params.get("n", "5")
    try:
        n = int(raw_n)
    except ValueError:
        raise ServiceError(f"n must be an integer between 1 and {MAX_BATCH}", field="n") from None
    if not 1 <= n <= MAX_BATCH:
        raise ServiceError(f"n must be an integer between 1 and {MAX_BATCH}", field="n")
    raw = params.get("exclude", "")
    parts = [p for p in raw.split(",") if p.strip()] if raw else []
    if len(parts) > MAX_EXCLUDE:
        raise ServiceError(f"exclude takes at most {MAX_EXCLUDE} subject ids", field="exclude")
    try:
        exclude = [int(p) for p in parts]
    except ValueError:
        raise ServiceError("exclude must be comma-separated subject ids (integers)", field="exclude") from None
    if any(not 1 <= i <= MAX_SUBJECT_ID for i in exclude):
        # A database integer: a larger id would overflow the query parameter, not merely match nothing.
        raise ServiceError(f"exclude takes subject ids between 1 and {MAX_SUBJECT_ID}", field="exclude")
    return n, exclude


SUBJECT_CARD_FIELDS = {
    "id": serializers.IntegerField(),
    "candid": serializers.CharField(help_text="The alert's candid, as a string (it exceeds 2**53)"),
    "object_id": serializers.CharField(),
    "survey": serializers.ChoiceField(choices=SURVEYS),
    "pixel_scale_arcsec": serializers.FloatField(help_text="The survey's pixel scale (ZTF 1.0, Rubin 0.2)"),
    "cutout_orientation": inline_serializer(
        "CutoutOrientation",
        {
            "north_deg": serializers.FloatField(help_text="North's angle on screen, anticlockwise from up"),
            "east_left": serializers.BooleanField(help_text="East a quarter turn anticlockwise from north"),
            "pixel_scale_arcsec": serializers.FloatField(allow_null=True, help_text="Measured from the WCS"),
        },
        allow_null=True,
        help_text="How the stamps lie on screen: ZTF north up, east left; Rubin in the detector's orientation "
        "from the cutout's WCS; null when unknown",
    ),
    "stamps": serializers.DictField(child=serializers.CharField()),
    "light_curve_url": serializers.CharField(),
    "talk_url": serializers.CharField(),
    "alert_url": serializers.CharField(),
    "fields": serializers.DictField(
        help_text="The candidate's fields in its survey's terms. Both: magpsf, sigmapsf, filter, isdiffpos, "
        "ssnamenr, ndethist, days_since_first_detection, gal_b, ra, dec, jd, night. ZTF: fwhm, elong, classtar, "
        "sgscore1, distpsnr1, ssdistnr. Rubin: flux_njy, flux_err_njy (nJy), snr, band. No model scores."
    ),
    "model": serializers.DictField(allow_null=True),
    "served": serializers.CharField(
        help_text="Signed proof that this subject was served to you; send it back as the vote's served field"
    ),
}


class NextSubjects(APIView):
    """The next subjects for the signed-in volunteer, in the campaign's queue order."""

    permission_classes = [HasRole.of(VOLUNTEER)]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONOnly

    @extend_schema(
        operation_id="classify_next",
        parameters=[
            OpenApiParameter("n", int, description=f"How many subjects (1-{MAX_BATCH}, default 5)"),
            OpenApiParameter("exclude", str, description="Comma-separated subject ids already queued in the page"),
        ],
        responses={
            200: inline_serializer(
                "NextSubjects",
                {
                    # A copy: the serializer's metaclass pops the fields out of the dict it is given.
                    "subjects": inline_serializer("SubjectCard", dict(SUBJECT_CARD_FIELDS), many=True),
                    "exhausted": serializers.BooleanField(),
                },
            ),
            **REFUSALS,
        },
    )
    def get(self, request, slug: str):
        campaign = campaign_for(request, slug)
        n, exclude = parse_next_query(request.query_params)
        subjects = next_subjects(campaign=campaign, volunteer=request.user, n=n, exclude_ids=exclude, with_alert=True)
        cards = cards_with_verdicts(subjects)
        # The vote API counts a vote only on a subject served to its voter; the proof travels with the card,
        # signed, so serving writes nothing.
        for card, subject in zip(cards, subjects, strict=True):
            card["served"] = served_token(volunteer=request.user, subject=subject)
        return Response({"subjects": cards, "exhausted": len(subjects) < n})


urlpatterns = [path("campaigns/<slug:slug>/next/", NextSubjects.as_view(), name="classify-next")]
