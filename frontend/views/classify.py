"""The classify page: one campaign, candidate after candidate, keyboard first.

The page itself is a shell: subjects arrive through the classify API (``classifiers.api.classify`` serves the
cards with the model's verdict, ``labeling.api.classify`` takes the votes) into a small queue kept by the
scripts in ``frontend/static/frontend/js/classify/``, votes leave through a retried outbox, and the live counter
listens on ``ws/campaigns/<slug>/``. Everything the scripts need is in one ``json_script`` block.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, render
from django.urls import path

from core.roles import VOLUNTEER, role_required
from core.urls import campaign_live_socket_path, classify_api_urls
from labeling.cards import example_card
from labeling.models import SKIP, Campaign, FieldGuideEntry, TutorialSeen, TutorialStep
from labeling.progress import campaign_progress, volunteer_stats
from labeling.votes import can_classify

# Keys the page uses for its own tools. A campaign class that claims one of them keeps it (its answer matters
# more than a tool) and the tool is then reached by its button only.
TOOL_KEYS = {
    "z": "zoom",
    "x": "stretch",
    "e": "explanation",
    "g": "field guide",
    "t": "done & talk",
    "0": "reset zoom",
    "?": "help",
}
SKIP_KEY = "s"


def answer_buttons(campaign: Campaign) -> list[dict]:
    """The campaign's classes as buttons, with their shortcut keys, then Skip."""
    buttons = []
    used = {SKIP_KEY}
    for i, cls in enumerate(campaign.classes):
        key = str(cls.get("shortcut", "")).lower()[:1]
        if not key or key in used or key == "?":
            key = str(i + 1) if i < 9 and str(i + 1) not in used else ""
        if key:
            used.add(key)
        buttons.append(
            {
                "key": cls["key"],
                "label": cls.get("label", cls["key"]),
                "shortcut": key,
                "description": cls.get("description", ""),
                "tone": cls["key"] if cls["key"] in ("real", "bogus") else "class",
            }
        )
    buttons.append(
        {
            "key": SKIP,
            "label": "Skip",
            "shortcut": SKIP_KEY,
            "description": "Not sure, blank or cut-off images. Skips never count as votes.",
            "tone": "skip",
        }
    )
    return buttons


def default_tutorial(campaign: Campaign, buttons: list[dict]) -> list[dict]:
    keys = ", ".join(f"{b['shortcut']} for {b['label']}" for b in buttons if b["shortcut"])
    return [
        {
            "title": f"Welcome to {campaign.name}",
            "text": campaign.description
            or "Thank you for helping. Each candidate is a change the telescope saw in the sky tonight.",
        },
        {
            "title": "Science − Reference = Difference",
            "text": "The new image (science) minus a deep older image (reference) leaves only what changed: the "
            "difference. Judge the object at the centre of the difference image, under the crosshair.",
        },
        {"title": "Your answer", "text": f"{campaign.question} Keys: {keys}. Then press Enter (Done)."},
        {
            "title": "Tools",
            "text": "z zooms all three stamps together (drag or arrow keys to pan, 0 to reset), x changes the "
            "stretch, g opens the field guide, ? lists every key. Done & Talk (t) opens the candidate's "
            "discussion after your vote.",
        },
    ]


def tutorial_steps(campaign: Campaign, buttons: list[dict]) -> list[dict]:
    steps = [
        {
            "title": step.title,
            "text": step.text,
            "example": example_card(step.example_alert) if step.example_alert_id else None,
        }
        for step in TutorialStep.objects.filter(campaign=campaign).select_related("example_alert")
    ]
    return steps or default_tutorial(campaign, buttons)


def field_guide(campaign: Campaign, buttons: list[dict]) -> list[dict]:
    entries = [
        {
            "title": entry.title,
            "text": entry.text,
            "answer": entry.answer,
            "answer_label": campaign.class_label(entry.answer) if entry.answer else "",
            "examples": [example_card(a) for a in entry.examples.all()[:6]],
        }
        for entry in FieldGuideEntry.objects.filter(campaign=campaign).prefetch_related("examples")
    ]
    if entries:
        return entries
    return [
        {"title": b["label"], "text": b["description"], "answer": b["key"], "answer_label": b["label"], "examples": []}
        for b in buttons
    ]


@role_required(VOLUNTEER)
def classify_page(request, slug: str):
    campaign = get_object_or_404(Campaign, slug=slug)
    if not can_classify(campaign=campaign, volunteer=request.user):
        if campaign.state != Campaign.State.LIVE:
            raise PermissionDenied(f"“{campaign.name}” is {campaign.get_state_display().lower()}: it is not open.")
        raise PermissionDenied(f"“{campaign.name}” is open to listed volunteers only.")
    buttons = answer_buttons(campaign)
    claimed = {b["shortcut"] for b in buttons}
    tool_keys = {key: tool for key, tool in TOOL_KEYS.items() if key not in claimed}
    config = {
        "slug": campaign.slug,
        "name": campaign.name,
        "question": campaign.question,
        "question_type": campaign.question_type,
        "model_task": campaign.model_task,
        "answers": buttons,
        "tool_keys": tool_keys,
        "api": classify_api_urls(campaign.slug),
        "ws": campaign_live_socket_path(campaign.slug),
        "csrf": get_token(request),
        "tutorial_seen": TutorialSeen.objects.filter(campaign=campaign, volunteer=request.user).exists(),
        "tutorial": tutorial_steps(campaign, buttons),
        "field_guide": field_guide(campaign, buttons),
        "stats": volunteer_stats(campaign=campaign, volunteer=request.user),
        "progress": campaign_progress(campaign_id=campaign.pk),
    }
    return render(
        request,
        "frontend/classify/classify.html",
        {"campaign": campaign, "buttons": buttons, "tool_keys": tool_keys, "config": config},
    )


urlpatterns = [path("classify/<slug:slug>/", classify_page, name="classify")]
