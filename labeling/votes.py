"""Recording a vote: the one write path for classifications (page, API, load tests all come here).

A vote lands exactly once. A repeated request with the same idempotency key returns the stored vote; a
second vote by the same volunteer on the same subject is refused; the subject row is locked while its
counters, majority consensus and retirement are updated, so concurrent votes never lose an increment.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from labeling.models import SKIP, Campaign, Subject, Vote

MAX_DURATION_MS = 24 * 3600 * 1000


class VoteRefused(Exception):
    """A vote that cannot be stored; ``status`` is the HTTP status the API answers with."""

    def __init__(self, message: str, *, status: int = 400, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


@dataclass(frozen=True)
class VoteOutcome:
    vote: Vote
    created: bool  # False when the idempotency key had been seen: nothing new was stored
    subject: Subject
    gold_answer: str  # the experts' answer for gold-standard subjects, shown after voting


def can_classify(*, campaign: Campaign, volunteer) -> bool:
    if not volunteer.is_authenticated or campaign.state != Campaign.State.LIVE:
        return False
    if campaign.access == Campaign.Access.EVERYONE:
        return True
    if campaign.owner_id == volunteer.pk:
        return True
    return (
        campaign.volunteers.filter(pk=volunteer.pk).exists() or campaign.collaborators.filter(pk=volunteer.pk).exists()
    )


def _valid_answers(campaign: Campaign) -> set[str]:
    return set(campaign.answer_keys) | {SKIP}


def retirement_reason(*, campaign: Campaign, answers: list[str]) -> str:
    """Why a subject with these answers should retire, or '' if it should not. Skips never count."""
    votes = [a for a in answers if a != SKIP]
    if not votes:
        return ""
    if len(votes) >= campaign.retire_after:
        return f"reached {campaign.retire_after} votes"
    k, fraction = campaign.retire_agree_k, campaign.retire_agree_fraction
    if k:
        top, top_count = Counter(votes).most_common(1)[0]
        if top_count >= k and top_count / len(votes) >= (fraction or 0.0):
            return f"{top_count} of {len(votes)} agree on {top}"
    return ""


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


def vote_record(
    *,
    campaign: Campaign,
    subject_id: int,
    volunteer,
    answer: str,
    idempotency_key: uuid.UUID | str,
    duration_ms: int | None = None,
    user_agent: str = "",
) -> VoteOutcome:
    try:
        key = uuid.UUID(str(idempotency_key))
    except (TypeError, ValueError, AttributeError) as exc:
        raise VoteRefused("idempotency_key must be a UUID", code="idempotency_key") from exc

    existing = Vote.objects.select_related("subject").filter(idempotency_key=key).first()
    if existing is not None:
        if existing.volunteer_id != volunteer.pk or existing.subject_id != subject_id:
            raise VoteRefused("this idempotency_key was already used for another vote", status=409, code="key_reused")
        return VoteOutcome(existing, False, existing.subject, existing.subject.gold_answer)

    if not can_classify(campaign=campaign, volunteer=volunteer):
        raise VoteRefused(
            "you cannot classify in this campaign (not live, or not open to you)", status=403, code="no_access"
        )
    if not isinstance(answer, str) or answer not in _valid_answers(campaign):
        raise VoteRefused(f"answer must be one of {', '.join(sorted(_valid_answers(campaign)))}", code="answer")
    if duration_ms is not None and (not isinstance(duration_ms, int) or not 0 <= duration_ms <= MAX_DURATION_MS):
        raise VoteRefused("duration_ms must be an integer between 0 and 86400000", code="duration_ms")

    try:
        with transaction.atomic():
            subject = Subject.objects.select_for_update().filter(pk=subject_id).first()
            if subject is None or subject.campaign_id != campaign.pk:
                raise VoteRefused("no such subject in this campaign", status=404, code="subject")
            if subject.retired:
                raise VoteRefused("this subject is retired and takes no more votes", status=409, code="retired")
            vote = Vote.objects.create(
                subject=subject,
                campaign=campaign,
                volunteer=volunteer,
                answer=answer,
                idempotency_key=key,
                duration_ms=duration_ms,
                was_gold=subject.is_gold,
                user_agent=user_agent[:300],
            )
            answers = list(Vote.objects.filter(subject=subject).values_list("answer", flat=True))
            label, fraction = majority(answers)
            reason = retirement_reason(campaign=campaign, answers=answers)
            # The row is locked (select_for_update above), so its counters as read are current: the new values
            # are computed here and written in one UPDATE, with no read-back.
            updates = {
                "n_classifications": subject.n_classifications + 1,
                "majority_label": label,
                "majority_fraction": fraction,
            }
            if answer != SKIP:
                updates["n_votes"] = subject.n_votes + 1
            if reason:
                updates.update(retired=True, retired_at=timezone.now(), retired_reason=reason)
            Subject.objects.filter(pk=subject.pk).update(**updates)
            for field, value in updates.items():
                setattr(subject, field, value)
            if reason:
                transaction.on_commit(lambda: _after_retirement(campaign.pk, subject.pk))
            transaction.on_commit(lambda: _after_vote(campaign.pk, vote.pk))
    except IntegrityError as exc:
        # Either the same key raced in from a repeated request, or this volunteer already voted here.
        again = Vote.objects.select_related("subject").filter(idempotency_key=key).first()
        if again is not None and again.volunteer_id == volunteer.pk:
            return VoteOutcome(again, False, again.subject, again.subject.gold_answer)
        raise VoteRefused("you have already classified this subject", status=409, code="duplicate") from exc
    return VoteOutcome(vote, True, subject, subject.gold_answer)


def _after_retirement(campaign_id: int, subject_id: int) -> None:
    """Hook for work that follows a retirement (weighted consensus, auto-retraining counters)."""
    # A retired subject is a new consensus label: the active-learning loop counts it towards the campaign's
    # automatic retraining (off unless the campaign sets retrain_every). It never raises.
    from activelearning.retraining import note_consensus_labels

    note_consensus_labels(campaign_id=campaign_id)
    try:
        from labeling import consensus
    except ImportError:
        return
    hook = getattr(consensus, "on_subject_retired", None)
    if hook is not None:
        hook(campaign_id=campaign_id, subject_id=subject_id)


def _after_vote(campaign_id: int, vote_id: int) -> None:
    """Hook after every stored vote (the weighted consensus refits every N votes)."""
    try:
        from labeling import consensus
    except ImportError:
        return
    hook = getattr(consensus, "on_vote_recorded", None)
    if hook is not None:
        hook(campaign_id=campaign_id, vote_id=vote_id)
