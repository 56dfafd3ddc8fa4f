"""Talk pages: recent discussions and hashtags, a candidate's thread with its stamps, and a hashtag's comments.

Posting works as a plain form (no script needed); comments are rendered safely once, by ``labeling.talk``.
"""

from __future__ import annotations

import re

from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.views.decorators.http import require_http_methods

from core.ratelimit import rate_limited
from core.roles import VOLUNTEER, role_required
from core.urls import talk_object_url, talk_thread_url
from frontend.views.alerts import orientation_text
from labeling.campaigns.permissions import can_view
from labeling.cards import alert_fields, stamp_urls
from labeling.models import Alert, Campaign
from labeling.talk import (
    HASHTAG_NAME,
    MAX_BODY_CHARS,
    TalkRefused,
    comment_post,
    popular_hashtags,
    recent_discussions,
    tagged_comments,
    thread,
)

OBJECT_ID = re.compile(r"^ZTF\d{2}[a-z]{7}$")


def _back_campaign(request) -> Campaign | None:
    """The campaign the volunteer came from (the "back to classifying" link), if it is one they may see."""
    slug = request.GET.get("campaign") or request.POST.get("campaign") or ""
    if not slug or len(slug) > 80:
        return None
    campaign = Campaign.objects.filter(slug=slug).first()
    return campaign if campaign is not None and can_view(request.user, campaign) else None


@role_required(VOLUNTEER)
def talk_index(request):
    query = (request.GET.get("q") or "").strip()
    if query:
        if query.isdigit() and len(query) <= 19 and Alert.objects.filter(candid=int(query)).exists():
            return redirect(talk_thread_url(int(query)))
        # ZTF names objects "ZTF18abcdefg"; Rubin by number (a diaObjectId) or "ss" + an asteroid's ssObjectId.
        if OBJECT_ID.match(query) or (len(query) <= 32 and Alert.objects.filter(object_id=query).exists()):
            return redirect(talk_object_url(query))
    discussions = recent_discussions(limit=30)
    for d in discussions:
        d["stamps"] = stamp_urls(d["alert"].candid)
    return render(
        request,
        "frontend/talk/index.html",
        {
            "discussions": discussions,
            "hashtags": popular_hashtags(limit=30),
            "query": query,
            "not_found": bool(query),
        },
    )


@role_required(VOLUNTEER)
@require_http_methods(["GET", "POST"])
@rate_limited("talk", template="frontend/rate_limited.html")
def talk_thread(request, candid: int):
    alert = get_object_or_404(Alert.objects.defer("candidate"), candid=candid)
    campaign = _back_campaign(request)
    error = ""
    body = ""
    if request.method == "POST":
        body = request.POST.get("body", "")
        try:
            comment = comment_post(alert=alert, author=request.user, body=body, campaign=campaign)
        except TalkRefused as exc:
            error = exc.message
        else:
            suffix = f"?campaign={campaign.slug}" if campaign else ""
            return redirect(f"{talk_thread_url(alert.candid)}{suffix}#comment-{comment.pk}")
    siblings = list(
        Alert.objects.filter(object_id=alert.object_id).exclude(pk=alert.pk).only("candid", "jd").order_by("-jd")[:20]
    )
    return render(
        request,
        "frontend/talk/thread.html",
        {
            "alert": alert,
            "fields": alert_fields(alert),
            "stamps": stamp_urls(alert.candid),
            "orientation": orientation_text(alert),
            "comments": thread(alert=alert).prefetch_related("hashtags"),
            "siblings": siblings,
            "campaign": campaign,
            "error": error,
            "body": body,
            "max_chars": MAX_BODY_CHARS,
        },
        status=400 if error else 200,
    )


@role_required(VOLUNTEER)
def talk_object(request, object_id: str):
    alert = Alert.objects.filter(object_id=object_id).only("candid").order_by("-jd").first()
    if alert is None:
        raise Http404(f"No alert of {object_id} has been ingested.")
    return redirect(talk_thread_url(alert.candid))


@role_required(VOLUNTEER)
def talk_tag(request, tag: str):
    name = tag.lower()
    if not HASHTAG_NAME.match(name):
        raise Http404("Not a hashtag.")
    comments = list(tagged_comments(name=name, limit=200))
    return render(
        request,
        "frontend/talk/tag.html",
        {"tag": name, "comments": comments, "hashtags": popular_hashtags(limit=30)},
    )


urlpatterns = [
    path("talk/", talk_index, name="talk"),
    path("talk/alert/<int:candid>/", talk_thread, name="talk-thread"),
    path("talk/object/<str:object_id>/", talk_object, name="talk-object"),
    path("talk/tags/<str:tag>/", talk_tag, name="talk-tag"),
]
