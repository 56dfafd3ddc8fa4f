"""The builder's preview count: how many alerts a filter selects, within a time budget, how many of them are
synthetic demo alerts, and how many come from each survey (ZTF, Rubin).

The count is the compiler's (``labeling.filters``); this module only bounds how long a preview may take to give
it, and splits it into survey and demo alerts and by survey.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.db import OperationalError, connection, transaction
from django.db.models import Count, QuerySet

from labeling.filters import DEMO_ALERTS, compile_filter, select_alerts, validate_sample
from labeling.models import Alert
from labeling.models.alerts import SURVEYS

# A live preview must answer while the scientist types. Past this budget the preview shows PostgreSQL's
# estimate, marked as such, instead of making the page wait for an exact count over a huge table.
PREVIEW_BUDGET_MS = 1000


def _planner_estimate(qs: QuerySet) -> int:
    sql, params = qs.order_by().values("id").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


@dataclass(frozen=True)
class PreviewCount:
    """What the builder's preview counts: ``count`` matches (capped at the sample size), ``exact`` False when it
    is PostgreSQL's estimate, ``demo`` of them synthetic demo alerts and ``by_survey`` the matches of each survey,
    every survey named, 0 included (each None when not counted in time)."""

    count: int
    exact: bool
    demo: int | None
    by_survey: dict[str, int] | None = None

    @property
    def survey(self) -> int | None:
        return None if self.demo is None else self.count - self.demo


def _counted_in_budget(count, budget_ms: int):
    """``count()`` (a count, or the per-survey counts) under a statement timeout of ``budget_ms`` on PostgreSQL (None past it); elsewhere exact."""
    if connection.vendor != "postgresql":
        return count()
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(int(budget_ms))])
            return count()
    except OperationalError as exc:
        import psycopg

        if not isinstance(exc.__cause__, psycopg.errors.QueryCanceled):
            raise
        return None


def preview_count(
    spec: Any, *, sample_size: int | None = None, seed: int = 0, budget_ms: int = PREVIEW_BUDGET_MS
) -> PreviewCount:
    """The exact count when PostgreSQL gives it within ``budget_ms``, else its planner's estimate marked as
    such; and how many of the matches (of the sample, with ``sample_size``) are synthetic demo alerts, so a
    scientist sees when a selection is mostly the demo generator's rings and streaks, and how many come from each
    survey. Other databases always count exactly."""
    compiled = compile_filter(spec)
    validate_sample(sample_size, seed)
    qs = Alert.objects.filter(compiled.q)
    n = _counted_in_budget(qs.count, budget_ms)
    if n is None:
        n = _planner_estimate(qs)
        return PreviewCount(count=min(n, sample_size) if sample_size is not None else n, exact=False, demo=None)
    if sample_size is not None:
        n = min(n, sample_size)
        qs = Alert.objects.filter(pk__in=select_alerts(spec, sample_size=sample_size, seed=seed).values("pk"))
    if not n:
        return PreviewCount(count=0, exact=True, demo=0, by_survey={key: 0 for key, _ in SURVEYS})
    # The demo share and the per-survey counts in one GROUP BY: no more time than the demo count alone took.
    split = _counted_in_budget(lambda: _split(qs), budget_ms)
    if split is None:
        return PreviewCount(count=n, exact=True, demo=None)
    demo, by_survey = split
    return PreviewCount(count=n, exact=True, demo=demo, by_survey=by_survey)


def _split(qs: QuerySet) -> tuple[int, dict[str, int]]:
    """(demo alerts among ``qs``, {survey: matches} for every survey, 0 included)."""
    by_survey = {key: 0 for key, _ in SURVEYS}
    demo = 0
    rows = qs.order_by().values("survey").annotate(n=Count("id"), demo=Count("id", filter=DEMO_ALERTS))
    for row in rows:
        by_survey[row["survey"]] = row["n"]
        demo += row["demo"]
    return demo, by_survey
