"""The classify API: a volunteer's votes, progress and tutorial; the next subjects are served one floor up
(``classifiers.api.classify``), because each card carries the active model's verdict.

The vote endpoint sits on the volunteers' hot path (a page sends each vote in the background), so it does a
handful of indexed queries and nothing else: the vote goes through ``labeling.votes.vote_record`` (the one
write path), and the live counter is told after the commit, best-effort (``labeling.live``).

Every refusal is JSON ``{"detail": <reason>, "code": <machine code>, "field": <field or null>}``.
"""

from __future__ import annotations

import uuid
from functools import partial

from django.db import transaction
from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from core import ratelimit
from core.errors import ServiceError
from core.openapi import refusal_responses
from core.roles import VOLUNTEER, HasRole
from core.rows import fetch_one
from labeling.api.limits import declared_length_over
from labeling.live import publish_vote
from labeling.models import Campaign, TutorialSeen
from labeling.progress import campaign_progress, volunteer_stats
from labeling.votes import can_classify, vote_record

MAX_VOTE_BYTES = 4096
VOTE_FIELDS = ("subject", "answer", "idempotency_key", "duration_ms", "served")
MAX_SERVED_TOKEN = 200
REQUIRED_VOTE_FIELDS = ("subject", "answer", "idempotency_key")


