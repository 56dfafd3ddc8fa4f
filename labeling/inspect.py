"""Selectors for the scientist's view of a campaign: the inspect table, a subject's votes, the dashboard.

Everything here reads what votes and the consensus task already stored (counters, majority and weighted labels
on each subject), so the pages never recompute consensus. Vote counts per answer are grouped for one page of
subjects at a time, never for the whole campaign. The model's score column is the classifiers' to fill
(``classifiers.inspect`` passes it in): this floor knows no model.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Avg, Count, Expression, F, FloatField, Q, QuerySet, Value
from django.db.models.functions import TruncDate
from django.utils import timezone

from core.errors import ServiceError
from core.urls import cutout_url
from labeling.consensus import ratio
from labeling.models import SKIP, Campaign, Subject, Vote
from labeling.progress import percent_done

SORTS = {
    "candid": "alert__candid",
    "-candid": "-alert__candid",
    "votes": "n_votes",
    "-votes": "-n_votes",
    "classifications": "n_classifications",
    "-classifications": "-n_classifications",
    "agreement": "majority_fraction",
    "-agreement": "-majority_fraction",
    "posterior": "weighted_posterior",
    "-posterior": "-weighted_posterior",
    "score": "model_score",
    "-score": "-model_score",
    "retired": "retired_at",
    "-retired": "-retired_at",
    "priority": "priority",
    "-priority": "-priority",
}
MAX_PAGE = 200
# What a row of the inspect table reads of a subject and its alert.
INSPECT_FIELDS = ("id", "campaign_id", "alert_id", "gold_answer", "n_classifications", "n_votes", "retired",
                  "retired_at", "retired_reason", "majority_label", "majority_fraction", "weighted_label",
                  "weighted_posterior", "priority", "alert__candid", "alert__object_id", "alert__magpsf",
                  "alert__fid", "alert__rb", "alert__drb", "alert__night")  # fmt: skip


class InspectError(ServiceError):
    """An inspect query parameter that cannot be used; ``field`` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(message, field=field)


def _bool(field: str, value: Any) -> bool | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise InspectError(field, "expected true or false")


def inspect_subjects(
    *,
    campaign: Campaign,
    retired: Any = None,
    gold: Any = None,
    label: str = "",
    method: str = "majority",
    disagree: Any = None,
    min_votes: Any = None,
    search: str = "",
    sort: str = "-votes",
    model_score: Expression | None = None,
) -> QuerySet[Subject]:
    """The campaign's subjects with the alert, filtered and sorted. ``model_score`` is an expression of each
    subject's model score (over its ``alert_id``); without one the score column is empty."""
    if method not in ("majority", "dawid_skene"):
        raise InspectError("method", "majority or dawid_skene")
    if sort not in SORTS:
        raise InspectError("sort", f"one of {', '.join(SORTS)}")
    qs = (
        Subject.objects.filter(campaign=campaign)
        .select_related("alert")
        .only(*INSPECT_FIELDS)
        .annotate(model_score=model_score if model_score is not None else Value(None, output_field=FloatField()))
    )
    if (value := _bool("retired", retired)) is not None:
        qs = qs.filter(retired=value)
    if (value := _bool("gold", gold)) is not None:
        qs = qs.exclude(gold_answer="") if value else qs.filter(gold_answer="")
    if label:
        if label not in campaign.answer_keys:
            raise InspectError("label", f"one of {', '.join(campaign.answer_keys)}")
        qs = qs.filter(**{"majority_label" if method == "majority" else "weighted_label": label})
    if _bool("disagree", disagree):
        qs = qs.exclude(majority_label="").exclude(weighted_label="").exclude(majority_label=F("weighted_label"))
    if min_votes not in (None, ""):
        try:
            n = int(min_votes)
        except (TypeError, ValueError):
            raise InspectError("min_votes", "a whole number") from None
        qs = qs.filter(n_votes__gte=n)
    if search:
        text = str(search).strip()[:40]
        condition = Q(alert__object_id__icontains=text)
        if text.isdigit():
            condition |= Q(alert__candid=int(text))
        qs = qs.filter(condition)
    order = SORTS[sort]
    field = order.lstrip("-")
    expression = F(field).desc(nulls_last=True) if order.startswith("-") else F(field).asc(nulls_last=True)
    return qs.order_by(expression, "alert__candid")


def answer_counts(subject_ids: list[int]) -> dict[int, dict[str, int]]:
    """Votes per answer (skips included) for these subjects: one grouped query."""
    counts: dict[int, dict[str, int]] = {pk: {} for pk in subject_ids}
    rows = Vote.objects.filter(subject_id__in=subject_ids).values_list("subject_id", "answer").annotate(n=Count("id"))
    for subject_id, answer, n in rows:
        counts[subject_id][answer] = n
    return counts


def subject_row(subject: Subject, counts: dict[str, int], campaign: Campaign) -> dict[str, Any]:
    alert = subject.alert
    return {
        "id": subject.pk,
        "candid": alert.candid,
        "object_id": alert.object_id,
        "magpsf": alert.magpsf,
        "filter": alert.filter_name,
        "night": alert.night.isoformat() if alert.night else None,
        "stamp_url": cutout_url(alert.candid, "difference"),
        "counts": {key: counts.get(key, 0) for key in [*campaign.answer_keys, SKIP]},
        "n_votes": subject.n_votes,
        "n_classifications": subject.n_classifications,
        "majority_label": subject.majority_label,
        "majority_fraction": subject.majority_fraction,
        "weighted_label": subject.weighted_label,
        "weighted_posterior": subject.weighted_posterior,
        "model_score": subject.model_score,
        "gold_answer": subject.gold_answer,
        "retired": subject.retired,
        "retired_reason": subject.retired_reason,
    }


