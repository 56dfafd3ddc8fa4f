"""The ML lead console's reads and writes, shared by its pages (frontend/views/console.py) and its API
(classifiers/api/console.py).

Reads (selectors) return plain dicts ready for a template or a serializer; the heavier ones (version
comparison, slices) are cached under a key that changes whenever their inputs do (new scores, newly retired
subjects, a promotion), so a page load never waits on a bootstrap it has already done. Drift is only read:
:mod:`classifiers.drift` computes it in the background.

Writes (services) are promote and roll back — through :mod:`classifiers.registry`, the one implementation —
and sending disagreements to a campaign's gold-standard review or to a new draft campaign.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import numpy as np
from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone

from classifiers import evaluation
from classifiers.drift import META_KEY, PERCENTILES, VARIABLES, resolve_night
from classifiers.evaluation_data import (
    QUESTION_TYPES,
    SOURCE_LABELS,
    evaluation_set,
    operating_threshold,
    positive_answers,
)
from classifiers.models import DriftNight, ModelVersion, RegistryEvent, Score, Task
from labeling.models import SKIP, Campaign, Subject, Vote

CACHE_SECONDS = 600
HEADLINE = evaluation.HEADLINE_METRICS
MIN_HELDOUT = 30  # below this many held-out candidates in common, compare on every labelled candidate instead
NEEDS_EXPERT_PREFIX = "Needs an expert answer"


class ConsoleError(ValueError):
    """Bad console input; ``field`` names the parameter so forms and the API can say which."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


# ---------------------------------------------------------------------------------------------------------
# Versions and the audit log.


def _versions():
    return ModelVersion.objects.defer("weights").select_related("parent", "created_by")


def _cache():
    """The console's shared cache (web server and worker processes read the same entries)."""
    from classifiers.console_plots import plot_cache

    return plot_cache()


def get_version(value, field: str = "version") -> ModelVersion:
    """A version by primary key, or by ``task:number`` (``real_bogus:3``)."""
    text = str(value or "").strip()
    if not text:
        raise ConsoleError(field, "choose a model version")
    try:
        if ":" in text:
            task, number = text.split(":", 1)
            return _versions().get(task=task, version=int(number))
        return _versions().get(pk=int(text))
    except (ValueError, ModelVersion.DoesNotExist):
        raise ConsoleError(field, f"no model version {text!r}") from None


def version_row(version: ModelVersion) -> dict:
    metrics = version.metrics or {}
    training = version.training_set or {}
    return {
        "id": version.pk,
        "task": version.task,
        "task_label": Task(version.task).label,
        "version": version.version,
        "label": version.label,
        "status": version.status,
        "architecture": version.architecture,
        "parent": version.parent.label if version.parent_id and version.parent else None,
        "parent_id": version.parent_id,
        "training_set_size": training.get("n_labels"),
        "training_source": training.get("source", ""),
        "created_at": version.created_at,
        "created_by": version.created_by.username if version.created_by_id and version.created_by else None,
        "threshold": operating_threshold(version),
        "metrics": {m: metrics.get(m) for m in HEADLINE},
        "test_n": metrics.get("n"),
        "notes": version.notes,
    }


def versions_by_task() -> list[dict]:
    """Every version of every task, newest first, with its headline held-out metrics."""
    rows = [version_row(v) for v in _versions().order_by("task", "-version")]
    return [
        {
            "task": task,
            "label": label,
            "versions": [r for r in rows if r["task"] == task],
            "active": next((r for r in rows if r["task"] == task and r["status"] == "active"), None),
        }
        for task, label in Task.choices
    ]


def audit_log(*, task: str | None = None, limit: int = 50) -> list[dict]:
    events = RegistryEvent.objects.select_related("version", "previous_active", "actor")
    if task:
        events = events.filter(task=task)
    return [
        {
            "id": e.pk,
            "at": e.at,
            "task": e.task,
            "action": e.action,
            "action_label": e.get_action_display(),
            "version": e.version.label,
            "version_id": e.version_id,
            "previous_active": e.previous_active.label if e.previous_active else None,
            "actor": e.actor.username if e.actor else None,
            "reason": e.reason,
        }
        for e in events[:limit]
    ]


