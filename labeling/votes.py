"""Recording a vote: the one write path for classifications (page, API, load tests all come here).

A vote lands exactly once. A repeated request with the same idempotency key returns the stored vote; a
second vote by the same volunteer on the same subject is refused; the subject row is locked while its
counters, majority consensus and retirement are updated, so concurrent votes never lose an increment.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from functools import partial

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from core.errors import ServiceError
from labeling.consensus import majority, on_subject_retired, on_vote_recorded
from labeling.models import SKIP, Campaign, Subject, Vote

MAX_DURATION_MS = 24 * 3600 * 1000


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

    existing = _stored_vote_id(key)
    if existing is not None:
        stored = Vote.objects.select_related("subject").get(pk=existing)
        if stored.volunteer_id != volunteer.pk or stored.subject_id != subject_id:
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

    try:
        with transaction.atomic():
            subject = _lock_subject(subject_id)
            if subject is None or subject.campaign_id != campaign.pk:
                raise VoteRefused("no such subject in this campaign", status=404, code="subject")
            if subject.retired:
                raise VoteRefused("this subject is retired and takes no more votes", status=409, code="retired")
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
            )
            answers = _insert_vote(vote)
            label, fraction = majority(answers)
            reason = retirement_reason(campaign=campaign, answers=answers)
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
                "duration_ms", "was_gold", "user_agent")  # fmt: skip


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


def _insert_vote(vote: Vote) -> list[str]:
    """Insert ``vote`` (its id set from the database) and return every answer of its subject, this one included."""
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
        cursor.execute(f"SELECT answer FROM {_VOTE} WHERE subject_id = %s", [vote.subject_id])
        answers = [row[0] for row in cursor.fetchall()]
    vote._state.adding = False
    vote._state.db = connection.alias
    return answers


def _update_subject(subject_id: int, updates: dict) -> None:
    names = list(updates)
    sets = ", ".join(f"{Subject._meta.get_field(n).column} = %s" for n in names)
    params = [_prep(Subject, n, updates[n]) for n in names]
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {_SUBJECT} SET {sets} WHERE id = %s", [*params, subject_id])
