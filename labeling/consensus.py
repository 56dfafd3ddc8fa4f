"""Consensus labels: majority vote and a volunteer-skill-weighted consensus (Dawid-Skene).

The majority label and its agreement fraction are kept on each subject by ``labeling.votes.vote_record``, in
the transaction of every vote, with ``majority`` below (votes call this module; it never imports votes). The
weighted consensus models each volunteer's confusion matrix with crowd-kit's ``DawidSkene`` (Dawid & Skene
1979) over every non-skip vote of the campaign, so a volunteer who agrees with the crowd where it is clear gets
more weight where it is not. It is refitted in a background task (django-tasks), debounced per campaign: when a
subject retires, and every ``CONSENSUS_EVERY_N_VOTES`` votes; ``manage.py recompute_consensus`` runs it by hand.
The inspect page only reads the stored result. A retirement also sends ``labeling.signals.labels_changed``.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import warnings
from collections import Counter
from dataclasses import dataclass

import pandas as pd
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django_tasks import task

from core.db_retry import retry_when_locked
from core.roles import ADMIN, MLLEAD, SCIENTIST, has_role
from labeling.models import SKIP, Campaign, Subject, Vote
from labeling.signals import labels_changed

log = logging.getLogger(__name__)

# A vote-count trigger between retirements, so long-running campaigns with strict retirement rules still get
# fresh weighted labels. The vote's primary key stands in for a per-campaign counter: it costs no query.
CONSENSUS_EVERY_N_VOTES = 50
# Votes arriving within this window are folded into one recomputation.
DEBOUNCE = dt.timedelta(seconds=5)
DS_ITERATIONS = 100
WRITE_BATCH = 2000


@dataclass(frozen=True)
class ConsensusReport:
    campaign_id: int
    n_votes: int
    n_subjects: int
    n_volunteers: int
    n_changed: int


def majority(answers: list[str], weights: list[float] | None = None) -> tuple[str, float | None]:
    """Majority label among non-skip answers (each counting its weight, 1 when none is given) and its weighted
    agreement fraction; ties resolve alphabetically so the result does not depend on vote order."""
    counts: Counter = Counter()
    for answer, weight in zip(answers, weights or [1.0] * len(answers), strict=True):
        if answer != SKIP:
            counts[answer] += weight
    if not counts:
        return "", None
    best = max(counts.values())
    label = sorted(a for a, c in counts.items() if math.isclose(c, best))[0]
    return label, counts[label] / sum(counts.values())


# ----------------------------------------------------------------------------------------- a volunteer's record

# An account without a record counts for half a vote: five fresh accounts weigh two and a half, short of the
# default five needed to retire a subject, so accounts made in a minute cannot settle a label by themselves.
NEWCOMER_WEIGHT = 0.5
# A record in a campaign: enough gold-standard answers mostly right, or enough votes that agreed with the
# settled (retired) consensus of others.
RECORD_MIN_GOLD = 3
RECORD_GOLD_ACCURACY = 0.6
RECORD_MIN_AGREED = 10


def has_record(*, campaign: Campaign, volunteer) -> bool:
    """Whether ``volunteer``'s votes in ``campaign`` count in full: a scientist, ML lead or admin; the campaign's
    owner, a collaborator or a volunteer it lists (people its scientist chose); or someone whose answers have
    been checked here, on gold-standard subjects or against subjects that retired."""
    if has_role(volunteer, SCIENTIST, MLLEAD, ADMIN) or campaign.owner_id == volunteer.pk:
        return True
    if campaign.collaborators.filter(pk=volunteer.pk).exists() or campaign.volunteers.filter(pk=volunteer.pk).exists():
        return True
    mine = Vote.objects.filter(campaign=campaign, volunteer=volunteer).exclude(answer=SKIP)
    checked = mine.aggregate(
        gold=Count("id", filter=~Q(subject__gold_answer="")),
        gold_right=Count("id", filter=Q(answer=F("subject__gold_answer"))),
        agreed=Count("id", filter=Q(subject__retired=True, answer=F("subject__majority_label"))),
    )
    if checked["gold"] >= RECORD_MIN_GOLD and checked["gold_right"] >= RECORD_GOLD_ACCURACY * checked["gold"]:
        return True
    return checked["agreed"] >= RECORD_MIN_AGREED


# A record, once there, stays (cached long); a newcomer is asked again soon, so a weight catches up within a minute.
RECORD_CACHE_SECONDS = 3600
NO_RECORD_CACHE_SECONDS = 60


def _record_key(campaign: Campaign, volunteer) -> str:
    # The creation times keep a key from outliving its rows: ids come round again in a restored or test database.
    born = (getattr(campaign, "created_at", None), getattr(volunteer, "date_joined", None))
    stamp = ":".join(f"{t.timestamp():.6f}" if t else "-" for t in born)
    return f"consensus:record:{campaign.pk}:{volunteer.pk}:{stamp}"


def forget_record(*, campaign: Campaign, volunteer) -> None:
    """Drop the cached verdict, so the next vote asks ``has_record`` again."""
    cache.delete(_record_key(campaign, volunteer))


def vote_weight(*, campaign: Campaign, volunteer) -> float:
    """How much a vote ``volunteer`` casts now in ``campaign`` counts towards majority and retirement."""
    key = _record_key(campaign, volunteer)
    # The cache only spares a query: with Redis down a vote must still be stored (bench/faults.py redis_stop).
    try:
        known = cache.get(key)
    except Exception as exc:  # noqa: BLE001 - any cache failure: ask the database instead
        log.warning("vote weight cache unreachable: %s", exc or type(exc).__name__)
        return 1.0 if has_record(campaign=campaign, volunteer=volunteer) else NEWCOMER_WEIGHT
    if known is None:
        known = has_record(campaign=campaign, volunteer=volunteer)
        try:
            cache.set(key, known, RECORD_CACHE_SECONDS if known else NO_RECORD_CACHE_SECONDS)
        except Exception as exc:  # noqa: BLE001 - not cached this time
            log.warning("vote weight not cached: %s", exc or type(exc).__name__)
    return 1.0 if known else NEWCOMER_WEIGHT


def _vote_frame(campaign_id: int) -> pd.DataFrame:
    rows = (
        Vote.objects.filter(campaign_id=campaign_id)
        .exclude(answer=SKIP)
        .values_list("subject_id", "volunteer_id", "answer", "weight")
        .iterator(chunk_size=10_000)
    )
    return pd.DataFrame.from_records(list(rows), columns=["task", "worker", "label", "weight"])


def dawid_skene(votes: pd.DataFrame, *, n_iter: int = DS_ITERATIONS) -> pd.DataFrame:
    """Dawid-Skene over a (task, worker, label) frame: one row per task with ``label`` and ``posterior``
    (the posterior probability of that label)."""
    from crowdkit.aggregation import DawidSkene

    if votes.empty:
        return pd.DataFrame(columns=["label", "posterior"])
    votes = votes[["task", "worker", "label"]]
    with warnings.catch_warnings():
        # crowd-kit 1.4.2 works with pandas 3 but still passes inplace=/copy=, which pandas 3.1 deprecates.
        warnings.filterwarnings("ignore", message=r".*(inplace|copy) keyword.*", module=r"crowdkit\..*")
        model = DawidSkene(n_iter=n_iter, tol=1e-6).fit(votes)
    probas = model.probas_
    labels = probas.idxmax(axis=1)
    return pd.DataFrame({"label": labels.astype(str), "posterior": probas.max(axis=1).astype(float)})


def majority_frame(votes: pd.DataFrame) -> pd.DataFrame:
    """Majority per task (ties resolved as ``majority`` does, weighted by a ``weight`` column when there is one)
    with its agreement fraction."""
    out = {}
    for task_id, rows in votes.groupby("task"):
        weights = list(rows["weight"]) if "weight" in rows else None
        out[task_id] = majority(list(rows["label"]), weights)
    return pd.DataFrame.from_dict(out, orient="index", columns=["label", "fraction"])


def recompute_consensus(campaign: Campaign | int) -> ConsensusReport:
    """Refit the weighted consensus of one campaign and store it on its subjects; also re-derives the majority
    from the votes (it is normally maintained per vote, this repairs it after an import or a restore)."""
    campaign_id = campaign.pk if isinstance(campaign, Campaign) else int(campaign)
    votes = _vote_frame(campaign_id)
    weighted = dawid_skene(votes)
    majorities = majority_frame(votes) if not votes.empty else pd.DataFrame(columns=["label", "fraction"])
    changed = 0
    with transaction.atomic():
        batch: list[Subject] = []
        subjects = Subject.objects.filter(campaign_id=campaign_id).only(
            "id", "weighted_label", "weighted_posterior", "majority_label", "majority_fraction"
        )
        for subject in subjects.iterator(chunk_size=WRITE_BATCH):
            if subject.pk in weighted.index:
                label = weighted.at[subject.pk, "label"]
                posterior = round(float(weighted.at[subject.pk, "posterior"]), 6)
                m_label, m_fraction = majorities.at[subject.pk, "label"], majorities.at[subject.pk, "fraction"]
            else:
                label, posterior, m_label, m_fraction = "", None, "", None
            new = (label, posterior, m_label, m_fraction)
            old = (
                subject.weighted_label,
                subject.weighted_posterior,
                subject.majority_label,
                subject.majority_fraction,
            )
            if new != old:
                (
                    subject.weighted_label,
                    subject.weighted_posterior,
                    subject.majority_label,
                    subject.majority_fraction,
                ) = new
                batch.append(subject)
                changed += 1
            if len(batch) >= WRITE_BATCH:
                Subject.objects.bulk_update(
                    batch, ["weighted_label", "weighted_posterior", "majority_label", "majority_fraction"]
                )
                batch = []
        if batch:
            Subject.objects.bulk_update(
                batch, ["weighted_label", "weighted_posterior", "majority_label", "majority_fraction"]
            )
    return ConsensusReport(
        campaign_id=campaign_id,
        n_votes=len(votes),
        n_subjects=int(votes["task"].nunique()) if not votes.empty else 0,
        n_volunteers=int(votes["worker"].nunique()) if not votes.empty else 0,
        n_changed=changed,
    )


@task()
@retry_when_locked()
def recompute_consensus_task(campaign_id: int) -> dict:
    # A recomputation that met a locked database runs again: it rewrites the same result from the votes.
    report = recompute_consensus(campaign_id)
    return {
        "campaign_id": report.campaign_id,
        "n_votes": report.n_votes,
        "n_subjects": report.n_subjects,
        "n_changed": report.n_changed,
    }


def _pending(campaign_id: int) -> bool:
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.filter(
        status="READY",
        task_path=recompute_consensus_task.module_path,
        args_kwargs__kwargs__campaign_id=campaign_id,
    ).exists()


def request_consensus(campaign_id: int) -> bool:
    """Enqueue a recomputation for this campaign unless one is already waiting. True when one was enqueued.
    Never raises: a vote must not fail because the task queue is unavailable."""
    try:
        if _pending(campaign_id):
            return False
        recompute_consensus_task.using(run_after=timezone.now() + DEBOUNCE).enqueue(campaign_id=campaign_id)
        return True
    except Exception:  # noqa: BLE001 - the vote is stored; consensus catches up on the next trigger
        log.exception("could not enqueue the consensus recomputation of campaign %s", campaign_id)
        return False


def on_subject_retired(*, campaign: Campaign, subject: Subject) -> None:
    """Called by ``labeling.votes`` once the transaction in which ``subject`` retired has committed: the retired
    subject is a new consensus label, so the floors above hear of it (``labels_changed``: the active-learning
    loop counts it towards an automatic retraining) and the weighted consensus is refitted."""
    # A vote must not fail because a listener did: errors are logged, not raised.
    for receiver, error in labels_changed.send_robust(sender=Subject, campaign=campaign, subject=subject):
        if isinstance(error, Exception):
            log.error("%s failed on the new label of subject %s", receiver, subject.pk, exc_info=error)
    request_consensus(campaign.pk)


def on_vote_recorded(*, campaign_id: int, vote_id: int) -> None:
    """Called by ``labeling.votes`` after each stored vote: every N-th vote asks for a recomputation."""
    if vote_id % CONSENSUS_EVERY_N_VOTES == 0:
        request_consensus(campaign_id)


# --------------------------------------------------------------------------------------------- volunteer skill


def ratio(part: int, whole: int) -> float | None:
    """``part / whole``, or None when nothing was compared: no evidence is not a score of zero."""
    return part / whole if whole else None


@dataclass(frozen=True)
class VolunteerSkill:
    volunteer_id: int
    username: str
    n_gold: int
    n_correct: int

    @property
    def accuracy(self) -> float | None:
        return ratio(self.n_correct, self.n_gold)


def volunteer_skill(*, campaign: Campaign) -> list[VolunteerSkill]:
    """Accuracy of each volunteer on the campaign's gold-standard subjects (skips left out), best first."""
    rows = (
        Vote.objects.filter(campaign=campaign)
        .exclude(answer=SKIP)
        .exclude(subject__gold_answer="")
        .values("volunteer_id", "volunteer__username")
        .annotate(
            n_gold=Count("id"),
            n_correct=Count("id", filter=Q(answer=F("subject__gold_answer"))),
        )
    )
    skills = [VolunteerSkill(r["volunteer_id"], r["volunteer__username"], r["n_gold"], r["n_correct"]) for r in rows]
    return sorted(skills, key=lambda s: (-(s.accuracy or 0), -s.n_gold, s.username))
