"""What a volunteer and a campaign have achieved: counts and agreement, read cheaply enough for every vote.

``volunteer_stats`` is one aggregate over the volunteer's own votes in the campaign (the
``(campaign, volunteer)`` index). ``campaign_progress`` counts the whole campaign, which grows with it, so it is
cached in the process for a second: the page's progress bar and the live counter tolerate a second of lag,
the database does not tolerate a full count per vote at hundreds of votes per second.
"""

from __future__ import annotations

import threading
import time

from django.db import connection
from django.db.models import Count, Q

from labeling.models import SKIP, Campaign, Subject, Vote

PROGRESS_TTL_S = 1.0
# Agreement with consensus counts only subjects that at least this many volunteers voted on: with one vote the
# "majority" is the volunteer's own answer and would flatter them.
MIN_VOTES_FOR_CONSENSUS = 2

_cache: dict[int, tuple[float, dict]] = {}
_cache_lock = threading.Lock()


def _fraction(agree: int, total: int) -> float | None:
    return round(agree / total, 4) if total else None


def volunteer_stats(*, campaign: Campaign, volunteer) -> dict:
    """The volunteer's classifications in the campaign, and how often they agree with the consensus
    (majority of the subjects' votes) and with the experts' answer on gold-standard subjects. Skips count as
    classifications but never as agreement or disagreement."""
    # One aggregate in plain SQL: it answers every vote, and building it with the ORM (six filtered counts
    # over a join) cost far more Python than the database spends on it. CASE sums run on SQLite and PostgreSQL.
    sql = f"""
        SELECT COUNT(*),
               SUM(CASE WHEN v.answer = %s THEN 1 ELSE 0 END),
               SUM(CASE WHEN v.answer <> %s AND s.n_votes >= %s AND s.majority_label <> '' THEN 1 ELSE 0 END),
               SUM(CASE WHEN v.answer <> %s AND s.n_votes >= %s AND s.majority_label <> ''
                         AND v.answer = s.majority_label THEN 1 ELSE 0 END),
               SUM(CASE WHEN v.answer <> %s AND v.was_gold = %s AND s.gold_answer <> '' THEN 1 ELSE 0 END),
               SUM(CASE WHEN v.answer <> %s AND v.was_gold = %s AND s.gold_answer <> ''
                         AND v.answer = s.gold_answer THEN 1 ELSE 0 END)
        FROM {Vote._meta.db_table} v JOIN {Subject._meta.db_table} s ON s.id = v.subject_id
        WHERE v.campaign_id = %s AND v.volunteer_id = %s
    """
    k = MIN_VOTES_FOR_CONSENSUS
    params = [SKIP, SKIP, k, SKIP, k, SKIP, True, SKIP, True, campaign.pk, volunteer.pk]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        n, n_skips, n_consensus, agree_consensus, n_gold, agree_gold = (int(x or 0) for x in cursor.fetchone())
    return {
        "classifications": n,
        "skips": n_skips,
        "consensus": {"compared": n_consensus, "agreed": agree_consensus},
        "consensus_agreement": _fraction(agree_consensus, n_consensus),
        "gold": {"compared": n_gold, "agreed": agree_gold},
        "gold_agreement": _fraction(agree_gold, n_gold),
    }


def _count_campaign(campaign_id: int) -> dict:
    subjects = Subject.objects.filter(campaign_id=campaign_id).aggregate(
        n=Count("id"), retired=Count("id", filter=Q(retired=True))
    )
    classifications = Vote.objects.filter(campaign_id=campaign_id).count()
    total = subjects["n"]
    return {
        "subjects": total,
        "retired": subjects["retired"],
        "classifications": classifications,
        "percent_retired": round(100 * subjects["retired"] / total, 1) if total else 0.0,
    }


def campaign_progress(*, campaign_id: int, fresh: bool = False) -> dict:
    """Subjects, retired subjects and classifications of a campaign, at most ``PROGRESS_TTL_S`` old."""
    now = time.monotonic()
    if not fresh:
        with _cache_lock:
            hit = _cache.get(campaign_id)
        if hit is not None and now - hit[0] < PROGRESS_TTL_S:
            return dict(hit[1])
    counts = _count_campaign(campaign_id)
    with _cache_lock:
        _cache[campaign_id] = (now, counts)
    return dict(counts)


def forget_progress(campaign_id: int | None = None) -> None:
    """Drop cached counts (tests, and after bulk changes such as adding subjects)."""
    with _cache_lock:
        if campaign_id is None:
            _cache.clear()
        else:
            _cache.pop(campaign_id, None)
