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
import warnings
from collections import Counter
from dataclasses import dataclass

import pandas as pd
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django_tasks import task

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


def majority(answers: list[str]) -> tuple[str, float | None]:
    """Majority label among non-skip answers and its agreement fraction; ties resolve alphabetically so the
    result does not depend on vote order."""
    votes = [a for a in answers if a != SKIP]
    if not votes:
        return "", None
    counts = Counter(votes)
    best = max(counts.values())
    label = sorted(a for a, c in counts.items() if c == best)[0]
    return label, best / len(votes)


def _vote_frame(campaign_id: int) -> pd.DataFrame:
    rows = (
        Vote.objects.filter(campaign_id=campaign_id)
        .exclude(answer=SKIP)
        .values_list("subject_id", "volunteer_id", "answer")
        .iterator(chunk_size=10_000)
    )
    return pd.DataFrame.from_records(list(rows), columns=["task", "worker", "label"])


def dawid_skene(votes: pd.DataFrame, *, n_iter: int = DS_ITERATIONS) -> pd.DataFrame:
    """Dawid-Skene over a (task, worker, label) frame: one row per task with ``label`` and ``posterior``
    (the posterior probability of that label)."""
    from crowdkit.aggregation import DawidSkene

    if votes.empty:
        return pd.DataFrame(columns=["label", "posterior"])
    with warnings.catch_warnings():
        # crowd-kit 1.4.2 works with pandas 3 but still passes inplace=/copy=, which pandas 3.1 deprecates.
        warnings.filterwarnings("ignore", message=r".*(inplace|copy) keyword.*", module=r"crowdkit\..*")
        model = DawidSkene(n_iter=n_iter, tol=1e-6).fit(votes)
    probas = model.probas_
    labels = probas.idxmax(axis=1)
    return pd.DataFrame({"label": labels.astype(str), "posterior": probas.max(axis=1).astype(float)})


def majority_frame(votes: pd.DataFrame) -> pd.DataFrame:
    """Majority per task (ties resolved as ``majority`` does) with its agreement fraction."""
    out = {}
    for task_id, answers in votes.groupby("task")["label"]:
        out[task_id] = majority(list(answers))
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
def recompute_consensus_task(campaign_id: int) -> dict:
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
