"""What a volunteer and a campaign have achieved: counts and agreement, read cheaply enough for every vote.

``volunteer_stats`` is one aggregate over the volunteer's own votes in the campaign (the
``(campaign, volunteer)`` index). ``campaign_progress`` counts the whole campaign, which grows with it, so it is
cached in the process for a second: the page's progress bar and the live counter tolerate a second of lag,
the database does not tolerate a full count per vote at hundreds of votes per second.
"""

from __future__ import annotations

import threading
import time

from django.db.models import Count, F, Q

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
    not_skip = ~Q(answer=SKIP)
    with_consensus = not_skip & Q(subject__n_votes__gte=MIN_VOTES_FOR_CONSENSUS) & ~Q(subject__majority_label="")
    on_gold = not_skip & Q(was_gold=True) & ~Q(subject__gold_answer="")
    row = Vote.objects.filter(campaign=campaign, volunteer=volunteer).aggregate(
        n=Count("id"),
        n_skips=Count("id", filter=Q(answer=SKIP)),
        n_consensus=Count("id", filter=with_consensus),
        agree_consensus=Count("id", filter=with_consensus & Q(answer=F("subject__majority_label"))),
        n_gold=Count("id", filter=on_gold),
        agree_gold=Count("id", filter=on_gold & Q(answer=F("subject__gold_answer"))),
    )
    return {
        "classifications": row["n"],
        "skips": row["n_skips"],
        "consensus": {"compared": row["n_consensus"], "agreed": row["agree_consensus"]},
        "consensus_agreement": _fraction(row["agree_consensus"], row["n_consensus"]),
        "gold": {"compared": row["n_gold"], "agreed": row["agree_gold"]},
        "gold_agreement": _fraction(row["agree_gold"], row["n_gold"]),
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
