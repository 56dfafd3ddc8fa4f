"""Where the active model and the volunteers disagree, and sending those candidates for an expert answer.

The subjects and their gold notes belong to labeling (:mod:`labeling.expert_review`, :mod:`labeling.campaigns`);
this module says which candidates and why.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from django.contrib.auth import get_user_model
from django.db.models import Count

from classifiers.console.compare import candidate_card
from classifiers.console.versions import ConsoleError, version_row
from classifiers.evaluation_data import operating_threshold
from classifiers.labelled import QUESTION_TYPES, positive_labels
from classifiers.models import ModelVersion, Score, Task
from classifiers.registry import active_version
from core.roles import ADMIN, SCIENTIST
from labeling.campaigns.permissions import can_create_campaign
from labeling.campaigns.services import campaign_create
from labeling.campaigns.validation import CampaignError
from labeling.expert_review import expert_review_note, subjects_send_for_expert_answer
from labeling.models import SKIP, Alert, Campaign, Subject, Vote

SOURCE = "the ML console"


def find_disagreements(
    task: str, *, campaign: Campaign | None = None, label: str | None = None, limit: int = 60, min_votes: int = 3
) -> dict:
    """Subjects whose volunteer consensus and active-model call differ, the most confident first.

    Confidence of a disagreement = how far the score sits on the wrong side (|score - consensus|, 0..1) times
    how sure the volunteers were (weighted posterior, else majority fraction). Subjects count once they are
    retired or have ``min_votes`` votes."""
    version = active_version(task)
    if version is None:
        return {"version": None, "rows": [], "threshold": None}
    positives = positive_labels(task)
    threshold = operating_threshold(version)
    subjects = (
        Subject.objects.filter(campaign__question_type=QUESTION_TYPES[Task(task)])
        .exclude(majority_label="")
        .exclude(majority_label=SKIP)
        .filter(alert__scores__version=version)
        .select_related("campaign", "alert")
    )
    subjects = subjects.filter(retired=True) | subjects.filter(n_votes__gte=min_votes)
    if campaign is not None:
        subjects = subjects.filter(campaign=campaign)
    if label:
        subjects = subjects.filter(majority_label=label) | subjects.filter(weighted_label=label)
    subjects = list(subjects.distinct())
    scores = dict(
        Score.objects.filter(version=version, alert_id__in=[s.alert_id for s in subjects]).values_list(
            "alert_id", "score"
        )
    )
    candidates = []
    for s in subjects:
        consensus = s.weighted_label or s.majority_label
        y = int(consensus in positives)
        score = scores[s.alert_id]
        if int(score >= threshold) == y:
            continue
        sure = s.weighted_posterior if s.weighted_posterior is not None else (s.majority_fraction or 0.0)
        candidates.append((abs(score - y) * sure, s, consensus, score, sure))
    candidates.sort(key=lambda c: (-c[0], c[1].pk))
    chosen = candidates[:limit]
    votes = _vote_counts([c[1].pk for c in chosen])
    rows = [
        {
            **candidate_card(s.alert, version=version),
            "subject_id": s.pk,
            "campaign": {"id": s.campaign_id, "slug": s.campaign.slug, "name": s.campaign.name},
            "consensus": consensus,
            "consensus_label": s.campaign.class_label(consensus),
            "consensus_confidence": sure,
            "score": score,
            "model_says": "positive" if score >= threshold else "negative",
            "strength": strength,
            "votes": votes.get(s.pk, {}),
            "n_votes": s.n_votes,
            "retired": s.retired,
            "gold_answer": s.gold_answer,
        }
        for strength, s, consensus, score, sure in chosen
    ]
    return {"version": version_row(version), "threshold": threshold, "rows": rows, "n_disagreeing": len(candidates)}


def _vote_counts(subject_ids: list[int]) -> dict[int, dict[str, int]]:
    out: dict[int, Counter] = {}
    for subject_id, answer, n in (
        Vote.objects.filter(subject_id__in=subject_ids).values_list("subject_id", "answer").annotate(n=Count("id"))
    ):
        out.setdefault(subject_id, Counter())[answer] = n
    return {k: dict(v.most_common()) for k, v in out.items()}


def review_campaigns(task: str):
    """Campaigns disagreements can be sent to: same question, not finished."""
    return Campaign.objects.filter(question_type=QUESTION_TYPES[Task(task)]).exclude(state=Campaign.State.FINISHED)


def review_classes(campaigns) -> list[tuple[str, str]]:
    """Every class of these campaigns once, (key, label), in the order the campaigns list them."""
    classes: dict[str, str] = {}
    for campaign in campaigns:
        for cls in campaign.classes:
            classes.setdefault(cls["key"], cls.get("label", cls["key"]))
    return list(classes.items())


def _alerts_for(subject_ids: list[int], alert_ids: list[int]) -> list[int]:
    ids = list(dict.fromkeys(int(i) for i in alert_ids))
    if subject_ids:
        ids += [
            i for i in Subject.objects.filter(pk__in=subject_ids).values_list("alert_id", flat=True) if i not in ids
        ]
    if not ids:
        raise ConsoleError("subjects", "select at least one candidate")
    return ids


def _reasons(version: ModelVersion | None, alert_id: int, task: str) -> list[str]:
    why = []
    if version is not None:
        score = Score.objects.filter(version=version, alert_id=alert_id).values_list("score", flat=True).first()
        if score is not None:
            why.append(f"{version.label} scored {score:.2f}")
    consensus = (
        Subject.objects.filter(alert_id=alert_id, campaign__question_type=QUESTION_TYPES[Task(task)])
        .exclude(majority_label="")
        .order_by("-n_votes")
        .values_list("majority_label", "majority_fraction")
        .first()
    )
    if consensus:
        why.append(f"volunteers said {consensus[0]} ({(consensus[1] or 0) * 100:.0f}%)")
    return why


def _campaign(slug: str) -> Campaign:
    if not slug:
        raise ConsoleError("campaign", "choose a campaign, or create a new one")
    campaign = Campaign.objects.filter(slug=slug).first()
    if campaign is None:
        raise ConsoleError("campaign", f"no campaign with slug {slug!r}")
    return campaign


def send_to_gold_review(
    *, actor, task: str, campaign_slug: str, subject_ids: list[int] = (), alert_ids: list[int] = ()
) -> dict:
    """Put the chosen candidates in the campaign (adding subjects where missing) marked as needing an expert
    answer, each with a note saying why (the active version's score, the volunteers' call)."""
    campaign = _campaign(campaign_slug)
    if campaign.question_type != QUESTION_TYPES[Task(task)]:
        raise ConsoleError("campaign", f"{campaign.name} asks a {campaign.get_question_type_display()} question")
    ids = _alerts_for(list(subject_ids), list(alert_ids))
    version = active_version(task)
    notes = {
        alert_id: expert_review_note(sender=actor.username, source=SOURCE, reasons=_reasons(version, alert_id, task))
        for alert_id in ids
    }
    return {
        "campaign_name": campaign.name,
        **subjects_send_for_expert_answer(actor=actor, campaign=campaign, notes=notes),
    }


def campaign_owner_choices():
    """Who may own a campaign made of disagreements: active scientists and admins."""
    return (
        get_user_model()
        .objects.filter(is_active=True, groups__name__in=[SCIENTIST, ADMIN])
        .distinct()
        .order_by("username")
    )


def send_to_new_campaign(
    *,
    actor,
    task: str,
    name: str,
    owner_username: str = "",
    subject_ids: list[int] = (),
    alert_ids: list[int] = (),
) -> Campaign:
    """A new draft campaign over exactly the chosen candidates (its selection lists their candids), owned by
    ``owner_username`` (default: the actor) — a scientist, since scientists run campaigns — for them to review
    and take live."""
    owner = get_user_model().objects.filter(username=owner_username or actor.username).first()
    name = (name or "").strip()
    if not name:
        raise ConsoleError("name", "give the new campaign a name")
    if owner is None or not can_create_campaign(owner):
        raise ConsoleError("owner", "the new campaign's owner must be a scientist or an admin")
    ids = _alerts_for(list(subject_ids), list(alert_ids))
    candids = sorted(Alert.objects.filter(pk__in=ids).values_list("candid", flat=True))
    version = active_version(task)
    description = (
        f"{len(candids)} candidates where the volunteers' consensus and "
        f"{version.label if version else 'the active model'} disagree, sent from {SOURCE} by "
        f"{actor.username} on {dt.date.today().isoformat()} for expert review."
    )
    try:
        return campaign_create(
            actor=owner,
            name=name,
            description=description,
            question_type=QUESTION_TYPES[Task(task)],
            selection={"candid": candids},
        )
    except CampaignError as exc:
        raise ConsoleError(exc.field or "name", exc.message) from exc
