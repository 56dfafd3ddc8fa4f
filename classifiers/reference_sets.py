"""Reference sets: named evaluation sets every version is scored on once, and the guard they put on promotion.

A set an ML lead names is one of two kinds:

* ``gold``: a campaign's gold-standard subjects, labelled by an expert (through :mod:`classifiers.labelled`, so
  the positive class is the task's own);
* ``braai_agreement``: real survey alerts (never generated demo alerts, which carry a made-up ``drb``) that the
  survey's own real/bogus model scored confidently: for the ZTF task ZTF's deployed braai, ``drb > 0.9`` against
  ``drb < 0.1``; for the Rubin task Rubin's ``reliability`` (stored in ``drb``), above 0.8 against below 0.2.
  These labels are a model's opinion, not human truth, and every page that shows the figures says so, naming
  whose opinion (:func:`classifiers.reference_rows.kind_note`).

A third kind is built in, one per task: the fixed held-out set (:func:`classifiers.labelled.heldout_set`). Every
version is evaluated on it beside the active one when its training ends (:func:`evaluate_heldout`): that figure
is its headline on every page and what the run's promotion rule reads; its scores are stored as ``Score`` rows,
so the compare page draws both versions' curves on it without any further step.

A version's figures on a set are computed once per content of the set (its fingerprint over the (candid, label)
pairs) and stored as a ``VersionEvaluation``: the versions table, the compare page and the loop page all read them
through :func:`reference_figures`, so they cannot disagree. Auto-promotion asks :func:`promotion_guard`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from django.db import transaction
from django.db.models import Q

from classifiers.evaluation import binary_metrics
from classifiers.evaluation_data import operating_threshold
from classifiers.labelled import (
    BOGUS,
    GOLD,
    OPINION_CUTS,
    QUESTION_TYPES,
    REAL,
    drb_targets,
    heldout_set,
    labelled_alerts,
)
from classifiers.models import BRAAI_TASKS, ModelVersion, ReferenceSet, Score, Task, VersionEvaluation, task_survey
from classifiers.preprocessing import load_inputs
from classifiers.reference_rows import (  # noqa: F401 - what the pages read, re-exported where they import it
    BRAAI_NOTE,
    FIGURES,
    HELDOUT_NOTE,
    KIND_NOTES,
    RELIABILITY_NOTE,
    figure_row,
    heldout_figures,
    kind_note,
    reference_figures,
    reference_sets_list,
    set_row,
    sets_of_tasks,
)
from classifiers.registry import recipe_of
from classifiers.scoring import score_alerts, score_inputs
from core.errors import ServiceError
from labeling.models import Alert, Campaign

Kind = ReferenceSet.Kind

HELDOUT_NAMES = {
    Task.REAL_BOGUS: "Held-out set (real/bogus)",
    Task.STREAKS: "Held-out set (streaks)",
    Task.RUBIN_REAL_BOGUS: "Held-out set (Rubin real/bogus)",
}
# The kinds an ML lead may name; the held-out set is built in.
NAMED_KINDS = (Kind.GOLD, Kind.BRAAI_AGREEMENT)


class ReferenceSetRefused(ServiceError):
    """A reference set that cannot be named as asked; ``field`` says which input is wrong."""


# ------------------------------------------------------------------------------------------------------------
# Naming sets (ML leads)
# ------------------------------------------------------------------------------------------------------------


def _checked_margin(margin) -> float:
    try:
        value = float(margin)
    except (TypeError, ValueError):
        raise ReferenceSetRefused("the margin must be a number of ROC AUC, e.g. 0.02", field="margin") from None
    if not 0.0 <= value <= 1.0:
        raise ReferenceSetRefused("the margin must lie between 0 and 1 (it is a loss of ROC AUC)", field="margin")
    return value


def _checked_campaign(kind: str, task: str, campaign: Campaign | None) -> Campaign | None:
    if kind == Kind.BRAAI_AGREEMENT:
        if task not in BRAAI_TASKS:
            raise ReferenceSetRefused(
                "braai's drb (Rubin's reliability) answers the real/bogus question only", field="task"
            )
        if campaign is not None:
            raise ReferenceSetRefused("a braai-agreement set takes real alerts, not a campaign", field="campaign")
        return None
    if campaign is None:
        raise ReferenceSetRefused("a gold set needs the campaign whose gold subjects it takes", field="campaign")
    if campaign.question_type != QUESTION_TYPES[Task(task)]:
        raise ReferenceSetRefused(
            f"campaign {campaign.slug!r} asks {campaign.get_question_type_display()}, not the {task} question",
            field="campaign",
        )
    return campaign


def campaign_named(slug: str) -> Campaign | None:
    """The campaign a form or API names by slug (None for none named); an unknown slug is refused."""
    if not slug:
        return None
    campaign = Campaign.objects.filter(slug=slug).first()
    if campaign is None:
        raise ReferenceSetRefused(f"no campaign with slug {slug!r}", field="campaign")
    return campaign


@transaction.atomic
def create_reference_set(
    *,
    actor,
    name: str,
    kind: str,
    task: str = Task.REAL_BOGUS,
    campaign: Campaign | None = None,
    guards_promotion: bool = True,
    margin: float = 0.02,
) -> ReferenceSet:
    """Name a new evaluation set, and score the task's active version on it so the pages have the figure every
    candidate is measured against; refuses a blank or taken name, an unknown kind or task, and a campaign that
    does not fit the kind."""
    name = (name or "").strip()
    if not name:
        raise ReferenceSetRefused("give the set a name", field="name")
    if ReferenceSet.objects.filter(name=name).exists():
        raise ReferenceSetRefused(f"a reference set is already named {name!r}", field="name")
    if kind not in NAMED_KINDS:
        raise ReferenceSetRefused(f"unknown kind {kind!r}; expected one of {', '.join(NAMED_KINDS)}", field="kind")
    if task not in Task.values:
        raise ReferenceSetRefused(f"unknown task {task!r}; expected one of {', '.join(Task.values)}", field="task")
    reference_set = ReferenceSet.objects.create(
        name=name,
        task=task,
        kind=kind,
        campaign=_checked_campaign(kind, task, campaign),
        guards_promotion=bool(guards_promotion),
        margin=_checked_margin(margin),
        created_by=actor,
    )
    active = ModelVersion.objects.filter(task=task, status=ModelVersion.Status.ACTIVE).first()
    if active is not None:
        evaluate_version(active, sets=[reference_set])
    return reference_set


@transaction.atomic
def update_reference_set(
    *, reference_set: ReferenceSet, guards_promotion: bool | None = None, margin: float | None = None
) -> ReferenceSet:
    """Change whether a set guards promotion, or its margin; its content (kind, campaign) stays what it was named."""
    _refuse_builtin(reference_set)
    if guards_promotion is not None:
        reference_set.guards_promotion = bool(guards_promotion)
    if margin is not None:
        reference_set.margin = _checked_margin(margin)
    reference_set.save(update_fields=["guards_promotion", "margin"])
    return reference_set


@transaction.atomic
def delete_reference_set(*, reference_set: ReferenceSet) -> None:
    """Forget a set and every version's figures on it."""
    _refuse_builtin(reference_set)
    reference_set.delete()