class JSONOnly(DefaultContentNegotiation):
    """The classify endpoints answer JSON whatever the Accept header says: DRF's negotiation parses that header
    on every request to choose among renderers these views do not offer."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _campaign_by_slug(slug: str) -> Campaign | None:
    return fetch_one(Campaign, "slug = %s", [slug])


def campaign_for(request, slug: str) -> Campaign:
    campaign = _campaign_by_slug(slug)
    if campaign is None:
        raise ServiceError(f"no campaign {slug!r}", status=404)
    if not can_classify(campaign=campaign, volunteer=request.user):
        if campaign.state != Campaign.State.LIVE:
            detail = f"this campaign is {campaign.get_state_display().lower()}, not live: it takes no classifications"
        else:
            detail = "this campaign is open to listed volunteers only, and you are not listed"
        raise ServiceError(detail, code="no_access", status=403)
    return campaign


def _strict_int(value, field: str, *, low: int, high: int) -> int:
    # bool is an int in Python and "12" parses as one in DRF; neither is what a client meant to send.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ServiceError(f"{field} must be an integer, not {type(value).__name__}", field=field)
    if not low <= value <= high:
        raise ServiceError(f"{field} must be between {low} and {high}", field=field)
    return value


def parse_vote(data) -> dict:
    """Check a vote body's shape and types; the campaign-specific rules are vote_record's."""
    if not isinstance(data, dict):
        raise ServiceError("the body must be a JSON object with subject, answer and idempotency_key")
    unknown = sorted(set(data) - set(VOTE_FIELDS))
    if unknown:
        name = unknown[0][:64]
        raise ServiceError(f"unknown field {name!r}; expected {', '.join(VOTE_FIELDS)}", field=name)
    for field in REQUIRED_VOTE_FIELDS:
        if field not in data or data[field] is None:
            raise ServiceError(f"{field} is required", field=field, code="required")
    subject = _strict_int(data["subject"], "subject", low=1, high=2**63 - 1)
    answer = data["answer"]
    if not isinstance(answer, str) or not 0 < len(answer) <= 64:
        raise ServiceError("answer must be a class key (a string of 1 to 64 characters)", field="answer")
    key = data["idempotency_key"]
    try:
        if not isinstance(key, str):
            raise ValueError
        key = uuid.UUID(key)
    except ValueError:
        raise ServiceError("idempotency_key must be a UUID string", field="idempotency_key") from None
    duration = data.get("duration_ms")
    if duration is not None:
        duration = _strict_int(duration, "duration_ms", low=0, high=86_400_000)
    # Optional here: a missing or wrong token is vote_record's refusal (409 not_served), as for any unserved subject.
    served = data.get("served")
    if served is not None and (not isinstance(served, str) or len(served) > MAX_SERVED_TOKEN):
        raise ServiceError(
            f"served must be the card's served token (a string of at most {MAX_SERVED_TOKEN})", field="served"
        )
    return {"subject_id": subject, "answer": answer, "idempotency_key": key, "duration_ms": duration, "served": served}


def _gold_feedback(campaign: Campaign, outcome) -> dict | None:
    if not outcome.gold_answer:
        return None
    return {
        "answer": outcome.gold_answer,
        "label": campaign.class_label(outcome.gold_answer),
        "note": outcome.subject.gold_note,
        "agreed": outcome.vote.answer == outcome.gold_answer,
    }


VOTE_IN = inline_serializer(
    "VoteInput",
    {
        "subject": serializers.IntegerField(min_value=1),
        "answer": serializers.CharField(max_length=64),
        "idempotency_key": serializers.UUIDField(),
        "duration_ms": serializers.IntegerField(min_value=0, max_value=86_400_000, required=False, allow_null=True),
        "served": serializers.CharField(
            max_length=MAX_SERVED_TOKEN,
            required=False,
            allow_blank=True,
            help_text="The subject card's served token from GET next: a vote counts only on a subject served to its"
            " voter (without a valid one, 409 not_served)",
        ),
    },
)
VOTE_OUT = inline_serializer(
    "VoteStored",
    {
        "created": serializers.BooleanField(),
        "vote": serializers.DictField(),
        "subject": serializers.DictField(),
        "gold": serializers.DictField(allow_null=True),
        "stats": serializers.DictField(),
        "progress": serializers.DictField(),
    },
)
REFUSALS = refusal_responses(400, 403, 404)


class Votes(APIView):
    """Store one classification. Repeating a request with the same idempotency_key stores nothing new and
    answers 200 with the stored vote (201 the first time)."""

    permission_classes = [HasRole.of(VOLUNTEER)]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONOnly
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="classify_vote",
        request=VOTE_IN,
        responses={
            201: VOTE_OUT,
            200: VOTE_OUT,
            **REFUSALS,
            **refusal_responses(409, 413, 415, 429),
        },
    )
    def post(self, request, slug: str):
        if (length := declared_length_over(request, MAX_VOTE_BYTES)) is not None:
            raise ServiceError(f"a vote is at most {MAX_VOTE_BYTES} bytes; this one is {length}", status=413)
        ratelimit.check_request("vote", request)
        campaign = _campaign_by_slug(slug)
        if campaign is None:
            raise ServiceError(f"no campaign {slug!r}", status=404)
        # A refused vote raises VoteRefused, answered by the API's exception handler like every refusal.
        outcome = vote_record(
            campaign=campaign,
            volunteer=request.user,
            user_agent=request.headers.get("User-Agent", ""),
            served_only=True,
            weigh_by_record=True,
            **parse_vote(request.data),
        )
        if outcome.created:
            transaction.on_commit(partial(publish_vote, campaign_id=campaign.pk))
        vote, subject = outcome.vote, outcome.subject
        body = {
            "created": outcome.created,
            "vote": {
                "id": vote.pk,
                "subject": vote.subject_id,
                "answer": vote.answer,
                "answer_label": campaign.class_label(vote.answer),
                "idempotency_key": str(vote.idempotency_key),
                "created_at": vote.created_at.isoformat(),
            },
            "subject": {"id": subject.pk, "retired": subject.retired},
            "gold": _gold_feedback(campaign, outcome),
            "stats": volunteer_stats(campaign=campaign, volunteer=request.user),
            "progress": campaign_progress(campaign_id=campaign.pk),
        }
        return Response(body, status=201 if outcome.created else 200)


class MyProgress(APIView):
    """The signed-in volunteer's classifications and agreement in the campaign, and the campaign's progress."""

    permission_classes = [HasRole.of(VOLUNTEER)]

    @extend_schema(
        operation_id="classify_progress",
        responses={
            200: inline_serializer(
                "ClassifyProgress", {"stats": serializers.DictField(), "progress": serializers.DictField()}
            ),
            **REFUSALS,
        },
    )
    def get(self, request, slug: str):
        campaign = campaign_for(request, slug)
        return Response(
            {
                "stats": volunteer_stats(campaign=campaign, volunteer=request.user),
                "progress": campaign_progress(campaign_id=campaign.pk),
            }
        )


class TutorialSeenView(APIView):
    """Record that the volunteer has been through the campaign's tutorial, so it no longer opens by itself."""

    permission_classes = [HasRole.of(VOLUNTEER)]

    @extend_schema(
        operation_id="classify_tutorial_seen",
        request=None,
        responses={200: inline_serializer("TutorialSeen", {"seen": serializers.BooleanField()}), **REFUSALS},
    )
    def post(self, request, slug: str):
        campaign = campaign_for(request, slug)
        TutorialSeen.objects.get_or_create(campaign=campaign, volunteer=request.user)
        return Response({"seen": True})


urlpatterns = [
    path("campaigns/<slug:slug>/votes/", Votes.as_view(), name="classify-vote"),
    path("campaigns/<slug:slug>/me/", MyProgress.as_view(), name="classify-progress"),
    path("campaigns/<slug:slug>/tutorial-seen/", TutorialSeenView.as_view(), name="classify-tutorial-seen"),
]