def promote_version(*, actor, version: ModelVersion, reason: str) -> ModelVersion:
    """Promote through the registry (atomic, audited); returns the new active version."""
    from classifiers import registry

    try:
        return registry.promote(version, actor=actor, reason=reason)
    except registry.RegistryError as exc:
        raise ConsoleError("reason" if "reason" in str(exc) else "version", str(exc)) from exc


def rollback_task(*, actor, task: str, reason: str) -> ModelVersion:
    """Roll back through the registry (atomic, audited); returns the version active again."""
    from classifiers import registry

    try:
        return registry.rollback(task, actor=actor, reason=reason)
    except registry.RegistryError as exc:
        raise ConsoleError("reason" if "reason" in str(exc) else "task", str(exc)) from exc


# ---------------------------------------------------------------------------------------------------------
# Comparing two versions.


def inputs_key(*parts) -> str:
    """A cache key that moves whenever scores, consensus or the registry move."""
    scores = Score.objects.aggregate(n=Count("id"), last=Max("scored_at"))
    subjects = Subject.objects.filter(retired=True).aggregate(n=Count("id"), last=Max("retired_at"))
    last_event = RegistryEvent.objects.aggregate(last=Max("id"))["last"]
    from classifiers.console_plots import cache_key

    return cache_key(parts, scores, subjects, last_event)


def _held_out(version: ModelVersion) -> set[int] | None:
    ids = (version.training_set or {}).get("test_alert_ids")
    return {int(i) for i in ids} if isinstance(ids, list) else None


def compare_versions(
    a: ModelVersion, b: ModelVersion, *, n_resamples: int = 1000, seed: int = 0, top: int = 12
) -> dict:
    """Both versions on the same labelled candidates: metrics, ROC and precision-recall curves, confusion
    matrices, paired-bootstrap deltas (b - a), and the candidates whose scores changed most."""
    if a.task != b.task:
        raise ConsoleError("b", f"{a.label} and {b.label} answer different tasks; compare versions of one task")
    if a.pk == b.pk:
        raise ConsoleError("b", "choose two different versions")
    key = inputs_key("compare", a.pk, b.pk, n_resamples, seed, top)
    cached = _cache().get(key)
    if cached is not None:
        return cached
    result = _compare(a, b, n_resamples=n_resamples, seed=seed, top=top)
    _cache().set(key, result, CACHE_SECONDS)
    return result


def _compare(a: ModelVersion, b: ModelVersion, *, n_resamples: int, seed: int, top: int) -> dict:
    data = evaluation_set(a.task, [a, b])
    scope = "labelled"
    held_a, held_b = _held_out(a), _held_out(b)
    if held_a is not None and held_b is not None:
        in_both = np.isin(data.alert_ids, np.fromiter(held_a & held_b, dtype=np.int64))
        if in_both.sum() >= MIN_HELDOUT:
            scope = "held_out"
            data = _subset(data, in_both)
    ta, tb = operating_threshold(a), operating_threshold(b)
    ya, sa, sb = data.y, data.scores[a.pk], data.scores[b.pk]
    result = {
        "task": a.task,
        "a": version_row(a),
        "b": version_row(b),
        "n": len(data),
        "scope": scope,
        "scope_note": (
            "held-out candidates of both versions (neither trained on them)"
            if scope == "held_out"
            else "every labelled candidate both versions scored; a version may have trained on some of them"
        ),
        "label_sources": {SOURCE_LABELS[k]: v for k, v in data.source_counts().items()},
        "source_note": data.source_note(),
        "metrics_a": evaluation.binary_metrics(ya, sa, ta, pr=True) if len(data) else None,
        "metrics_b": evaluation.binary_metrics(ya, sb, tb, pr=True) if len(data) else None,
        "deltas": [
            d.as_dict()
            for d in evaluation.bootstrap_deltas(
                ya, sa, sb, threshold_a=ta, threshold_b=tb, n_resamples=n_resamples, seed=seed
            )
        ]
        if len(data)
        else [],
        "bootstrap": {"n_resamples": n_resamples, "confidence": 0.95, "seed": seed, "paired": True},
        "changed": changed_most(a, b, limit=top),
    }
    return result