def _refuse_builtin(reference_set: ReferenceSet) -> None:
    if reference_set.kind == Kind.HELDOUT:
        raise ReferenceSetRefused(
            "the held-out set is built in: its promotion margin is Blink's PROMOTE_MARGIN", field="reference_set"
        )


def heldout_reference_set(task: str) -> ReferenceSet:
    """The task's built-in held-out set, made the first time a version is evaluated on it."""
    reference_set, _ = ReferenceSet.objects.get_or_create(
        task=task, kind=Kind.HELDOUT, defaults={"name": HELDOUT_NAMES[Task(task)], "guards_promotion": False}
    )
    return reference_set


# ------------------------------------------------------------------------------------------------------------
# What a set holds
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetContent:
    alert_ids: list[int]
    y: np.ndarray
    fingerprint: str


def _fingerprint(candids: Iterable[int], labels: Iterable[str]) -> str:
    """sha256 over the sorted (candid, label) pairs: a set whose alerts or answers change gets a new one."""
    digest = hashlib.sha256()
    for candid, label in sorted(zip(candids, labels, strict=True)):
        digest.update(f"{candid}:{label}\n".encode())
    return digest.hexdigest()


def braai_agreement_alerts(task: str = Task.REAL_BOGUS):
    """Real alerts of the task's survey that the survey's own model scored confidently either way (ZTF's braai
    ``drb``, Rubin's ``reliability``); generated demo alerts (known ``demo_truth``) never."""
    survey = task_survey(task)
    real_cut, bogus_cut = OPINION_CUTS[survey]
    confident = Q(drb__gt=real_cut) | Q(drb__lt=bogus_cut)
    real = Alert.objects.filter(survey=survey, demo_truth="", drb__isnull=False, stamps__isnull=False)
    return real.filter(confident).order_by("pk")


def set_content(reference_set: ReferenceSet) -> SetContent:
    """The alerts of a set, their targets (1 for the task's positive class) and the set's fingerprint."""
    if reference_set.kind == Kind.BRAAI_AGREEMENT:
        rows = list(braai_agreement_alerts(reference_set.task).values_list("pk", "candid", "drb"))
        y = drb_targets([drb for _, _, drb in rows], task_survey(reference_set.task))
        labels = [REAL if target == 1.0 else BOGUS for target in y]
        return SetContent([pk for pk, _, _ in rows], y, _fingerprint([c for _, c, _ in rows], labels))
    if reference_set.kind == Kind.HELDOUT:
        heldout = heldout_set(reference_set.task)
        return SetContent(heldout.alert_ids, heldout.y, _fingerprint(heldout.candids, heldout.labels))
    gold = labelled_alerts(reference_set.task, sources=(GOLD,), gold_campaign=reference_set.campaign)
    return SetContent(gold.alert_ids, gold.y, _fingerprint(gold.candids, gold.labels))


