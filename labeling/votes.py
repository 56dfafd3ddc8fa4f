"""Recording a vote: the one write path for classifications (page, API, load tests all come here).

A vote lands exactly once. A repeated request with the same idempotency key returns the stored vote; a second
vote by the same volunteer on the same subject is refused; the subject row is locked while its counters, majority
consensus and retirement are updated, so concurrent votes never lose an increment. Through the classify API a vote
counts only on a subject served to its voter, with its voter's weight: each card the next-subject API hands out
carries a signed ``served`` token (``served_token``) that the vote sends back, so serving writes nothing.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from functools import partial

from django.core import signing
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from core.errors import ServiceError
from labeling.consensus import majority, on_subject_retired, on_vote_recorded, vote_weight
from labeling.models import SKIP, Campaign, Subject, Vote
from labeling.progress import note_stored_vote

MAX_DURATION_MS = 24 * 3600 * 1000
# How long a served token stays good: generous, because the page's outbox resends votes kept while offline.
SERVED_MAX_AGE_S = 7 * 24 * 3600
_SERVED_SALT = "blink.served"


class VoteRefused(ServiceError):
    """A vote that cannot be stored; ``status`` is the HTTP status the API answers with, ``code`` says which
    rule refused it (the outbox keeps a vote refused for ``no_access``; it drops the others)."""

    # The input each refusal is about, so the classify page can say which.
    FIELD_OF_CODE = {
        "answer": "answer",
        "idempotency_key": "idempotency_key",
        "duration_ms": "duration_ms",
        "subject": "subject",
        "retired": "subject",
        "duplicate": "subject",
        "not_served": "subject",
    }

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message, field=self.FIELD_OF_CODE.get(code), code=code, status=status)


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


def _count(value: float) -> str:
    return f"{value:g}"


def retirement_reason(*, campaign: Campaign, answers: list[str], weights: list[float] | None = None) -> str:
    """Why a subject with these answers should retire, or '' if it should not. Skips never count; each vote
    counts its weight (``Vote.weight``: less from an account without a record), 1 when none is given."""
    counts: Counter = Counter()
    for answer, weight in zip(answers, weights or [1.0] * len(answers), strict=True):
        if answer != SKIP:
            counts[answer] += weight
    if not counts:
        return ""
    # A hair under the threshold still counts: sums of halves are exact, but a weight may not be.
    total = sum(counts.values()) + 1e-9
    if total >= campaign.retire_after:
        return f"reached {campaign.retire_after} votes"
    k, fraction = campaign.retire_agree_k, campaign.retire_agree_fraction
    if k:
        top, top_count = counts.most_common(1)[0]
        if top_count + 1e-9 >= k and top_count / sum(counts.values()) + 1e-9 >= (fraction or 0.0):
            return f"{_count(top_count)} of {_count(sum(counts.values()))} agree on {top}"
    return ""


def _served_value(volunteer_id: int, campaign_id: int, subject_id: int) -> str:
    return f"{volunteer_id}.{campaign_id}.{subject_id}"


def served_token(*, volunteer, subject: Subject) -> str:
    """A token saying Blink served ``subject`` to ``volunteer``: the vote API counts a vote only with it. Signed,
    not stored (no write on GET); it carries the time it was made and the signature only, the ids being the
    vote's own."""
    signed = signing.TimestampSigner(salt=_SERVED_SALT).sign(
        _served_value(volunteer.pk, subject.campaign_id, subject.pk)
    )
    return signed.split(":", 1)[1]


def served_token_valid(token, *, volunteer_id: int, campaign_id: int, subject_id: int) -> bool:
    """Whether ``token`` was made by ``served_token`` for this volunteer, campaign and subject, at most
    ``SERVED_MAX_AGE_S`` ago."""
    if not isinstance(token, str) or not token or len(token) > 200:
        return False
    value = _served_value(volunteer_id, campaign_id, subject_id)
    try:
        signing.TimestampSigner(salt=_SERVED_SALT).unsign(f"{value}:{token}", max_age=SERVED_MAX_AGE_S)
    except signing.BadSignature:  # SignatureExpired is one
        return False
    return True


