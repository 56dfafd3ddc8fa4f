"""Reads of campaigns for the API and the pages: which campaigns a user sees, their progress, their filter in
words, the builder's preview of a filter, and the inspect table's filters as a query string gives them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet

from core.roles import ADMIN, SCIENTIST, has_role
from labeling.campaigns.preview import PreviewCount, preview_count
from labeling.filters import CompiledFilter, FilterError, compile_filter, select_alerts
from labeling.models import Alert, Campaign


def managed_campaigns(user) -> QuerySet[Campaign]:
    """Campaigns a user may edit (all of them for admins)."""
    qs = Campaign.objects.all()
    if has_role(user, ADMIN):
        return qs
    if not has_role(user, SCIENTIST):
        return qs.none()
    return qs.filter(Q(owner=user) | Q(collaborators=user)).distinct()


def visible_campaigns(user) -> QuerySet[Campaign]:
    """Campaigns a user may read: those they manage plus non-draft ones open to them."""
    if has_role(user, ADMIN):
        return Campaign.objects.all()
    opened = Q(access=Campaign.Access.EVERYONE) | Q(volunteers=user)
    mine = Q(owner=user) | Q(collaborators=user) if has_role(user, SCIENTIST) else Q(pk__in=[])
    return Campaign.objects.filter(mine | (~Q(state=Campaign.State.DRAFT) & opened)).distinct()


def with_progress(campaigns: QuerySet[Campaign]) -> QuerySet[Campaign]:
    """Newest first, each with ``n_subjects`` and ``n_retired`` counted in the same query."""
    return (
        campaigns.select_related("owner")
        .annotate(
            n_subjects=Count("subjects", distinct=True),
            n_retired=Count("subjects", filter=Q(subjects__retired=True), distinct=True),
        )
        .order_by("-created_at")
    )


def selection_summary(campaign: Campaign) -> str:
    """The campaign's filter in one line of words; a stored filter the compiler now refuses says so."""
    try:
        return compile_filter(campaign.selection).summary
    except FilterError:
        return "invalid filter"


@dataclass(frozen=True)
class FilterPreview:
    """What the builder shows before anything is saved: the compiled filter, its count (``PreviewCount``: exact
    or PostgreSQL's estimate on huge tables, with how many matches are demo alerts) and the first matches."""

    compiled: CompiledFilter
    counted: PreviewCount
    alerts: list[Alert]


def filter_preview(spec: Any, *, sample_size: int | None, seed: int, n: int) -> FilterPreview:
    """A filter's preview with up to ``n`` of the alerts it selects."""
    compiled = compile_filter(spec)
    counted = preview_count(spec, sample_size=sample_size, seed=seed)
    n = min(n, counted.count)
    if not n:
        return FilterPreview(compiled, counted, [])
    if sample_size is not None:
        # The grid shows members of the sample itself: the first n of it in its seeded order.
        return FilterPreview(compiled, counted, list(select_alerts(spec, sample_size=n, seed=seed)))
    newest = Alert.objects.filter(compiled.q).only(
        "candid", "object_id", "magpsf", "fid", "night", "demo_truth", "survey"
    )
    return FilterPreview(compiled, counted, list(newest.order_by("-jd", "-candid")[:n]))


# The inspect table's query string: each parameter with its default when absent.
INSPECT_QUERY = {
    "retired": None,
    "gold": None,
    "label": "",
    "method": "majority",
    "disagree": None,
    "min_votes": None,
    "q": "",
    "sort": "-votes",
}


def inspect_filters(params: Mapping[str, str]) -> dict[str, Any]:
    """The inspect table's filters and sort read from a query string (the page's, the API's), as the keyword
    arguments of ``inspect_subjects``."""
    filters = {name: params.get(name, default) for name, default in INSPECT_QUERY.items()}
    filters["search"] = filters.pop("q")
    return filters