def _subset(data, mask):
    from dataclasses import replace

    return replace(
        data,
        alert_ids=data.alert_ids[mask],
        y=data.y[mask],
        source=data.source[mask],
        scores={k: v[mask] for k, v in data.scores.items()},
        fid=data.fid[mask],
        magpsf=data.magpsf[mask],
        gal_b=data.gal_b[mask],
        isdiffpos=data.isdiffpos[mask],
        ssdistnr=data.ssdistnr[mask],
        night=[n for n, keep in zip(data.night, mask, strict=True) if keep],
    )


def changed_most(a: ModelVersion, b: ModelVersion, *, limit: int = 12) -> list[dict]:
    """Candidates scored by both versions whose scores differ most, largest change first."""
    sa = dict(Score.objects.filter(version=a).values_list("alert_id", "score"))
    sb = dict(Score.objects.filter(version=b).values_list("alert_id", "score"))
    common = np.fromiter((i for i in sa if i in sb), dtype=np.int64)
    if common.size == 0:
        return []
    delta = np.array([sb[i] - sa[i] for i in common.tolist()])
    order = np.argsort(-np.abs(delta), kind="stable")[:limit]
    ids = common[order].tolist()
    from labeling.models import Alert

    alerts = Alert.objects.in_bulk(ids)
    rows = []
    for alert_id, d in zip(ids, delta[order].tolist(), strict=True):
        alert = alerts[alert_id]
        rows.append(
            {
                **candidate_card(alert, version=b),
                "score_a": sa[alert_id],
                "score_b": sb[alert_id],
                "delta": d,
                "truth": alert.demo_truth or None,
            }
        )
    return rows


def candidate_card(alert, *, version: ModelVersion | None) -> dict:
    from labeling.cards import stamp_urls

    return {
        "alert_id": alert.pk,
        "candid": alert.candid,
        "object_id": alert.object_id,
        "night": alert.night.isoformat(),
        "magpsf": alert.magpsf,
        "filter": alert.filter_name,
        "stamps": stamp_urls(alert.candid),
        "gradcam_url": explanation_url(alert.candid, version, "gradcam"),
        "gradcam_version": version.label if version is not None else None,
        "alert_url": f"/alerts/{alert.candid}/",
    }


def explanation_url(candid: int, version: ModelVersion | None, kind: str) -> str | None:
    """The explanation overlay PNG the classifiers API serves for this version, or None without a version."""
    from django.urls import NoReverseMatch, reverse

    if version is None:
        return None
    try:
        return reverse("api-alert-explanation", kwargs={"candid": candid, "kind": kind}) + f"?version={version.pk}"
    except NoReverseMatch:
        return None


# ---------------------------------------------------------------------------------------------------------
# Slices.


def slice_report(version: ModelVersion) -> dict:
    key = inputs_key("slices", version.pk)
    cached = _cache().get(key)
    if cached is not None:
        return cached
    data = evaluation_set(version.task, [version])
    keys = evaluation.slice_keys(
        fid=data.fid,
        magpsf=data.magpsf,
        gal_b=data.gal_b,
        isdiffpos=data.isdiffpos,
        ssdistnr=data.ssdistnr,
        night=[n.isoformat() for n in data.night],
    )
    report = evaluation.slice_metrics(data.y, data.scores[version.pk], keys, threshold=operating_threshold(version))
    report["version"] = version_row(version)
    report["source_note"] = data.source_note()
    report["label_sources"] = {SOURCE_LABELS[k]: v for k, v in data.source_counts().items()}
    _cache().set(key, report, CACHE_SECONDS)
    return report


# ---------------------------------------------------------------------------------------------------------
# Disagreements between the active model and the volunteers.


