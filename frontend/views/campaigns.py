"""Scientists' pages: my campaigns, the campaign builder, inspect, a subject's votes, the dashboard.

The builder is a page whose static JS (``js/campaign_builder/``) talks to the campaign API, so the page, the API
and scripts share one path for every write. Inspect, the subject page and the dashboard are rendered here from
the selectors of ``labeling.inspect`` (the model's score column from ``classifiers.inspect``); they read stored
consensus and never recompute it.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.views.decorators.http import require_http_methods, require_POST

from classifiers.exports import KINDS
from classifiers.inspect import inspect_subjects
from core.roles import SCIENTIST, role_required
from core.urls import campaign_api_urls
from frontend.plots.dashboard import classifications_per_day_plot
from labeling.campaigns.permissions import can_create_campaign, can_manage
from labeling.campaigns.selectors import inspect_filters, managed_campaigns, selection_summary, with_progress
from labeling.campaigns.services import subject_set_gold
from labeling.campaigns.validation import CampaignError
from labeling.cards import stamp_urls
from labeling.filters import FIELD_ORDER
from labeling.filters_rubin import pixel_flag_fields
from labeling.inspect import (
    SORTS,
    InspectError,
    dashboard,
    subject_rows,
    subject_votes,
)
from labeling.models import REAL_BOGUS_CLASSES, SKIP, STREAK_CLASSES, Campaign, Subject
from labeling.models.alerts import SURVEYS

PAGE_SIZE = 50
EXPORT_LABELS = {
    "zooniverse": "Classifications (Zooniverse CSV)",
    "workflow": "Workflow (Zooniverse CSV)",
    "consensus-csv": "Consensus labels (CSV)",
    "consensus-json": "Consensus labels (JSON)",
    "npz": "Training set (.npz)",
}


def _managed(request, slug: str) -> Campaign:
    campaign = get_object_or_404(Campaign, slug=slug)
    if not can_manage(request.user, campaign):
        raise PermissionDenied("Only the campaign's owner, its collaborators and admins may open this page.")
    return campaign


@role_required(SCIENTIST)
def manage(request):
    campaigns = list(with_progress(managed_campaigns(request.user)))
    for c in campaigns:
        c.summary = selection_summary(c)
        c.progress_pct = round(100 * c.n_retired / c.n_subjects) if c.n_subjects else 0
    return render(request, "frontend/campaigns/manage.html", {"campaigns": campaigns})


def _builder_context(campaign: Campaign | None) -> dict:
    return {
        "campaign": campaign,
        "builder_data": {
            "slug": campaign.slug if campaign else None,
            # The endpoints the builder's script calls (it builds no URL itself).
            "urls": {
                "campaigns": reverse("api-campaigns"),
                "preview": reverse("api-campaign-preview"),
                **(campaign_api_urls(campaign.slug) if campaign else {}),
            },
            "defaults": {"real_bogus": REAL_BOGUS_CLASSES, "streak": STREAK_CLASSES},
            "fields": list(FIELD_ORDER),
        },
        "question_types": Campaign.QuestionType.choices,
        "access_choices": Campaign.Access.choices,
        "surveys": SURVEYS,
        # Rubin's pixel flags as the shipped schemas name them (a new schema version's flags get their boxes),
        # each shown without the prefix the fieldset's title already says.
        "pixel_flags": [(flag, flag.removeprefix("pixelFlags_")) for flag in pixel_flag_fields()],
    }


@role_required(SCIENTIST)
def builder_new(request):
    if not can_create_campaign(request.user):
        raise PermissionDenied("Only scientists and admins create campaigns.")
    return render(request, "frontend/campaigns/builder.html", _builder_context(None))


@role_required(SCIENTIST)
def builder_edit(request, slug: str):
    return render(request, "frontend/campaigns/builder.html", _builder_context(_managed(request, slug)))


def _query(request, **changes) -> str:
    params = {k: v for k, v in request.GET.items() if v}
    params.update({k: v for k, v in changes.items() if v is not None})
    return "?" + urlencode({k: v for k, v in params.items() if v != ""})


@role_required(SCIENTIST)
def inspect(request, slug: str):
    campaign = _managed(request, slug)
    p = request.GET
    error = ""
    try:
        qs = inspect_subjects(campaign=campaign, **inspect_filters(p))
    except InspectError as exc:
        error = f"{exc.field}: {exc.message}"
        qs = inspect_subjects(campaign=campaign)
    page = Paginator(qs, PAGE_SIZE).get_page(p.get("page"))
    rows = subject_rows(list(page.object_list), campaign)
    sort = p.get("sort", "-votes")
    columns = []
    for key, label in (
        ("candid", "Alert"),
        ("votes", "Votes"),
        ("agreement", "Majority"),
        ("posterior", "Weighted"),
        ("score", "Model score"),
        ("retired", "Retired"),
    ):
        # A click on the sorted column flips it; on another column sorts it descending first.
        target = key if sort == f"-{key}" else f"-{key}"
        columns.append(
            {
                "label": label,
                "url": _query(request, sort=target, page=""),
                "active": sort.lstrip("-") == key,
                "desc": sort.startswith("-"),
            }
        )
    return render(
        request,
        "frontend/campaigns/inspect.html",
        {
            "campaign": campaign,
            "rows": rows,
            "page": page,
            "columns": columns,
            "answer_keys": [*campaign.answer_keys, SKIP],
            "classes": campaign.classes,
            "params": p,
            "error": error,
            "prev_url": _query(request, page=page.previous_page_number()) if page.has_previous() else "",
            "next_url": _query(request, page=page.next_page_number()) if page.has_next() else "",
            "sorts": SORTS,
            "exports": [(k, EXPORT_LABELS[k]) for k in KINDS],
        },
    )


@role_required(SCIENTIST)
def subject_page(request, slug: str, pk: int):
    campaign = _managed(request, slug)
    subject = get_object_or_404(inspect_subjects(campaign=campaign), pk=pk)
    return render(
        request,
        "frontend/campaigns/subject.html",
        {
            "campaign": campaign,
            "subject": subject,
            "row": subject_rows([subject], campaign)[0],
            "votes": subject_votes(subject=subject),
            "answer_keys": [*campaign.answer_keys, SKIP],
            "stamps": list(stamp_urls(subject.alert.candid).items()),
        },
    )


@role_required(SCIENTIST)
@require_POST
def subject_gold(request, slug: str, pk: int):
    campaign = _managed(request, slug)
    subject = get_object_or_404(Subject, campaign=campaign, pk=pk)
    try:
        subject_set_gold(
            actor=request.user,
            subject=subject,
            answer=request.POST.get("answer", ""),
            note=request.POST.get("note", ""),
        )
    except CampaignError as exc:
        messages.error(request, f"Gold answer not saved: {exc.message}")
    else:
        messages.success(request, "Gold answer saved." if subject.gold_answer else "Gold answer removed.")
    return redirect("campaigns-subject", slug=campaign.slug, pk=subject.pk)


@role_required(SCIENTIST)
@require_http_methods(["GET"])
def dashboard_page(request, slug: str):
    campaign = _managed(request, slug)
    stats = dashboard(campaign=campaign)
    answers = [
        {
            "key": key,
            "label": campaign.class_label(key),
            "n": n,
            "pct": round(100 * n / stats["classifications"]) if stats["classifications"] else 0,
        }
        for key, n in stats["answers"].items()
    ]
    return render(
        request,
        "frontend/campaigns/dashboard.html",
        {
            "campaign": campaign,
            "stats": stats,
            "answers": answers,
            "plot": classifications_per_day_plot(stats),
            "summary": selection_summary(campaign),
            "exports": [(k, EXPORT_LABELS[k]) for k in KINDS],
        },
    )


urlpatterns = [
    path("campaigns/manage/", manage, name="campaigns-manage"),
    path("campaigns/manage/new/", builder_new, name="campaigns-new"),
    path("campaigns/manage/<slug:slug>/edit/", builder_edit, name="campaigns-edit"),
    path("campaigns/manage/<slug:slug>/inspect/", inspect, name="campaigns-inspect"),
    path("campaigns/manage/<slug:slug>/subjects/<int:pk>/", subject_page, name="campaigns-subject"),
    path("campaigns/manage/<slug:slug>/subjects/<int:pk>/gold/", subject_gold, name="campaigns-subject-gold"),
    path("campaigns/manage/<slug:slug>/dashboard/", dashboard_page, name="campaigns-dashboard"),
]
