"""Talk API: a candidate's thread (read and post), recent discussions and popular hashtags.

Comments come back with ``body`` (the raw text) and ``body_html`` (rendered and sanitised once, at posting, by
``labeling.talk``); a client must show ``body_html`` or escape ``body`` itself.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core.roles import VOLUNTEER, HasRole
from core.urls import talk_tag_url, talk_thread_url
from labeling.api.limits import declared_length_over
from labeling.models import Alert, Campaign
from labeling.talk import (
    MAX_BODY_CHARS,
    TalkRefused,
    comment_post,
    popular_hashtags,
    recent_discussions,
    thread,
)

MAX_COMMENT_BYTES = 64 * 1024
THREAD_LIMIT = 1000

ERROR = inline_serializer(
    "TalkError",
    {
        "detail": serializers.CharField(),
        "code": serializers.CharField(),
        "field": serializers.CharField(allow_null=True),
    },
)
COMMENT_FIELDS = {
    "id": serializers.IntegerField(),
    "author": serializers.CharField(),
    "body": serializers.CharField(),
    "body_html": serializers.CharField(),
    "created_at": serializers.DateTimeField(),
    "hashtags": serializers.ListField(child=serializers.CharField()),
}
COMMENT = inline_serializer("TalkComment", COMMENT_FIELDS)


def _refusal(status: int, code: str, detail: str, field: str | None = None) -> Response:
    return Response({"detail": detail, "code": code, "field": field}, status=status)


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
            404: OpenApiResponse(ERROR),
        },
    )
    def get(self, request, candid: int):
        alert = Alert.objects.filter(candid=candid).only("id", "candid", "object_id").first()
        if alert is None:
            return _refusal(404, "not_found", f"no alert with candid {candid}")
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
        responses={201: COMMENT, **{status: OpenApiResponse(ERROR) for status in (400, 404, 413, 415)}},
    )
    def post(self, request, candid: int):
        if declared_length_over(request, MAX_COMMENT_BYTES) is not None:
            return _refusal(413, "too_large", f"a comment request is at most {MAX_COMMENT_BYTES} bytes", "body")
        alert = Alert.objects.filter(candid=candid).first()
        if alert is None:
            return _refusal(404, "not_found", f"no alert with candid {candid}")
        data = request.data
        if not isinstance(data, dict):
            return _refusal(400, "invalid", "the body must be a JSON object with a 'body' field")
        unknown = sorted(set(data) - {"body", "campaign"})
        if unknown:
            return _refusal(
                400, "invalid", f"unknown field {unknown[0][:64]!r}; expected body, campaign", unknown[0][:64]
            )
        if "body" not in data:
            return _refusal(400, "required", "body is required", "body")
        campaign = None
        slug = data.get("campaign")
        if slug is not None:
            if not isinstance(slug, str):
                return _refusal(400, "invalid", "campaign must be a campaign slug (text)", "campaign")
            campaign = Campaign.objects.filter(slug=slug).first()
            if campaign is None:
                return _refusal(400, "invalid", f"no campaign {slug[:80]!r}", "campaign")
        try:
            comment = comment_post(alert=alert, author=request.user, body=data["body"], campaign=campaign)
        except TalkRefused as exc:
            return _refusal(exc.status, "invalid", exc.message, exc.field)
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
