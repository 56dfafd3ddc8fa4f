"""Campaign services: create and edit campaigns, take them live, add alerts, tutorials, field guides, gold.

Every write here takes the acting user and checks it first: only scientists and admins create campaigns, and
a scientist edits only the campaigns they own or collaborate on. A campaign's subjects are fixed when it goes
live (the same filter, sample size and seed always pick the same alerts), and "add matching" later adds only
alerts ingested after that, by the same filter.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from core.roles import ADMIN, SCIENTIST, has_role
from labeling.filters import FilterError, compile_filter, random_unit, select_alerts, validate_sample
from labeling.models import (
    REAL_BOGUS_CLASSES,
    SKIP,
    STREAK_CLASSES,
    Alert,
    Campaign,
    FieldGuideEntry,
    Subject,
    TutorialStep,
)

MAX_CLASSES = 20
# Keys the classify page keeps for itself: s skip, z zoom, ? help.
RESERVED_SHORTCUTS = {"s", "z", "?"}
_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")
BATCH = 2000


class CampaignError(ValueError):
    """Invalid campaign input; ``field`` names what is wrong so forms and the API can show it there."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


# ----------------------------------------------------------------------------------------------- permissions


def can_create_campaign(user) -> bool:
    return has_role(user, SCIENTIST, ADMIN)


def can_manage(user, campaign: Campaign) -> bool:
    """Edit, inspect, see every vote: admins, and scientists who own or collaborate on the campaign."""
    if not getattr(user, "is_authenticated", False):
        return False
    if has_role(user, ADMIN):
        return True
    if not has_role(user, SCIENTIST):
        return False
    if campaign.owner_id == user.pk:
        return True
    return campaign.collaborators.filter(pk=user.pk).exists()


def can_view(user, campaign: Campaign) -> bool:
    """Read a campaign's description, tutorial and field guide: its managers, and volunteers it is open to."""
    if can_manage(user, campaign):
        return True
    if not getattr(user, "is_authenticated", False) or campaign.state == Campaign.State.DRAFT:
        return False
    if campaign.access == Campaign.Access.EVERYONE:
        return True
    return campaign.volunteers.filter(pk=user.pk).exists()


def managed_campaigns(user):
    """Campaigns a user may edit (all of them for admins)."""
    qs = Campaign.objects.all()
    if has_role(user, ADMIN):
        return qs
    if not has_role(user, SCIENTIST):
        return qs.none()
    return qs.filter(Q(owner=user) | Q(collaborators=user)).distinct()


def visible_campaigns(user):
    """Campaigns a user may read: those they manage plus non-draft ones open to them."""
    if has_role(user, ADMIN):
        return Campaign.objects.all()
    opened = Q(access=Campaign.Access.EVERYONE) | Q(volunteers=user)
    mine = Q(owner=user) | Q(collaborators=user) if has_role(user, SCIENTIST) else Q(pk__in=[])
    return Campaign.objects.filter(mine | (~Q(state=Campaign.State.DRAFT) & opened)).distinct()


def _require_manage(actor, campaign: Campaign) -> None:
    if not can_manage(actor, campaign):
        raise PermissionDenied("only the campaign's owner, its collaborators and admins may change it")


# ----------------------------------------------------------------------------------------------- validation


def default_classes(question_type: str) -> list[dict]:
    if question_type == Campaign.QuestionType.REAL_BOGUS:
        return [dict(c) for c in REAL_BOGUS_CLASSES]
    if question_type == Campaign.QuestionType.STREAK:
        return [dict(c) for c in STREAK_CLASSES]
    return []


DEFAULT_QUESTIONS = {
    Campaign.QuestionType.REAL_BOGUS: "Is the object seen in the center of the difference image real or bogus?",
    Campaign.QuestionType.STREAK: "What kind of object or artefact is at the centre of the difference image?",
    Campaign.QuestionType.CUSTOM: "Which class fits the object at the centre of the difference image?",
}


