"""What a volunteer and a campaign have achieved: counts and agreement, read cheaply enough for every vote.

``volunteer_stats`` is one aggregate over the volunteer's own votes in the campaign (the
``(campaign, volunteer)`` index). ``campaign_progress`` counts the whole campaign, which grows with it: the
database does not tolerate a full count per vote at hundreds of votes per second, so a full count is made at most
once a second per process, and every vote this process stores (``note_stored_vote``, after its commit) is added
to it. A volunteer's counter therefore equals the stored count after each of their votes; votes stored by other
web processes join at the next full count, a second later at most.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

from django.db import connection

from labeling.models import SKIP, Campaign, Subject, Vote

PROGRESS_TTL_S = 1.0
# Votes noted per campaign before the tally starts over and the next read counts in full (a process that stores
# votes but never reads the progress, such as a simulation, must not grow without end).
MAX_NOTED_VOTES = 10_000
# Agreement with consensus counts only subjects that at least this many volunteers voted on: with one vote the
# "majority" is the volunteer's own answer and would flatter them.
MIN_VOTES_FOR_CONSENSUS = 2


@dataclass
class _Tally:
    """A full count of a campaign, and the votes this process stored since: vote id -> it retired its subject."""

    at: float = -math.inf  # time.monotonic() of the full count
    counts: dict | None = None  # subjects, retired, classifications
    horizon: int = 0  # the highest vote id the full count saw
    noted: dict[int, bool] = field(default_factory=dict)

    def view(self) -> dict:
        added = [retired for vote_id, retired in self.noted.items() if vote_id > self.horizon]
        subjects = self.counts["subjects"]
        retired = self.counts["retired"] + sum(added)
        return {
            "subjects": subjects,
            "retired": retired,
            "classifications": self.counts["classifications"] + len(added),
            "percent_retired": percent_done(retired, subjects),
        }


_tallies: dict[int, _Tally] = {}
_cache_lock = threading.Lock()


def percent_done(part: int, whole: int) -> float:
    """``part`` of ``whole`` in percent to one decimal, rounded down: 100 only when every subject is done
    (139 of 140 reads 99.2, never a rounded-up 100 while one is left)."""
    return math.floor(1000 * part / whole) / 10 if whole else 0.0


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


def _count_campaign(campaign_id: int) -> tuple[dict, int]:
    """(subjects, retired, classifications), and the highest vote id counted, from one statement: one snapshot,
    so a vote is either in all of them or in none."""
    subject, vote = Subject._meta.db_table, Vote._meta.db_table
    sql = f"""
        SELECT (SELECT COUNT(*) FROM {subject} WHERE campaign_id = %s),
               (SELECT COUNT(*) FROM {subject} WHERE campaign_id = %s AND retired = %s),
               (SELECT COUNT(*) FROM {vote} WHERE campaign_id = %s),
               (SELECT COALESCE(MAX(id), 0) FROM {vote} WHERE campaign_id = %s)
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [campaign_id, campaign_id, True, campaign_id, campaign_id])
        subjects, retired, classifications, horizon = (int(x) for x in cursor.fetchone())
    return {"subjects": subjects, "retired": retired, "classifications": classifications}, horizon


def campaign_progress(*, campaign_id: int, fresh: bool = False) -> dict:
    """Subjects, retired subjects, classifications and the percentage retired of a campaign: a full count at
    most ``PROGRESS_TTL_S`` old (``fresh``: counted now) plus the votes this process stored since."""
    now = time.monotonic()
    with _cache_lock:
        tally = _tallies.get(campaign_id)
        if not fresh and tally is not None and tally.counts is not None and now - tally.at < PROGRESS_TTL_S:
            return tally.view()
    counts, horizon = _count_campaign(campaign_id)
    with _cache_lock:
        tally = _tallies.setdefault(campaign_id, _Tally())
        # Two threads may count at once: the count that saw fewer votes must not replace the one that saw more.
        if tally.counts is None or horizon >= tally.horizon:
            tally.at, tally.counts, tally.horizon = now, counts, horizon
            tally.noted = {v: retired for v, retired in tally.noted.items() if v > horizon}
        return tally.view()


def note_stored_vote(*, campaign_id: int, vote_id: int, retired: bool) -> None:
    """Count a vote this process has just stored (call it once the vote's transaction has committed): the next
    progress read includes it without a full count. ``retired``: the vote retired its subject.

    A vote whose id is at most the last full count's highest is already in that count; one that committed after
    that count with a lower id than a vote it saw (PostgreSQL hands out ids before commits) joins at the next."""
    with _cache_lock:
        tally = _tallies.setdefault(campaign_id, _Tally())
        if len(tally.noted) >= MAX_NOTED_VOTES:
            _tallies[campaign_id] = tally = _Tally()  # counted in full at the next read
        if vote_id > tally.horizon:
            tally.noted[vote_id] = retired


def forget_progress(campaign_id: int | None = None) -> None:
    """Drop cached counts (tests, and after bulk changes such as adding subjects)."""
    with _cache_lock:
        if campaign_id is None:
            _tallies.clear()
        else:
            _tallies.pop(campaign_id, None)