def subject_rows(subjects: list[Subject], campaign: Campaign) -> list[dict[str, Any]]:
    counts = answer_counts([s.pk for s in subjects])
    return [subject_row(s, counts[s.pk], campaign) for s in subjects]


def subject_votes(*, subject: Subject) -> list[dict[str, Any]]:
    """Every vote on a subject (scientists managing the campaign only: the caller checks)."""
    votes = subject.votes.select_related("volunteer").order_by("created_at", "id")
    return [
        {
            "id": v.pk,
            "volunteer": v.volunteer.username,
            "volunteer_id": v.volunteer_id,
            "answer": v.answer,
            "answer_label": subject.campaign.class_label(v.answer),
            "created_at": v.created_at,
            "duration_ms": v.duration_ms,
        }
        for v in votes
    ]


@dataclass(frozen=True)
class LeaderboardRow:
    username: str
    classifications: int
    votes: int
    gold_compared: int
    gold_agreed: int
    consensus_compared: int
    consensus_agreed: int

    @property
    def gold_accuracy(self) -> float | None:
        return ratio(self.gold_agreed, self.gold_compared)

    @property
    def consensus_agreement(self) -> float | None:
        return ratio(self.consensus_agreed, self.consensus_compared)


def leaderboard(*, campaign: Campaign, limit: int = 10) -> list[LeaderboardRow]:
    not_skip = ~Q(answer=SKIP)
    on_gold = not_skip & ~Q(subject__gold_answer="")
    with_consensus = not_skip & Q(subject__n_votes__gte=2) & ~Q(subject__majority_label="")
    rows = (
        Vote.objects.filter(campaign=campaign)
        .values("volunteer__username")
        .annotate(
            n=Count("id"),
            votes=Count("id", filter=not_skip),
            gold_n=Count("id", filter=on_gold),
            gold_ok=Count("id", filter=on_gold & Q(answer=F("subject__gold_answer"))),
            cons_n=Count("id", filter=with_consensus),
            cons_ok=Count("id", filter=with_consensus & Q(answer=F("subject__majority_label"))),
        )
        .order_by("-n", "volunteer__username")[:limit]
    )
    return [
        LeaderboardRow(
            r["volunteer__username"], r["n"], r["votes"], r["gold_n"], r["gold_ok"], r["cons_n"], r["cons_ok"]
        )
        for r in rows
    ]


def dashboard(*, campaign: Campaign, days: int = 30) -> dict[str, Any]:
    """Progress, classifications per day, active volunteers, agreement and a leaderboard."""
    subjects = Subject.objects.filter(campaign=campaign).aggregate(
        n=Count("id"),
        retired=Count("id", filter=Q(retired=True)),
        voted=Count("id", filter=Q(n_classifications__gt=0)),
        gold=Count("id", filter=~Q(gold_answer="")),
        multi=Count("id", filter=Q(n_votes__gte=2)),
        weighted=Count("id", filter=~Q(weighted_label="")),
        methods_agree=Count("id", filter=~Q(weighted_label="") & Q(majority_label=F("weighted_label"))),
    )
    agreement = Subject.objects.filter(campaign=campaign, n_votes__gte=2).aggregate(mean=Avg("majority_fraction"))
    votes = Vote.objects.filter(campaign=campaign)
    totals = votes.aggregate(
        n=Count("id"), skips=Count("id", filter=Q(answer=SKIP)), people=Count("volunteer", distinct=True)
    )
    since = timezone.now() - dt.timedelta(days=7)
    active_7d = votes.filter(created_at__gte=since).values("volunteer").distinct().count()
    start = timezone.now() - dt.timedelta(days=days)
    per_day = list(
        votes.filter(created_at__gte=start)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("id"), people=Count("volunteer", distinct=True))
        .order_by("day")
    )
    answers = dict(votes.values_list("answer").annotate(n=Count("id")).values_list("answer", "n"))
    n = subjects["n"]
    return {
        "subjects": n,
        "retired": subjects["retired"],
        "voted": subjects["voted"],
        "gold": subjects["gold"],
        "percent_retired": percent_done(subjects["retired"], n),
        "classifications": totals["n"],
        "skips": totals["skips"],
        "volunteers": totals["people"],
        "active_volunteers_7d": active_7d,
        "mean_agreement": round(agreement["mean"], 4) if agreement["mean"] is not None else None,
        "subjects_with_2_votes": subjects["multi"],
        "weighted_labelled": subjects["weighted"],
        "methods_agree": subjects["methods_agree"],
        "answers": {key: answers.get(key, 0) for key in [*campaign.answer_keys, SKIP]},
        "per_day": [
            {"day": r["day"].isoformat(), "classifications": r["n"], "volunteers": r["people"]} for r in per_day
        ],
        "leaderboard": [
            {
                "username": r.username,
                "classifications": r.classifications,
                "votes": r.votes,
                "gold_accuracy": r.gold_accuracy,
                "gold_compared": r.gold_compared,
                "consensus_agreement": r.consensus_agreement,
            }
            for r in leaderboard(campaign=campaign)
        ],
    }
