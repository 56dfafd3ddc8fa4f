"""Campaign writes: create and edit campaigns, take them live, add alerts, tutorials, field guides, gold.

Each is a keyword-only service that checks the actor and validates before it writes, in one transaction."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from core.roles import ADMIN, has_role
from labeling.campaigns.permissions import can_create_campaign, require_manage
from labeling.campaigns.validation import (
    CampaignError,
    alert_by_candid,
    apply_changes,
    clean_answer,
    clean_order,
    clean_slug,
    clean_text,
    example_alerts,
)
from labeling.filters import random_unit, select_alerts
from labeling.models import Alert, Campaign, FieldGuideEntry, Subject, TutorialStep
from labeling.signals import campaign_went_live

BATCH = 2000


def _save(campaign: Campaign, volunteers: list | None, collaborators: list | None) -> None:
    """Save the campaign, then set the people lists that were given (None leaves a list as it is)."""
    campaign.save()
    if volunteers is not None:
        campaign.volunteers.set(volunteers)
    if collaborators is not None:
        campaign.collaborators.set(collaborators)


@transaction.atomic
def campaign_create(*, actor, name: str, slug: str | None = None, **settings: Any) -> Campaign:
    """A new draft campaign owned by ``actor``. Settings are those of ``EDITABLE``; the classes default to
    the question type's (real/bogus or streak types)."""
    if not can_create_campaign(actor):
        raise PermissionDenied("only scientists and admins create campaigns")
    settings.setdefault("question_type", Campaign.QuestionType.REAL_BOGUS)
    campaign = Campaign(owner=actor, state=Campaign.State.DRAFT)
    volunteers, collaborators = apply_changes(campaign, {"name": name, **settings}, creating=True)
    campaign.slug = clean_slug(slug, campaign.name)
    _save(campaign, volunteers, collaborators)
    return campaign


@transaction.atomic
def campaign_update(*, actor, campaign: Campaign, **changes: Any) -> Campaign:
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    require_manage(actor, campaign)
    if "collaborators" in changes and campaign.owner_id != actor.pk and not has_role(actor, ADMIN):
        raise PermissionDenied("only the owner changes who collaborates on a campaign")
    volunteers, collaborators = apply_changes(campaign, changes, creating=False)
    _save(campaign, volunteers, collaborators)
    return campaign


# Which state may follow which. Finished is final: its labels are what people cite.
TRANSITIONS = {
    Campaign.State.DRAFT: {Campaign.State.LIVE, Campaign.State.FINISHED},
    Campaign.State.LIVE: {Campaign.State.PAUSED, Campaign.State.FINISHED},
    Campaign.State.PAUSED: {Campaign.State.LIVE, Campaign.State.FINISHED},
    Campaign.State.FINISHED: set(),
}


def _create_subjects(campaign: Campaign, alerts) -> int:
    """Subjects for these alerts (id, candid pairs), skipping any already in the campaign."""
    created = 0
    batch: list[Subject] = []
    for alert_id, candid in alerts:
        batch.append(
            Subject(campaign=campaign, alert_id=alert_id, random_key=random_unit(candid, campaign.sample_seed))
        )
        if len(batch) >= BATCH:
            created += len(Subject.objects.bulk_create(batch, ignore_conflicts=True))
            batch = []
    if batch:
        created += len(Subject.objects.bulk_create(batch, ignore_conflicts=True))
    return created


@transaction.atomic
def campaign_set_state(*, actor, campaign: Campaign, state: str) -> Campaign:
    """Move a campaign to ``state``. Going live the first time fixes its subjects from the selection."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    require_manage(actor, campaign)
    if state not in Campaign.State.values:
        raise CampaignError("state", f"one of {', '.join(Campaign.State.values)}")
    if state == campaign.state:
        return campaign
    if state not in TRANSITIONS[campaign.state]:
        raise CampaignError("state", f"a {campaign.state} campaign cannot become {state}")
    if state == Campaign.State.LIVE and campaign.went_live_at is None:
        if len(campaign.classes) < 2:
            raise CampaignError("classes", "a campaign needs at least two classes before going live")
        alerts = select_alerts(campaign.selection, sample_size=campaign.sample_size, seed=campaign.sample_seed)
        _create_subjects(campaign, alerts.values_list("id", "candid").iterator(chunk_size=BATCH))
        if not campaign.subjects.exists():
            raise CampaignError("selection", "no alert matches this selection: nothing to classify")
        campaign.went_live_at = timezone.now()
        # After the commit: a listener that queues work (ordering the queue) must find the subjects stored.
        transaction.on_commit(lambda: campaign_went_live.send(sender=Campaign, campaign=campaign))
    campaign.state = state
    campaign.save(update_fields=["state", "went_live_at", "updated_at"])
    return campaign


@transaction.atomic
def campaign_add_matching_alerts(*, actor, campaign: Campaign, limit: int | None = None) -> int:
    """Add alerts ingested since the campaign went live that match its filter (and are not subjects yet).
    ``limit`` keeps a seeded sample of them, chosen as the original sample was."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    require_manage(actor, campaign)
    if campaign.went_live_at is None:
        raise CampaignError("state", "a draft campaign takes its alerts when it goes live")
    if campaign.state == Campaign.State.FINISHED:
        raise CampaignError("state", "a finished campaign takes no more alerts")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise CampaignError("limit", "a limit is a positive whole number")
    new = Alert.objects.filter(ingested_at__gt=campaign.went_live_at).exclude(subjects__campaign=campaign)
    alerts = select_alerts(campaign.selection, sample_size=limit, seed=campaign.sample_seed, base=new)
    return _create_subjects(campaign, alerts.values_list("id", "candid").iterator(chunk_size=BATCH))


