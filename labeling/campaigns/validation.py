"""What a valid campaign is: its classes, retirement rule, shares, users, texts; and the checks the services
run on every change before they write."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.utils.text import slugify

from core.errors import ServiceError
from core.roles import SCIENTIST, has_role
from labeling.filters import FilterError, compile_filter, validate_sample
from labeling.filters_rubin import keeps_only_rubin
from labeling.models import REAL_BOGUS_CLASSES, SKIP, STREAK_CLASSES, Alert, Campaign

MAX_CLASSES = 20
# Keys the classify page keeps for itself: s skip, z zoom, ? help.
RESERVED_SHORTCUTS = {"s", "z", "?"}
_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")


class CampaignError(ServiceError):
    """Invalid campaign input; ``field`` names what is wrong so forms and the API can show it there."""

    def __init__(self, field: str, message: str):
        super().__init__(message, field=field)


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


def clean_slug(slug: Any, name: str) -> str:
    """The slug asked for, checked and free; or one made from the name, numbered until free."""
    if slug is not None:
        if not isinstance(slug, str) or not slug or slugify(slug) != slug:
            raise CampaignError("slug", "a slug is lowercase letters, digits and hyphens")
        if Campaign.objects.filter(slug=slug).exists():
            raise CampaignError("slug", f"the slug {slug!r} is taken")
        return slug
    base = slugify(name)[:70] or "campaign"
    slug, n = base, 2
    while Campaign.objects.filter(slug=slug).exists():
        slug = f"{base}-{n}"
        n += 1
    return slug


def clean_text(field: str, value: Any, *, max_length: int, required: bool = False) -> str:
    if not isinstance(value, str):
        raise CampaignError(field, "expected text")
    value = value.strip()
    if required and not value:
        raise CampaignError(field, "this cannot be empty")
    if len(value) > max_length:
        raise CampaignError(field, f"at most {max_length} characters")
    return value


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


# The classifier task of a real/bogus campaign whose filter keeps only Rubin alerts (classifiers defines it;
# labeling names it as a plain string, since labeling never imports classifiers).
RUBIN_REAL_BOGUS_TASK = "rubin_real_bogus"


def model_task_for(question_type: str, selection: dict[str, Any] | None) -> str:
    """The classifier task whose scores order a campaign's queue: the streak ensemble for streak campaigns,
    Rubin's real/bogus model for a real/bogus campaign of Rubin alerts only, braai for everything else (ZTF
    and mixed selections, custom questions)."""
    if question_type == Campaign.QuestionType.STREAK:
        return "streaks"
    if question_type == Campaign.QuestionType.REAL_BOGUS and keeps_only_rubin(selection or {}):
        return RUBIN_REAL_BOGUS_TASK
    return "real_bogus"


def apply_changes(campaign: Campaign, changes: dict[str, Any], *, creating: bool) -> tuple[list | None, list | None]:
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
        campaign.name = clean_text("name", changes["name"], max_length=200, required=True)
    if "description" in changes:
        campaign.description = clean_text("description", changes["description"], max_length=10_000)
    if "question_type" in changes:
        if changes["question_type"] not in Campaign.QuestionType.values:
            raise CampaignError("question_type", f"one of {', '.join(Campaign.QuestionType.values)}")
        campaign.question_type = changes["question_type"]
        campaign.model_task = model_task_for(campaign.question_type, campaign.selection)
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
        campaign.question = clean_text("question", changes["question"], max_length=300)
    elif creating:
        campaign.question = DEFAULT_QUESTIONS[campaign.question_type]
    if "selection" in changes:
        try:
            campaign.selection = compile_filter(changes["selection"] or {}).spec
        except FilterError as exc:
            raise CampaignError(f"selection.{exc.field}" if exc.field else "selection", exc.message) from exc
        if campaign.question_type == Campaign.QuestionType.REAL_BOGUS:
            # A real/bogus campaign follows its alerts' survey: narrowing it to Rubin hands it to Rubin's model.
            campaign.model_task = model_task_for(campaign.question_type, campaign.selection)
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


def _candid_value(candid: Any) -> Any:
    """Candids exceed what a JavaScript number holds exactly, so clients may send them as digit strings."""
    if isinstance(candid, str) and candid.isdigit() and len(candid) <= 20:
        return int(candid)
    return candid


def alert_by_candid(field: str, candid: Any) -> Alert | None:
    candid = _candid_value(candid)
    if candid is None:
        return None
    if isinstance(candid, bool) or not isinstance(candid, int):
        raise CampaignError(field, "a candid is a whole number")
    alert = Alert.objects.filter(candid=candid).first()
    if alert is None:
        raise CampaignError(field, f"no alert with candid {candid}")
    return alert


def clean_order(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10_000:
        raise CampaignError("order", "the order is a whole number from 0 to 10000")
    return value


def example_alerts(field: str, candids: Any) -> list[Alert]:
    if candids is None:
        return []
    if not isinstance(candids, list) or len(candids) > 12:
        raise CampaignError(field, "give at most 12 example candids")
    return [alert_by_candid(field, c) for c in candids]


def clean_answer(campaign: Campaign, field: str, answer: Any) -> str:
    """One of the campaign's classes, or "" for none."""
    if answer in (None, ""):
        return ""
    if not isinstance(answer, str) or answer not in campaign.answer_keys:
        raise CampaignError(field, f"one of this campaign's classes: {', '.join(campaign.answer_keys)}")
    return answer