def validate_classes(classes: Any) -> list[dict]:
    """Classes as ``[{"key", "label", "shortcut", "description"?, "example_candid"?}]``; keys and shortcuts
    unique, keys lowercase slugs, shortcuts single characters not reserved by the classify page."""
    if not isinstance(classes, list) or not classes:
        raise CampaignError("classes", "give at least two classes")
    if len(classes) < 2:
        raise CampaignError("classes", "give at least two classes: one class is not a question")
    if len(classes) > MAX_CLASSES:
        raise CampaignError("classes", f"at most {MAX_CLASSES} classes")
    keys: set[str] = set()
    shortcuts: set[str] = set()
    cleaned = []
    for i, item in enumerate(classes):
        where = f"classes[{i}]"
        if not isinstance(item, dict):
            raise CampaignError(where, "each class is an object with key, label and shortcut")
        unknown = set(item) - {"key", "label", "shortcut", "description", "example_candid"}
        if unknown:
            raise CampaignError(where, f"unknown attribute {sorted(unknown)[0]!r}")
        key = item.get("key")
        if not isinstance(key, str) or not _KEY_RE.match(key):
            raise CampaignError(
                f"{where}.key", "a key is 1-64 lowercase letters, digits or _, starting with a letter or digit"
            )
        if key == SKIP:
            raise CampaignError(f"{where}.key", "'skip' is always offered and cannot be a class")
        if key in keys:
            raise CampaignError(f"{where}.key", f"the key {key!r} is used twice")
        label = item.get("label", "")
        if not isinstance(label, str) or not label.strip() or len(label) > 100:
            raise CampaignError(f"{where}.label", "a label is 1-100 characters")
        shortcut = item.get("shortcut", "")
        if not isinstance(shortcut, str) or len(shortcut) != 1 or not shortcut.isprintable() or shortcut.isspace():
            raise CampaignError(f"{where}.shortcut", "a shortcut is a single key, such as r or 1")
        shortcut = shortcut.lower()
        if shortcut in RESERVED_SHORTCUTS:
            raise CampaignError(f"{where}.shortcut", f"{shortcut!r} is kept for skip (s), zoom (z) and help (?)")
        if shortcut in shortcuts:
            raise CampaignError(f"{where}.shortcut", f"the shortcut {shortcut!r} is used twice")
        description = item.get("description", "")
        if not isinstance(description, str) or len(description) > 2000:
            raise CampaignError(f"{where}.description", "a description is text of at most 2000 characters")
        entry = {"key": key, "label": label.strip(), "shortcut": shortcut}
        if description:
            entry["description"] = description
        if item.get("example_candid") not in (None, ""):
            candid = _candid_value(item["example_candid"])
            if (
                isinstance(candid, bool)
                or not isinstance(candid, int)
                or not Alert.objects.filter(candid=candid).exists()
            ):
                raise CampaignError(f"{where}.example_candid", f"no alert with candid {candid!r}")
            entry["example_candid"] = candid
        keys.add(key)
        shortcuts.add(shortcut)
        cleaned.append(entry)
    return cleaned


def _validate_retirement(retire_after: Any, k: Any, fraction: Any) -> tuple[int, int | None, float | None]:
    if isinstance(retire_after, bool) or not isinstance(retire_after, int) or not 1 <= retire_after <= 1000:
        raise CampaignError("retire_after", "retire after 1 to 1000 classifications")
    if k is not None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise CampaignError("retire_agree_k", "k is a whole number of agreeing votes, at least 1")
        if k > retire_after:
            raise CampaignError(
                "retire_agree_k", f"k = {k} agreeing votes can never come before retiring at {retire_after}"
            )
    if fraction is not None:
        if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not math.isfinite(fraction):
            raise CampaignError("retire_agree_fraction", "the agreement fraction is a number")
        if not 0 < fraction <= 1:
            raise CampaignError("retire_agree_fraction", "the agreement fraction is above 0 and at most 1")
        if k is None:
            raise CampaignError("retire_agree_fraction", "an agreement fraction needs k, the number of agreeing votes")
        fraction = float(fraction)
    return retire_after, k, fraction