@transaction.atomic
def campaign_delete(*, actor, campaign: Campaign) -> None:
    require_manage(actor, campaign)
    if campaign.votes.exists():
        raise CampaignError("state", "a campaign with votes cannot be deleted; finish it instead")
    campaign.delete()


def _next_order(qs) -> int:
    last = qs.order_by("-order").values_list("order", flat=True).first()
    return 0 if last is None else last + 1


def _set_page_fields(
    page: TutorialStep | FieldGuideEntry, changes: dict[str, Any], *, own: set[str], what: str
) -> None:
    """Check that ``changes`` names only the page's ``own`` fields or the title, text and order that tutorial
    steps and field-guide entries share, and set those three."""
    unknown = set(changes) - {"title", "text", "order", *own}
    if unknown:
        raise CampaignError(sorted(unknown)[0], f"not a {what} field")
    if "title" in changes:
        page.title = clean_text("title", changes["title"], max_length=200, required=True)
    if "text" in changes:
        page.text = clean_text("text", changes["text"], max_length=10_000, required=True)
    if "order" in changes:
        page.order = clean_order(changes["order"])


@transaction.atomic
def tutorial_step_create(
    *, actor, campaign: Campaign, title: str, text: str, example_candid: int | None = None, order: int | None = None
) -> TutorialStep:
    require_manage(actor, campaign)
    return TutorialStep.objects.create(
        campaign=campaign,
        title=clean_text("title", title, max_length=200, required=True),
        text=clean_text("text", text, max_length=10_000, required=True),
        example_alert=alert_by_candid("example_candid", example_candid),
        order=_next_order(campaign.tutorial_steps) if order is None else clean_order(order),
    )


@transaction.atomic
def tutorial_step_update(*, actor, step: TutorialStep, **changes: Any) -> TutorialStep:
    require_manage(actor, step.campaign)
    _set_page_fields(step, changes, own={"example_candid"}, what="tutorial-step")
    if "example_candid" in changes:
        step.example_alert = alert_by_candid("example_candid", changes["example_candid"])
    step.save()
    return step


@transaction.atomic
def tutorial_step_delete(*, actor, step: TutorialStep) -> None:
    require_manage(actor, step.campaign)
    step.delete()


@transaction.atomic
def field_guide_entry_create(
    *,
    actor,
    campaign: Campaign,
    title: str,
    text: str,
    answer: str = "",
    example_candids: list[int] | None = None,
    order: int | None = None,
) -> FieldGuideEntry:
    require_manage(actor, campaign)
    entry = FieldGuideEntry.objects.create(
        campaign=campaign,
        title=clean_text("title", title, max_length=200, required=True),
        text=clean_text("text", text, max_length=10_000, required=True),
        answer=clean_answer(campaign, "answer", answer),
        order=_next_order(campaign.field_guide) if order is None else clean_order(order),
    )
    entry.examples.set(example_alerts("example_candids", example_candids))
    return entry


@transaction.atomic
def field_guide_entry_update(*, actor, entry: FieldGuideEntry, **changes: Any) -> FieldGuideEntry:
    require_manage(actor, entry.campaign)
    _set_page_fields(entry, changes, own={"answer", "example_candids"}, what="field-guide")
    if "answer" in changes:
        entry.answer = clean_answer(entry.campaign, "answer", changes["answer"])
    entry.save()
    if "example_candids" in changes:
        entry.examples.set(example_alerts("example_candids", changes["example_candids"]))
    return entry


@transaction.atomic
def field_guide_entry_delete(*, actor, entry: FieldGuideEntry) -> None:
    require_manage(actor, entry.campaign)
    entry.delete()


# -------------------------------------------------------------------------------------------- gold standard


def _set_gold(subject: Subject, campaign: Campaign, answer: str, note: str) -> None:
    subject.gold_answer = clean_answer(campaign, "gold_answer", answer)
    subject.gold_note = clean_text("gold_note", note or "", max_length=2000) if subject.gold_answer else ""


@transaction.atomic
def subject_set_gold(*, actor, subject: Subject, answer: str, note: str = "") -> Subject:
    """Mark (or, with an empty answer, unmark) a subject as gold standard with the experts' answer."""
    require_manage(actor, subject.campaign)
    _set_gold(subject, subject.campaign, answer, note)
    subject.save(update_fields=["gold_answer", "gold_note"])
    return subject


@transaction.atomic
def subjects_set_gold(
    *, actor, campaign: Campaign, answers: dict[int, str], notes: dict[int, str] | None = None
) -> int:
    """Gold answers (an empty one unmarks) and their notes for many subjects at once, by subject id; all or
    nothing."""
    require_manage(actor, campaign)
    subjects = {s.pk: s for s in campaign.subjects.filter(pk__in=list(answers))}
    missing = [pk for pk in answers if pk not in subjects]
    if missing:
        raise CampaignError("subject", f"not subjects of this campaign: {missing[:5]}")
    for pk, answer in answers.items():
        _set_gold(subjects[pk], campaign, answer, (notes or {}).get(pk, ""))
    Subject.objects.bulk_update(list(subjects.values()), ["gold_answer", "gold_note"])
    return len(subjects)