def disagreements(
    task: str, *, campaign: Campaign | None = None, label: str | None = None, limit: int = 60, min_votes: int = 3
) -> dict:
    """Subjects whose volunteer consensus and active-model call differ, the most confident first.

    Confidence of a disagreement = how far the score sits on the wrong side (|score - consensus|, 0..1) times
    how sure the volunteers were (weighted posterior, else majority fraction). Subjects count once they are
    retired or have ``min_votes`` votes."""
    from classifiers.registry import active_version

    version = active_version(task)
    if version is None:
        return {"version": None, "rows": [], "threshold": None}
    positives = positive_answers(task)
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
    rows = []
    for strength, s, consensus, score, sure in chosen:
        rows.append(
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
        )
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


def _alerts_for(subject_ids: list[int], alert_ids: list[int]) -> list[int]:
    ids = list(dict.fromkeys(int(i) for i in alert_ids))
    if subject_ids:
        ids += [
            i for i in Subject.objects.filter(pk__in=subject_ids).values_list("alert_id", flat=True) if i not in ids
        ]
    if not ids:
        raise ConsoleError("subjects", "select at least one candidate")
    return ids


def _review_note(actor, version: ModelVersion | None, alert_id: int, task: str) -> str:
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
    stamp = timezone.now().strftime("%Y-%m-%d")
    return f"{NEEDS_EXPERT_PREFIX} (sent from the ML console by {actor.username} on {stamp}): " + "; ".join(why)


@transaction.atomic
def send_to_gold_review(
    *, actor, task: str, campaign: Campaign, subject_ids: list[int] = (), alert_ids: list[int] = ()
) -> dict:
    """Put the chosen candidates in ``campaign`` (adding subjects where missing) marked as needing an expert
    answer: a gold note saying why, the gold answer left for the campaign's scientists to give. Subjects that
    already have an expert answer keep it."""
    if campaign.question_type != QUESTION_TYPES[Task(task)]:
        raise ConsoleError("campaign", f"{campaign.name} asks a {campaign.get_question_type_display()} question")
    if campaign.state == Campaign.State.FINISHED:
        raise ConsoleError("campaign", f"{campaign.name} is finished and takes no more subjects")
    ids = _alerts_for(list(subject_ids), list(alert_ids))
    from classifiers.registry import active_version
    from labeling.filters import random_unit
    from labeling.models import Alert

    version = active_version(task)
    candids = dict(Alert.objects.filter(pk__in=ids).values_list("id", "candid"))
    missing = [i for i in ids if i not in candids]
    if missing:
        raise ConsoleError("alerts", f"no alert with id {missing[0]}")
    existing = {s.alert_id: s for s in Subject.objects.select_for_update().filter(campaign=campaign, alert_id__in=ids)}
    added = 0
    marked = 0
    for alert_id in ids:
        subject = existing.get(alert_id)
        if subject is None:
            subject = Subject.objects.create(
                campaign=campaign, alert_id=alert_id, random_key=random_unit(candids[alert_id], campaign.sample_seed)
            )
            added += 1
        if subject.gold_answer:
            continue
        subject.gold_note = _review_note(actor, version, alert_id, task)
        subject.save(update_fields=["gold_note"])
        marked += 1
    return {"campaign": campaign.slug, "added": added, "marked": marked, "already_answered": len(ids) - marked}