def _validate_share(field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or not 0 <= value <= 1:
        raise CampaignError(field, "a share is a number from 0 to 1")
    return float(value)


def _users(field: str, usernames: Iterable[str]) -> list:
    names = list(usernames)
    if not all(isinstance(n, str) for n in names):
        raise CampaignError(field, "give user names")
    User = get_user_model()
    found = {u.username: u for u in User.objects.filter(username__in=names)}
    missing = [n for n in names if n not in found]
    if missing:
        raise CampaignError(field, f"no such user: {', '.join(missing[:5])}")
    return [found[n] for n in names]


def _unique_slug(name: str, wanted: str | None = None) -> str:
    base = slugify(wanted or name)[:70] or "campaign"
    slug, n = base, 2
    while Campaign.objects.filter(slug=slug).exists():
        slug = f"{base}-{n}"
        n += 1
    return slug


def _text(field: str, value: Any, *, max_length: int, required: bool = False) -> str:
    if not isinstance(value, str):
        raise CampaignError(field, "expected text")
    value = value.strip()
    if required and not value:
        raise CampaignError(field, "this cannot be empty")
    if len(value) > max_length:
        raise CampaignError(field, f"at most {max_length} characters")
    return value


# --------------------------------------------------------------------------------------------- campaigns


EDITABLE = (
    "name",
    "description",
    "question",
    "question_type",
    "classes",
    "selection",
    "sample_size",
    "sample_seed",
    "retire_after",
    "retire_agree_k",
    "retire_agree_fraction",
    "access",
    "volunteers",
    "collaborators",
    "gold_share",
    "exploration_share",
    "strategy",
)
# Fixed once the campaign has gone live: the subjects were chosen with them.
SELECTION_FIELDS = ("selection", "sample_size", "sample_seed")


def _apply(campaign: Campaign, changes: dict[str, Any], *, creating: bool) -> tuple[list | None, list | None]:
    """Validate ``changes`` onto ``campaign`` (unsaved); return volunteer and collaborator lists to set."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise CampaignError(sorted(unknown)[0], "not a campaign setting that can be changed")
    if not creating and campaign.went_live_at is not None:
        for name in SELECTION_FIELDS:
            if name in changes and changes[name] != getattr(campaign, name):
                raise CampaignError(
                    name, "the selection is fixed once a campaign has gone live; use 'add matching alerts'"
                )
    if "name" in changes:
        campaign.name = _text("name", changes["name"], max_length=200, required=True)
    if "description" in changes:
        campaign.description = _text("description", changes["description"], max_length=10_000)
    if "question_type" in changes:
        if changes["question_type"] not in Campaign.QuestionType.values:
            raise CampaignError("question_type", f"one of {', '.join(Campaign.QuestionType.values)}")
        campaign.question_type = changes["question_type"]
        # The streak ensemble scores streak campaigns; braai everything else.
        campaign.model_task = "streaks" if campaign.question_type == Campaign.QuestionType.STREAK else "real_bogus"
    if "classes" in changes and changes["classes"] is not None:
        classes = validate_classes(changes["classes"])
        if not creating and campaign.votes.exists():
            old = {c["key"] for c in campaign.classes}
            if old - {c["key"] for c in classes}:
                raise CampaignError("classes", "classes that already have votes cannot be removed or renamed")
        campaign.classes = classes
    elif creating or "question_type" in changes:
        if campaign.question_type == Campaign.QuestionType.CUSTOM and not campaign.classes:
            raise CampaignError("classes", "a custom campaign needs its classes")
        if campaign.question_type != Campaign.QuestionType.CUSTOM and (creating or not campaign.votes.exists()):
            campaign.classes = default_classes(campaign.question_type)
    if "question" in changes and changes["question"]:
        campaign.question = _text("question", changes["question"], max_length=300)
    elif creating:
        campaign.question = DEFAULT_QUESTIONS[campaign.question_type]
    if "selection" in changes:
        try:
            campaign.selection = compile_filter(changes["selection"] or {}).spec
        except FilterError as exc:
            raise CampaignError(f"selection.{exc.field}" if exc.field else "selection", exc.message) from exc
    if "sample_size" in changes or "sample_seed" in changes:
        size = changes.get("sample_size", campaign.sample_size)
        seed = changes.get("sample_seed", campaign.sample_seed)
        try:
            campaign.sample_size, campaign.sample_seed = validate_sample(size, seed)
        except FilterError as exc:
            raise CampaignError(exc.field, exc.message) from exc
    if {"retire_after", "retire_agree_k", "retire_agree_fraction"} & set(changes):
        campaign.retire_after, campaign.retire_agree_k, campaign.retire_agree_fraction = _validate_retirement(
            changes.get("retire_after", campaign.retire_after),
            changes.get("retire_agree_k", campaign.retire_agree_k),
            changes.get("retire_agree_fraction", campaign.retire_agree_fraction),
        )
    if "access" in changes:
        if changes["access"] not in Campaign.Access.values:
            raise CampaignError("access", f"one of {', '.join(Campaign.Access.values)}")
        campaign.access = changes["access"]
    if "gold_share" in changes:
        campaign.gold_share = _validate_share("gold_share", changes["gold_share"])
    if "exploration_share" in changes:
        campaign.exploration_share = _validate_share("exploration_share", changes["exploration_share"])
    if "strategy" in changes:
        if changes["strategy"] not in Campaign.Strategy.values:
            raise CampaignError("strategy", f"one of {', '.join(Campaign.Strategy.values)}")
        campaign.strategy = changes["strategy"]
    volunteers = _users("volunteers", changes["volunteers"]) if changes.get("volunteers") is not None else None
    collaborators = (
        _users("collaborators", changes["collaborators"]) if changes.get("collaborators") is not None else None
    )
    if collaborators and any(not has_role(u, SCIENTIST) for u in collaborators):
        raise CampaignError("collaborators", "collaborators must be scientists")
    return volunteers, collaborators


@transaction.atomic
def campaign_create(*, actor, name: str, slug: str | None = None, **settings: Any) -> Campaign:
    """A new draft campaign owned by ``actor``. Settings are those of ``EDITABLE``; the classes default to
    the question type's (real/bogus or streak types)."""
    if not can_create_campaign(actor):
        raise PermissionDenied("only scientists and admins create campaigns")
    settings.setdefault("question_type", Campaign.QuestionType.REAL_BOGUS)
    campaign = Campaign(owner=actor, state=Campaign.State.DRAFT)
    volunteers, collaborators = _apply(campaign, {"name": name, **settings}, creating=True)
    if slug is not None and (not isinstance(slug, str) or slugify(slug) != slug or not slug):
        raise CampaignError("slug", "a slug is lowercase letters, digits and hyphens")
    if slug is not None and Campaign.objects.filter(slug=slug).exists():
        raise CampaignError("slug", f"the slug {slug!r} is taken")
    campaign.slug = slug or _unique_slug(campaign.name)
    campaign.save()
    if volunteers is not None:
        campaign.volunteers.set(volunteers)
    if collaborators is not None:
        campaign.collaborators.set(collaborators)
    return campaign


@transaction.atomic
def campaign_update(*, actor, campaign: Campaign, **changes: Any) -> Campaign:
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    _require_manage(actor, campaign)
    if "collaborators" in changes and campaign.owner_id != actor.pk and not has_role(actor, ADMIN):
        raise PermissionDenied("only the owner changes who collaborates on a campaign")
    volunteers, collaborators = _apply(campaign, changes, creating=False)
    campaign.save()
    if volunteers is not None:
        campaign.volunteers.set(volunteers)
    if collaborators is not None:
        campaign.collaborators.set(collaborators)
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
    _require_manage(actor, campaign)
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
    campaign.state = state
    campaign.save(update_fields=["state", "went_live_at", "updated_at"])
    return campaign


@transaction.atomic
def campaign_add_matching_alerts(*, actor, campaign: Campaign, limit: int | None = None) -> int:
    """Add alerts ingested since the campaign went live that match its filter (and are not subjects yet).
    ``limit`` keeps a seeded sample of them, chosen as the original sample was."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    _require_manage(actor, campaign)
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
    _require_manage(actor, campaign)
    if campaign.votes.exists():
        raise CampaignError("state", "a campaign with votes cannot be deleted; finish it instead")
    campaign.delete()


# --------------------------------------------------------------------------------------- tutorial and guide


def _candid_value(candid: Any) -> Any:
    """Candids exceed what a JavaScript number holds exactly, so clients may send them as digit strings."""
    if isinstance(candid, str) and candid.isdigit() and len(candid) <= 20:
        return int(candid)
    return candid


def _alert_by_candid(field: str, candid: Any) -> Alert | None:
    candid = _candid_value(candid)
    if candid is None:
        return None
    if isinstance(candid, bool) or not isinstance(candid, int):
        raise CampaignError(field, "a candid is a whole number")
    alert = Alert.objects.filter(candid=candid).first()
    if alert is None:
        raise CampaignError(field, f"no alert with candid {candid}")
    return alert


def _next_order(qs) -> int:
    last = qs.order_by("-order").values_list("order", flat=True).first()
    return 0 if last is None else last + 1


@transaction.atomic
def tutorial_step_create(
    *, actor, campaign: Campaign, title: str, text: str, example_candid: int | None = None, order: int | None = None
) -> TutorialStep:
    _require_manage(actor, campaign)
    return TutorialStep.objects.create(
        campaign=campaign,
        title=_text("title", title, max_length=200, required=True),
        text=_text("text", text, max_length=10_000, required=True),
        example_alert=_alert_by_candid("example_candid", example_candid),
        order=_next_order(campaign.tutorial_steps) if order is None else _order(order),
    )


def _order(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10_000:
        raise CampaignError("order", "the order is a whole number from 0 to 10000")
    return value


_MISSING = object()


@transaction.atomic
def tutorial_step_update(*, actor, step: TutorialStep, **changes: Any) -> TutorialStep:
    _require_manage(actor, step.campaign)
    unknown = set(changes) - {"title", "text", "example_candid", "order"}
    if unknown:
        raise CampaignError(sorted(unknown)[0], "not a tutorial-step field")
    if "title" in changes:
        step.title = _text("title", changes["title"], max_length=200, required=True)
    if "text" in changes:
        step.text = _text("text", changes["text"], max_length=10_000, required=True)
    if "example_candid" in changes:
        step.example_alert = _alert_by_candid("example_candid", changes["example_candid"])
    if "order" in changes:
        step.order = _order(changes["order"])
    step.save()
    return step


@transaction.atomic
def tutorial_step_delete(*, actor, step: TutorialStep) -> None:
    _require_manage(actor, step.campaign)
    step.delete()


def _examples(field: str, candids: Any) -> list[Alert]:
    if candids is None:
        return []
    if not isinstance(candids, list) or len(candids) > 12:
        raise CampaignError(field, "give at most 12 example candids")
    return [_alert_by_candid(field, c) for c in candids]


def _answer(campaign: Campaign, field: str, answer: Any, *, allow_empty: bool = True) -> str:
    if answer in (None, "") and allow_empty:
        return ""
    if not isinstance(answer, str) or answer not in campaign.answer_keys:
        raise CampaignError(field, f"one of this campaign's classes: {', '.join(campaign.answer_keys)}")
    return answer


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
    _require_manage(actor, campaign)
    entry = FieldGuideEntry.objects.create(
        campaign=campaign,
        title=_text("title", title, max_length=200, required=True),
        text=_text("text", text, max_length=10_000, required=True),
        answer=_answer(campaign, "answer", answer),
        order=_next_order(campaign.field_guide) if order is None else _order(order),
    )
    entry.examples.set(_examples("example_candids", example_candids))
    return entry


@transaction.atomic
def field_guide_entry_update(*, actor, entry: FieldGuideEntry, **changes: Any) -> FieldGuideEntry:
    _require_manage(actor, entry.campaign)
    unknown = set(changes) - {"title", "text", "answer", "example_candids", "order"}
    if unknown:
        raise CampaignError(sorted(unknown)[0], "not a field-guide field")
    if "title" in changes:
        entry.title = _text("title", changes["title"], max_length=200, required=True)
    if "text" in changes:
        entry.text = _text("text", changes["text"], max_length=10_000, required=True)
    if "answer" in changes:
        entry.answer = _answer(entry.campaign, "answer", changes["answer"])
    if "order" in changes:
        entry.order = _order(changes["order"])
    entry.save()
    if "example_candids" in changes:
        entry.examples.set(_examples("example_candids", changes["example_candids"]))
    return entry


@transaction.atomic
def field_guide_entry_delete(*, actor, entry: FieldGuideEntry) -> None:
    _require_manage(actor, entry.campaign)
    entry.delete()


# -------------------------------------------------------------------------------------------- gold standard


@transaction.atomic
def subject_set_gold(*, actor, subject: Subject, answer: str, note: str = "") -> Subject:
    """Mark (or, with an empty answer, unmark) a subject as gold standard with the experts' answer."""
    _require_manage(actor, subject.campaign)
    subject.gold_answer = _answer(subject.campaign, "gold_answer", answer)
    subject.gold_note = _text("gold_note", note or "", max_length=2000) if subject.gold_answer else ""
    subject.save(update_fields=["gold_answer", "gold_note"])
    return subject


@transaction.atomic
def subjects_set_gold(*, actor, campaign: Campaign, answers: dict[int, str]) -> int:
    """Gold answers for many subjects at once, by subject id; all or nothing."""
    _require_manage(actor, campaign)
    subjects = {s.pk: s for s in campaign.subjects.filter(pk__in=list(answers))}
    missing = [pk for pk in answers if pk not in subjects]
    if missing:
        raise CampaignError("subjects", f"not subjects of this campaign: {missing[:5]}")
    for pk, answer in answers.items():
        subjects[pk].gold_answer = _answer(campaign, "gold_answer", answer)
    Subject.objects.bulk_update(list(subjects.values()), ["gold_answer"])
    return len(subjects)


# ---------------------------------------------------------------------------------------------- demo campaigns

DEMO_REAL_BOGUS_SLUG = "demo-real-bogus"
DEMO_STREAK_SLUG = "demo-streak-types"
# Demo truth -> streak-campaign class; "blank" stamps are what volunteers skip, so they carry no gold answer.
DEMO_TRUTH_TO_STREAK = {
    "masked_star": "masked_star",
    "yin_yang": "yin_yang",
    "ghost": "ghost",
    "cosmic_ray": "cosmic_ray",
    "satellite": "satellite",
    "asteroid": "asteroid",
}
BOGUS_TRUTHS = (*DEMO_TRUTH_TO_STREAK, "blank")

REAL_BOGUS_TUTORIAL = [
    (
        "Science, reference, difference",
        "Each candidate shows three stamps: the new SCIENCE image, the deep REFERENCE (template) image, and their "
        "DIFFERENCE. The question is about the object at the centre of the difference image.",
        "real",
    ),
    (
        "What real looks like",
        "A real source is a round, point-like blob at the centre of the difference image, about as wide as the "
        "stars in the science image. It may sit on a galaxy.",
        "real",
    ),
    (
        "What bogus looks like",
        "Bogus detections are artefacts: a badly subtracted or masked bright star, a black-and-white yin-yang "
        "dipole, a cosmic ray (one sharp pixel), a ghost, a streak. Answer Bogus with the b key.",
        "yin_yang",
    ),
    (
        "Keys and skipping",
        "Press r for Real, b for Bogus, s to skip when you cannot tell (a blank or cut-off stamp). Skipping is fine: "
        "skips never count as votes.",
        "blank",
    ),
]
STREAK_TUTORIAL = [
    (
        "Not every detection is a star",
        "These candidates were all flagged as likely bogus. Your task is to say which kind of artefact or streak "
        "sits at the centre of the difference image.",
        "masked_star",
    ),
    (
        "Streaks",
        "A long straight streak across the stamp is usually a satellite. A short streak at the centre can be an "
        "asteroid moving during the exposure: these are the rare ones we most want to find.",
        "satellite",
    ),
    (
        "Bad subtractions",
        "Masked bright stars leave a flat, cut-out core; several badly subtracted stars give black-and-white "
        "yin-yang pairs; ghosts are faint rings or blobs from internal reflections.",
        "yin_yang",
    ),
    (
        "Keys",
        "Press 1-9 for the classes shown under the stamps, s to skip a blank stamp, ? for help.",
        "cosmic_ray",
    ),
]
REAL_BOGUS_GUIDE = {
    "real": "A point source at the centre of the difference image, PSF-shaped like the stars around it.",
    "bogus": "Anything else: subtraction residuals, masked stars, dipoles, cosmic rays, ghosts, streaks.",
}
STREAK_GUIDE_TEXT = {
    "masked_star": "A bright star whose core was masked: a flat or cut-out centre with residual wings.",
    "yin_yang": "Neighbouring black and white lobes: stars that did not subtract cleanly.",
    "ghost": "Faint rings or blobs from reflections inside the telescope ('dementors').",
    "satellite": "A long straight streak crossing the stamp, maybe partly masked.",
    "satellite_flash": "A short, very bright glint from a tumbling satellite.",
    "cosmic_ray": "One or a few very sharp pixels: a particle hit the detector, not light from the sky.",
    "asteroid": "A short streak at the centre: a solar-system object moving during the 30 s exposure.",
    "plausible_asteroid": "A short streak that might be an asteroid but is faint or unclear.",
    "naked_star": "A star that appears in the difference image without being masked.",
}


def _demo_examples(truth: str, n: int) -> list[Alert]:
    return list(Alert.objects.filter(demo_truth=truth).order_by("candid")[:n])


def _ensure_demo_campaign(
    *, owner, slug: str, name: str, description: str, question_type: str, selection: dict, retire_after: int, k: int
) -> tuple[Campaign, bool]:
    campaign = Campaign.objects.filter(slug=slug).first()
    if campaign is not None:
        return campaign, False
    campaign = campaign_create(
        actor=owner,
        slug=slug,
        name=name,
        description=description,
        question_type=question_type,
        selection=selection,
        retire_after=retire_after,
        retire_agree_k=k,
        retire_agree_fraction=0.8,
        gold_share=0.1,
    )
    return campaign, True


def create_demo_campaigns(*, owner) -> list[Campaign]:
    """The two live demo campaigns of ``make run``: real/bogus over the real alerts and the demo alerts, and
    streak types over the bogus-looking demo alerts; each with a tutorial, a field guide and gold subjects
    taken from the demo truth. Running it again changes nothing; running it after more alerts were ingested
    adds them to the live campaigns."""
    campaigns = []
    with transaction.atomic():
        rb, created = _ensure_demo_campaign(
            owner=owner,
            slug=DEMO_REAL_BOGUS_SLUG,
            name="Real or bogus? ZTF alerts",
            description=(
                "Real ZTF alerts from several brokers and nights, mixed with generated demo alerts whose answer we "
                "know. Tell real point sources from subtraction artefacts: your votes train braai."
            ),
            question_type=Campaign.QuestionType.REAL_BOGUS,
            selection={},
            retire_after=5,
            k=4,
        )
        if created:
            for i, (title, text, truth) in enumerate(REAL_BOGUS_TUTORIAL):
                example = _demo_examples(truth, 1)
                tutorial_step_create(
                    actor=owner,
                    campaign=rb,
                    title=title,
                    text=text,
                    example_candid=example[0].candid if example else None,
                    order=i,
                )
            bogus_examples = [a.candid for t in ("masked_star", "yin_yang", "cosmic_ray") for a in _demo_examples(t, 1)]
            for i, (key, text) in enumerate(REAL_BOGUS_GUIDE.items()):
                examples = [a.candid for a in _demo_examples("real", 3)] if key == "real" else bogus_examples
                field_guide_entry_create(
                    actor=owner,
                    campaign=rb,
                    title=rb.class_label(key),
                    text=text,
                    answer=key,
                    example_candids=examples,
                    order=i,
                )
        campaigns.append(rb)

        streak, created = _ensure_demo_campaign(
            owner=owner,
            slug=DEMO_STREAK_SLUG,
            name="Streaks and artefacts",
            description=(
                "Bogus-looking demo alerts: sort masked stars, yin-yangs, ghosts, cosmic rays, satellites and the rare "
                "asteroid streaks. Rare classes matter most."
            ),
            question_type=Campaign.QuestionType.STREAK,
            selection={"demo_truth": list(BOGUS_TRUTHS)},
            retire_after=5,
            k=3,
        )
        if created:
            for i, (title, text, truth) in enumerate(STREAK_TUTORIAL):
                example = _demo_examples(truth, 1)
                tutorial_step_create(
                    actor=owner,
                    campaign=streak,
                    title=title,
                    text=text,
                    example_candid=example[0].candid if example else None,
                    order=i,
                )
            truth_of = {v: k for k, v in DEMO_TRUTH_TO_STREAK.items()}
            for i, cls in enumerate(streak.classes):
                examples = _demo_examples(truth_of[cls["key"]], 3) if cls["key"] in truth_of else []
                field_guide_entry_create(
                    actor=owner,
                    campaign=streak,
                    title=cls["label"],
                    text=STREAK_GUIDE_TEXT.get(cls["key"], cls["label"]),
                    answer=cls["key"],
                    example_candids=[a.candid for a in examples],
                    order=i,
                )
        campaigns.append(streak)

    for campaign in campaigns:
        _go_live_with_gold(campaign, owner)
    return campaigns


def _go_live_with_gold(campaign: Campaign, owner) -> None:
    if not Alert.objects.filter(compile_filter(campaign.selection).q).exists():
        return  # nothing ingested yet: the campaign stays a draft until alerts exist
    if campaign.state == Campaign.State.DRAFT:
        campaign_set_state(actor=owner, campaign=campaign, state=Campaign.State.LIVE)
    elif campaign.state in (Campaign.State.LIVE, Campaign.State.PAUSED):
        campaign_add_matching_alerts(actor=owner, campaign=campaign)
    if campaign.subjects.exclude(gold_answer="").exists():
        return
    # A few gold subjects per class, from the demo truth (never from real alerts: they have no human labels).
    answers: dict[int, str] = {}
    for truth in ("real", *DEMO_TRUTH_TO_STREAK):
        if campaign.question_type == Campaign.QuestionType.REAL_BOGUS:
            answer = "real" if truth == "real" else "bogus"
            per_class = 4 if truth == "real" else 1
        else:
            answer = DEMO_TRUTH_TO_STREAK.get(truth)
            per_class = 2
        if answer is None:
            continue
        picks = campaign.subjects.filter(alert__demo_truth=truth).order_by("random_key")[:per_class]
        answers.update({s.pk: answer for s in picks})
    if answers:
        subjects_set_gold(actor=owner, campaign=campaign, answers=answers)