# ------------------------------------------------------------------------------------------------------------
# Scoring versions on the sets
# ------------------------------------------------------------------------------------------------------------


def sets_of(task: str):
    """The sets ML leads named for ``task`` (the built-in held-out set is apart: :func:`evaluate_heldout`)."""
    named = ReferenceSet.objects.filter(task=task).exclude(kind=Kind.HELDOUT)
    return named.select_related("campaign").order_by("name")


def stored_scores(version: ModelVersion, alert_ids: list[int]) -> np.ndarray:
    """``version``'s stored scores of these alerts, scoring (and storing) those it has not scored yet: the
    figures and the compare page's curves then come from the very same numbers."""
    known = dict(Score.objects.filter(version=version, alert_id__in=alert_ids).values_list("alert_id", "score"))
    missing = [i for i in alert_ids if i not in known]
    if missing:
        score_alerts(missing, version)
        known.update(Score.objects.filter(version=version, alert_id__in=missing).values_list("alert_id", "score"))
    return np.array([known[i] for i in alert_ids], dtype=np.float64)


def _figures(version: ModelVersion, content: SetContent, *, store_scores: bool = False) -> dict:
    if not content.alert_ids:
        return {"n": 0, "n_positive": 0, "roc_auc": None, "accuracy": None}
    if store_scores:
        scores = stored_scores(version, content.alert_ids)
    else:
        scores, _, _ = score_inputs(version, load_inputs(content.alert_ids, recipe=recipe_of(version)))
    metrics = binary_metrics(
        content.y, np.asarray(scores, dtype=np.float64), operating_threshold(version), curves=False
    )
    return {k: metrics[k] for k in FIGURES if k in metrics}


def evaluate_version(version: ModelVersion, *, sets: Sequence[ReferenceSet] | None = None) -> dict[str, dict]:
    """Score ``version`` on every reference set of its task (or on ``sets``), with its own input recipe, and
    store one ``VersionEvaluation`` per set. A set whose content has not changed since the version's stored
    evaluation is not scored again. Returns ``{set name: figures}`` as :func:`figure_row` shows them."""
    out = {}
    for reference_set in sets_of(version.task) if sets is None else sets:
        content = set_content(reference_set)
        evaluation = VersionEvaluation.objects.filter(
            version=version, reference_set=reference_set, fingerprint=content.fingerprint
        ).first()
        if evaluation is None:
            evaluation, _ = VersionEvaluation.objects.update_or_create(
                version=version,
                reference_set=reference_set,
                defaults={
                    "metrics": _figures(version, content, store_scores=reference_set.kind == Kind.HELDOUT),
                    "fingerprint": content.fingerprint,
                },
            )
        out[reference_set.name] = figure_row(reference_set, evaluation)
    return out


def evaluate_heldout(version: ModelVersion) -> dict:
    """``version``'s figures on its task's fixed held-out set (stored once per content of the set), as every
    page shows them: the headline of the versions table, the compare page and the loop page."""
    reference_set = heldout_reference_set(version.task)
    return evaluate_version(version, sets=[reference_set])[reference_set.name]


def evaluate_pair(candidate: ModelVersion, active: ModelVersion | None) -> dict:
    """Both sides of a promotion decision on every set, as a run's ``evaluated`` event carries them."""
    return {
        "candidate": evaluate_version(candidate),
        "active": None if active is None else evaluate_version(active),
    }


def _loss_reason(reference_set: ReferenceSet, candidate_auc: float, active_auc: float) -> str:
    reason = (
        f"loses {active_auc - candidate_auc:.3f} ROC AUC on {reference_set.name!r} "
        f"({candidate_auc:.3f} vs {active_auc:.3f}), more than its margin {reference_set.margin:g}"
    )
    if reference_set.kind == Kind.BRAAI_AGREEMENT:
        reason += f" ({kind_note(reference_set.kind, reference_set.task)})"
    return reason


def promotion_guard(candidate: ModelVersion, active: ModelVersion | None) -> tuple[bool, str]:
    """Refuse ``candidate`` when, on any set that guards promotion, its ROC AUC is below the active version's by
    more than the set's margin; the reason names the set and both figures. Versions not yet evaluated (an
    imported one) are evaluated here. A set that cannot rank both classes does not block."""
    if active is None:
        return True, "no active version to guard"
    guarding = [s for s in sets_of(candidate.task) if s.guards_promotion]
    if not guarding:
        return True, "no reference set guards promotion"
    figures = {
        "candidate": evaluate_version(candidate, sets=guarding),
        "active": evaluate_version(active, sets=guarding),
    }
    for reference_set in guarding:
        cand = figures["candidate"][reference_set.name]["roc_auc"]
        act = figures["active"][reference_set.name]["roc_auc"]
        if cand is not None and act is not None and act - cand > reference_set.margin:
            return False, _loss_reason(reference_set, cand, act)
    names = ", ".join(repr(s.name) for s in guarding)
    return True, f"within the margin on every guarding reference set ({names})"