def vote_record(
    *,
    campaign: Campaign,
    subject_id: int,
    volunteer,
    answer: str,
    idempotency_key: uuid.UUID | str,
    duration_ms: int | None = None,
    user_agent: str = "",
    served_only: bool = False,
    served: str | None = None,
    weigh_by_record: bool = False,
) -> VoteOutcome:
    """Store one vote. The classify API, where anyone with an account votes, asks for both checks:
    ``served_only`` refuses a subject never served to this volunteer (``served``, the card's token, is the proof:
    ``served_token``), and ``weigh_by_record`` gives the vote its
    voter's weight (``labeling.consensus.vote_weight``: less from an account without a record). Scripts that
    replay known votes, and tests building a world, store votes of full weight on any subject."""
    try:
        key = uuid.UUID(str(idempotency_key))
    except (TypeError, ValueError, AttributeError) as exc:
        raise VoteRefused("idempotency_key must be a UUID", code="idempotency_key") from exc

    existing = _stored_vote_id(key)
    if existing is not None:
        stored = Vote.objects.select_related("subject").get(pk=existing)
        # The replay answers before the access check (a vote stored just before its campaign paused must still
        # settle in the outbox), so it must be this very vote: same volunteer, subject and campaign. A vote
        # replayed to another campaign's URL would otherwise answer with that campaign's progress.
        if (stored.volunteer_id, stored.subject_id, stored.campaign_id) != (volunteer.pk, subject_id, campaign.pk):
            raise VoteRefused("this idempotency_key was already used for another vote", status=409, code="key_reused")
        return VoteOutcome(stored, False, stored.subject, stored.subject.gold_answer)

    if not can_classify(campaign=campaign, volunteer=volunteer):
        raise VoteRefused(
            "you cannot classify in this campaign (not live, or not open to you)", status=403, code="no_access"
        )
    if not isinstance(answer, str) or answer not in _valid_answers(campaign):
        raise VoteRefused(f"answer must be one of {', '.join(sorted(_valid_answers(campaign)))}", code="answer")
    if duration_ms is not None and (not isinstance(duration_ms, int) or not 0 <= duration_ms <= MAX_DURATION_MS):
        raise VoteRefused("duration_ms must be an integer between 0 and 86400000", code="duration_ms")
    weight = vote_weight(campaign=campaign, volunteer=volunteer) if weigh_by_record else 1.0

    try:
        with transaction.atomic():
            subject = _lock_subject(subject_id)
            if subject is None or subject.campaign_id != campaign.pk:
                raise VoteRefused("no such subject in this campaign", status=404, code="subject")
            if subject.retired:
                raise VoteRefused("this subject is retired and takes no more votes", status=409, code="retired")
            if served_only and not served_token_valid(
                served, volunteer_id=volunteer.pk, campaign_id=campaign.pk, subject_id=subject.pk
            ):
                raise VoteRefused(
                    "this subject was not served to you: votes count only on subjects Blink handed you",
                    status=409,
                    code="not_served",
                )
            vote = Vote(
                subject_id=subject.pk,
                campaign_id=campaign.pk,
                volunteer_id=volunteer.pk,
                answer=answer,
                idempotency_key=key,
                created_at=timezone.now(),
                duration_ms=duration_ms,
                was_gold=subject.is_gold,
                user_agent=user_agent[:300],
                weight=weight,
            )
            answers, weights = _insert_vote(vote)
            label, fraction = majority(answers, weights)
            reason = retirement_reason(campaign=campaign, answers=answers, weights=weights)
            # The row is locked (_lock_subject), so its counters as read are current: the new values are
            # computed here and written in one UPDATE, with no read-back.
            updates = {
                "n_classifications": subject.n_classifications + 1,
                "majority_label": label,
                "majority_fraction": fraction,
            }
            if answer != SKIP:
                updates["n_votes"] = subject.n_votes + 1
            if reason:
                updates.update(retired=True, retired_at=timezone.now(), retired_reason=reason)
            _update_subject(subject.pk, updates)
            for field, value in updates.items():
                setattr(subject, field, value)
            # Counted at once in this process's campaign progress, so the vote's own answer shows it.
            transaction.on_commit(
                partial(note_stored_vote, campaign_id=campaign.pk, vote_id=vote.pk, retired=bool(reason))
            )
            if reason:
                transaction.on_commit(partial(on_subject_retired, campaign=campaign, subject=subject))
            transaction.on_commit(partial(on_vote_recorded, campaign_id=campaign.pk, vote_id=vote.pk))
    except IntegrityError as exc:
        # Either the same key raced in from a repeated request, or this volunteer already voted here.
        again = Vote.objects.select_related("subject").filter(idempotency_key=key).first()
        if again is not None and again.volunteer_id == volunteer.pk:
            return VoteOutcome(again, False, again.subject, again.subject.gold_answer)
        raise VoteRefused("you have already classified this subject", status=409, code="duplicate") from exc
    return VoteOutcome(vote, True, subject, subject.gold_answer)