def send_to_new_campaign(
    *, actor, task: str, name: str, owner, subject_ids: list[int] = (), alert_ids: list[int] = ()
) -> Campaign:
    """A new draft campaign over exactly the chosen candidates (its selection lists their candids), owned by
    ``owner`` — a scientist, since scientists run campaigns — for them to review and take live."""
    from labeling.campaigns import CampaignError, campaign_create, can_create_campaign
    from labeling.models import Alert

    name = (name or "").strip()
    if not name:
        raise ConsoleError("name", "give the new campaign a name")
    if owner is None or not can_create_campaign(owner):
        raise ConsoleError("owner", "the new campaign's owner must be a scientist or an admin")
    ids = _alerts_for(list(subject_ids), list(alert_ids))
    candids = sorted(Alert.objects.filter(pk__in=ids).values_list("candid", flat=True))
    from classifiers.registry import active_version

    version = active_version(task)
    description = (
        f"{len(candids)} candidates where the volunteers' consensus and "
        f"{version.label if version else 'the active model'} disagree, sent from the ML console by "
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


def pending_expert_review(limit: int = 50) -> list[dict]:
    """Subjects sent for an expert answer that have none yet."""
    rows = (
        Subject.objects.filter(gold_answer="", gold_note__startswith=NEEDS_EXPERT_PREFIX)
        .select_related("campaign", "alert")
        .order_by("-pk")[:limit]
    )
    return [
        {"subject_id": s.pk, "candid": s.alert.candid, "campaign": s.campaign.name, "note": s.gold_note} for s in rows
    ]


# ---------------------------------------------------------------------------------------------------------
# Drift: stored rows only.


def drift_version(task: str) -> ModelVersion | None:
    """The version whose drift rows to show: the active one if it has rows, else the latest rows' version."""
    from classifiers.registry import active_version

    active = active_version(task)
    if active is not None and DriftNight.objects.filter(task=task, version=active).exists():
        return active
    latest = DriftNight.objects.filter(task=task).order_by("-computed_at").values_list("version_id", flat=True).first()
    if latest is None:
        return active
    return _versions().filter(pk=latest).first()


def drift_night_row(row: DriftNight) -> dict:
    meta = (row.statistics or {}).get(META_KEY, {})
    stats = {k: v for k, v in (row.statistics or {}).items() if k != META_KEY}
    min_n = meta.get("config", {}).get("min_alerts", 0)
    tested = [s for s in stats.values() if s.get("psi") is not None and s.get("n", 0) >= min_n]
    return {
        "night": row.night,
        "nids": meta.get("nids", []),
        "n_alerts": row.n_alerts,
        "reference": bool(meta.get("reference")),
        "agreement": row.agreement,
        "n_consensus": meta.get("n_consensus", 0),
        "flagged": row.flagged,
        "flagged_reasons": row.flagged_reasons,
        "percentiles": row.percentiles,
        "statistics": stats,
        "thresholds": meta.get("config", {}),
        "computed_at": row.computed_at,
        # Only what was tested: the reference nights are not tested against themselves, and a variable with
        # fewer values than the minimum is summarised but never judged.
        "worst_psi": None if meta.get("reference") else max((s["psi"] for s in tested), default=None),
        "worst_ks": None if meta.get("reference") else max((s["ks"] for s in tested), default=None),
        "tested": bool(tested) and not meta.get("reference"),
    }


def drift_nights(task: str = Task.REAL_BOGUS, *, flagged_only: bool = False) -> dict:
    version = drift_version(task)
    rows = DriftNight.objects.filter(task=task, version=version).order_by("night")
    if flagged_only:
        rows = rows.filter(flagged=True)
    nights = [drift_night_row(r) for r in rows]
    return {
        "task": task,
        "version": version_row(version) if version else None,
        "nights": nights,
        "variables": VARIABLES,
        "percentiles": [k for k, _ in PERCENTILES],
        "computed_at": max((n["computed_at"] for n in nights), default=None),
    }


def drift_night(task: str, night) -> dict:
    try:
        date = resolve_night(night)
    except ValueError as exc:
        raise ConsoleError("night", str(exc)) from exc
    version = drift_version(task)
    row = DriftNight.objects.filter(task=task, version=version, night=date).first()
    if row is None:
        raise ConsoleError("night", f"no drift summary for the night {date.isoformat()} ({task})")
    return {"task": task, "version": version_row(version) if version else None, **drift_night_row(row)}


def flagged_nights(*, limit: int = 10) -> list[dict]:
    """The latest flagged nights over every task, newest first (for the overview)."""
    out = []
    for task in Task.values:
        version = drift_version(task)
        rows = DriftNight.objects.filter(task=task, version=version, flagged=True).order_by("-night")[:limit]
        out += [{"task": task, **drift_night_row(r)} for r in rows]
    out.sort(key=lambda r: r["night"], reverse=True)
    return out[:limit]
