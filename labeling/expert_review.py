"""Subjects sent for an expert (gold-standard) answer: a note saying why, the answer left for the campaign's
scientists to give.

Whoever sends them (the ML console sends the candidates where a model and the volunteers disagree) writes the
reasons; this module owns the subjects and the notes, so the campaign pages find them by one prefix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.db import transaction
from django.utils import timezone

from core.errors import ServiceError
from core.roles import ADMIN, has_role
from labeling.filters import random_unit
from labeling.models import Alert, Campaign, Subject

NEEDS_EXPERT_PREFIX = "Needs an expert answer"


def expert_review_note(*, sender: str, source: str, reasons: Sequence[str]) -> str:
    """The gold note of a subject waiting for an expert answer: who sent it, from where, when and why."""
    day = timezone.now().strftime("%Y-%m-%d")
    return f"{NEEDS_EXPERT_PREFIX} (sent from {source} by {sender} on {day}): " + "; ".join(reasons)


def may_send_for_expert_answer(actor, campaign: Campaign) -> bool:
    """Adding subjects to a campaign and writing their notes changes it: its owner, its collaborators (an ML lead
    among them) and admins may; an ML lead the campaign's scientist never invited may not."""
    if not getattr(actor, "is_authenticated", False):
        return False
    if has_role(actor, ADMIN) or campaign.owner_id == actor.pk:
        return True
    return campaign.collaborators.filter(pk=actor.pk).exists()


@transaction.atomic
def subjects_send_for_expert_answer(*, actor, campaign: Campaign, notes: Mapping[int, str]) -> dict:
    """Put these alerts (``notes``: alert id -> gold note) in ``campaign``, adding subjects where missing, each
    marked with its note as needing an expert answer. Subjects that already have an expert answer keep it.
    ``actor`` must be the campaign's owner, a collaborator or an admin."""
    if not may_send_for_expert_answer(actor, campaign):
        raise ServiceError(
            f"only the owner of {campaign.name}, its collaborators and admins may send it subjects",
            field="campaign",
            code="no_access",
            status=403,
        )
    if campaign.state == Campaign.State.FINISHED:
        raise ServiceError(f"{campaign.name} is finished and takes no more subjects", field="campaign")
    ids = list(notes)
    candids = dict(Alert.objects.filter(pk__in=ids).values_list("id", "candid"))
    missing = [i for i in ids if i not in candids]
    if missing:
        raise ServiceError(f"no alert with id {missing[0]}", field="alerts")
    existing = {s.alert_id: s for s in Subject.objects.select_for_update().filter(campaign=campaign, alert_id__in=ids)}
    added = marked = 0
    for alert_id in ids:
        subject = existing.get(alert_id)
        if subject is None:
            subject = Subject.objects.create(
                campaign=campaign, alert_id=alert_id, random_key=random_unit(candids[alert_id], campaign.sample_seed)
            )
            added += 1
        if subject.gold_answer:
            continue
        subject.gold_note = notes[alert_id]
        subject.save(update_fields=["gold_note"])
        marked += 1
    return {"campaign": campaign.slug, "added": added, "marked": marked, "already_answered": len(ids) - marked}


def pending_expert_answers(*, limit: int = 50) -> list[dict]:
    """Subjects sent for an expert answer that have none yet, newest first."""
    rows = (
        Subject.objects.filter(gold_answer="", gold_note__startswith=NEEDS_EXPERT_PREFIX)
        .select_related("campaign", "alert")
        .order_by("-pk")[:limit]
    )
    return [
        {"subject_id": s.pk, "candid": s.alert.candid, "campaign": s.campaign.name, "note": s.gold_note} for s in rows
    ]