# The write path in plain SQL. A vote is a handful of one-row statements the database runs almost at once;
# built through the ORM, their Python cost was most of a volunteer's wait. Values go through the fields' own
# get_db_prep_value, so SQLite (hex UUIDs, text datetimes) and PostgreSQL both work.
_SUBJECT = Subject._meta.db_table
_VOTE = Vote._meta.db_table
_LOCKED_FIELDS = ("id", "campaign_id", "alert_id", "gold_answer", "gold_note", "n_classifications", "n_votes",
                  "retired")  # fmt: skip
_VOTE_FIELDS = ("subject_id", "campaign_id", "volunteer_id", "answer", "idempotency_key", "created_at",
                "duration_ms", "was_gold", "user_agent", "weight")  # fmt: skip


def _prep(model, field: str, value):
    return model._meta.get_field(field).get_db_prep_value(value, connection, prepared=False)


def _stored_vote_id(key: uuid.UUID) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {_VOTE} WHERE idempotency_key = %s", [_prep(Vote, "idempotency_key", key)])
        row = cursor.fetchone()
    return None if row is None else int(row[0])


def _lock_subject(subject_id: int) -> Subject | None:
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(_LOCKED_FIELDS)} FROM {_SUBJECT} WHERE id = %s{lock}", [subject_id])
        row = cursor.fetchone()
    if row is None:
        return None
    values = dict(zip(_LOCKED_FIELDS, row, strict=True))
    values["retired"] = bool(values["retired"])
    return Subject.from_db(connection.alias, list(values), list(values.values()))


def _insert_vote(vote: Vote) -> tuple[list[str], list[float]]:
    """Insert ``vote`` (its id set from the database) and return every answer of its subject, this one included,
    with their weights."""
    # get_field takes attnames too ("subject_id" is the subject foreign key).
    params = [_prep(Vote, name, getattr(vote, name)) for name in _VOTE_FIELDS]
    columns = ", ".join(Vote._meta.get_field(name).column for name in _VOTE_FIELDS)
    sql = f"INSERT INTO {_VOTE} ({columns}) VALUES ({', '.join(['%s'] * len(params))})"
    with connection.cursor() as cursor:
        if connection.features.can_return_columns_from_insert:
            cursor.execute(sql + " RETURNING id", params)
            vote.pk = int(cursor.fetchone()[0])
        else:
            cursor.execute(sql, params)
            vote.pk = int(cursor.lastrowid)
        cursor.execute(f"SELECT answer, weight FROM {_VOTE} WHERE subject_id = %s", [vote.subject_id])
        rows = cursor.fetchall()
    vote._state.adding = False
    vote._state.db = connection.alias
    return [row[0] for row in rows], [float(row[1]) for row in rows]


def _update_subject(subject_id: int, updates: dict) -> None:
    names = list(updates)
    sets = ", ".join(f"{Subject._meta.get_field(n).column} = %s" for n in names)
    params = [_prep(Subject, n, updates[n]) for n in names]
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {_SUBJECT} SET {sets} WHERE id = %s", [*params, subject_id])
