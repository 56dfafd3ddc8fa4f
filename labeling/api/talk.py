"""Talk API: a candidate's thread (read and post), recent discussions and popular hashtags.

Comments come back with ``body`` (the raw text) and ``body_html`` (rendered and sanitised once, at posting, by
``labeling.talk``); a client must show ``body_html`` or escape ``body`` itself.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core import ratelimit
from core.errors import ServiceError
from core.openapi import refusal_responses
from core.roles import VOLUNTEER, HasRole
from core.urls import talk_tag_url, talk_thread_url
from labeling.api.limits import declared_length_over
from labeling.campaigns.permissions import can_view
from labeling.models import Alert, Campaign
from labeling.talk import (
    MAX_BODY_CHARS,
    comment_post,
    popular_hashtags,
    recent_discussions,
    thread,
)

MAX_COMMENT_BYTES = 64 * 1024
THREAD_LIMIT = 1000

COMMENT_FIELDS = {
    "id": serializers.IntegerField(),
    "author": serializers.CharField(),
    "body": serializers.CharField(),
    "body_html": serializers.CharField(),
    "created_at": serializers.DateTimeField(),
    "hashtags": serializers.ListField(child=serializers.CharField()),
}
COMMENT = inline_serializer("TalkComment", COMMENT_FIELDS)


def comment_json(comment) -> dict:
    return {
        "id": comment.pk,
        "author": comment.author.username,
        "body": comment.body,
        "body_html": comment.body_html,
        "created_at": comment.created_at.isoformat(),
        "hashtags": [h.name for h in comment.hashtags.all()],
    }


class Thread(APIView):
    """A candidate's discussion thread: GET lists its comments, POST adds one ``{"body": ..., "campaign": slug?}``."""

    permission_classes = [HasRole.of(VOLUNTEER)]
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="talk_thread",
        responses={
            200: inline_serializer(
                "TalkThread",
                {
                    "candid": serializers.CharField(),
                    "object_id": serializers.CharField(),
                    "url": serializers.CharField(),
                    "comments": inline_serializer("TalkCommentList", COMMENT_FIELDS, many=True),
                },
            ),
            **refusal_responses(404),
        },
    )
    def get(self, request, candid: int):
        alert = Alert.objects.filter(candid=candid).only("id", "candid", "object_id").first()
        if alert is None:
            raise ServiceError(f"no alert with candid {candid}", status=404)
        comments = thread(alert=alert).prefetch_related("hashtags")[:THREAD_LIMIT]
        return Response(
            {
                "candid": str(alert.candid),
                "object_id": alert.object_id,
                "url": talk_thread_url(alert.candid),
                "comments": [comment_json(c) for c in comments],
            }
        )

    @extend_schema(
        operation_id="talk_comment_post",
        request=inline_serializer(
            "TalkCommentInput",
            {
                "body": serializers.CharField(max_length=MAX_BODY_CHARS),
                "campaign": serializers.CharField(required=False, allow_null=True),
            },
        ),
        responses={201: COMMENT, **refusal_responses(400, 404, 413, 415, 429)},
    )
    def post(self, request, candid: int):
        if declared_length_over(request, MAX_COMMENT_BYTES) is not None:
            raise ServiceError(f"a comment request is at most {MAX_COMMENT_BYTES} bytes", field="body", status=413)
        ratelimit.check_request("talk", request)
        alert = Alert.objects.filter(candid=candid).first()
        if alert is None:
            raise ServiceError(f"no alert with candid {candid}", status=404)
        data = request.data
        if not isinstance(data, dict):
            raise ServiceError("the body must be a JSON object with a 'body' field")
        unknown = sorted(set(data) - {"body", "campaign"})
        if unknown:
            name = unknown[0][:64]
            raise ServiceError(f"unknown field {name!r}; expected body, campaign", field=name)
        if "body" not in data:
            raise ServiceError("body is required", field="body", code="required")
        campaign = None
        slug = data.get("campaign")
        if slug is not None:
            if not isinstance(slug, str):
                raise ServiceError("campaign must be a campaign slug (text)", field="campaign")
            campaign = Campaign.objects.filter(slug=slug).first()
            if campaign is None or not can_view(request.user, campaign):
                # The same answer for a campaign that exists but is not open to this volunteer.
                raise ServiceError(f"no campaign {slug[:80]!r}", field="campaign")
        # A comment Talk refuses raises TalkRefused, answered like every refusal by the API's exception handler.
        comment = comment_post(alert=alert, author=request.user, body=data["body"], campaign=campaign)
        return Response(comment_json(comment), status=201)


class Recent(APIView):
    """The candidates discussed most recently, and the most used hashtags."""

    permission_classes = [HasRole.of(VOLUNTEER)]

    @extend_schema(
        operation_id="talk_recent",
        responses={
            200: inline_serializer(
                "TalkRecent", {"discussions": serializers.ListField(), "hashtags": serializers.ListField()}
            )
        },
    )
    def get(self, request):
        discussions = [
            {
                "candid": str(d["alert"].candid),
                "object_id": d["alert"].object_id,
                "url": talk_thread_url(d["alert"].candid),
                "comments": d["n"],
                "last_at": d["last"].isoformat(),
                "last_author": d["latest"].author.username if d["latest"] else None,
            }
            for d in recent_discussions(limit=30)
        ]
        tags = [{"name": h.name, "comments": h.n, "url": talk_tag_url(h.name)} for h in popular_hashtags(limit=30)]
        return Response({"discussions": discussions, "hashtags": tags})


urlpatterns = [
    path("talk/alerts/<int:candid>/comments/", Thread.as_view(), name="talk-thread-api"),
    path("talk/recent/", Recent.as_view(), name="talk-recent-api"),
]
