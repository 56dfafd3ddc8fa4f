"""What the pages read of the reference sets: one row per set and per version's figures on it, from the stored
evaluations only (nothing here scores). :mod:`classifiers.reference_sets` names, scores and guards the sets and
re-exports these.

A set whose labels are a model's opinion says whose, on every page: ZTF's braai (``drb``) for the ZTF task,
Rubin's ``reliability`` for the Rubin task, whose held-out set also falls back on it, since Rubin alerts carry no
demo truth and, so far, no human labels.
"""

from __future__ import annotations

from collections.abc import Iterable

from classifiers.models import ModelVersion, ReferenceSet, VersionEvaluation, task_survey
from core.conf import blink_setting

Kind = ReferenceSet.Kind

BRAAI_NOTE = "agreement with braai's drb — a model's opinion, not human labels"
RELIABILITY_NOTE = "agreement with Rubin's reliability — a model's opinion, not human labels"
RELIABILITY_KIND_LABEL = "Agreement with Rubin's reliability (a model's opinion, not human labels)"
HELDOUT_NOTE = "known truth on the objects no training run learns from"
RUBIN_HELDOUT_NOTE = (
    "the objects no training run learns from: expert answers where given, else Rubin's reliability "
    "(a model's opinion, not human labels)"
)
KIND_NOTES = {Kind.GOLD: "gold-standard expert answers", Kind.BRAAI_AGREEMENT: BRAAI_NOTE, Kind.HELDOUT: HELDOUT_NOTE}
# What a version's evaluation keeps: enough to show and to compare, not the curves.
FIGURES = ("n", "n_positive", "roc_auc", "accuracy", "precision", "recall", "fpr", "fnr", "threshold")


def _rubin(task: str) -> bool:
    return task_survey(task) == "rubin"


def kind_note(kind: str, task: str) -> str:
    """What a set's labels are, for its task: agreement is with the survey's own model (a model's opinion)."""
    if _rubin(task) and kind == Kind.BRAAI_AGREEMENT:
        return RELIABILITY_NOTE
    if _rubin(task) and kind == Kind.HELDOUT:
        return RUBIN_HELDOUT_NOTE
    return KIND_NOTES[kind]


def kind_label(reference_set: ReferenceSet) -> str:
    if _rubin(reference_set.task) and reference_set.kind == Kind.BRAAI_AGREEMENT:
        return RELIABILITY_KIND_LABEL
    return reference_set.get_kind_display()


def model_opinion(kind: str, task: str) -> bool:
    """Whether a set's figures measure agreement with a model rather than with people (the Rubin held-out set may)."""
    return kind == Kind.BRAAI_AGREEMENT or (kind == Kind.HELDOUT and _rubin(task))


def set_row(reference_set: ReferenceSet) -> dict:
    heldout = reference_set.kind == Kind.HELDOUT
    return {
        "id": reference_set.pk,
        "name": reference_set.name,
        "task": reference_set.task,
        "kind": reference_set.kind,
        "kind_label": kind_label(reference_set),
        "note": kind_note(reference_set.kind, reference_set.task),
        "model_opinion": model_opinion(reference_set.kind, reference_set.task),
        "campaign": reference_set.campaign.slug if reference_set.campaign_id else None,
        # The held-out set guards every automatic promotion, by the run's own rule and margin.
        "guards_promotion": True if heldout else reference_set.guards_promotion,
        "margin": blink_setting("PROMOTE_MARGIN") if heldout else reference_set.margin,
    }


def figure_row(reference_set: ReferenceSet, evaluation: VersionEvaluation | None) -> dict:
    """One version's figures on one set, as every page shows them (None where it has not been evaluated)."""
    metrics = evaluation.metrics if evaluation is not None else {}
    return {
        **set_row(reference_set),
        **{k: metrics.get(k) for k in FIGURES},
        "evaluated": evaluation is not None,
        "fingerprint": evaluation.fingerprint if evaluation is not None else None,
        "computed_at": evaluation.computed_at.isoformat(timespec="seconds") if evaluation is not None else None,
    }


def heldout_figures(versions: Iterable[ModelVersion]) -> dict[int, dict | None]:
    """``{version id: its stored figures on its task's held-out set}``, None for a version never evaluated on
    it. Reads only."""
    versions = list(versions)
    sets = {s.task: s for s in ReferenceSet.objects.filter(kind=Kind.HELDOUT, task__in={v.task for v in versions})}
    stored = {
        e.version_id: e
        for e in VersionEvaluation.objects.filter(version__in=[v.pk for v in versions], reference_set__in=sets.values())
    }
    out: dict[int, dict | None] = {}
    for version in versions:
        evaluation = stored.get(version.pk)
        out[version.pk] = None if evaluation is None else figure_row(sets[version.task], evaluation)
    return out


def reference_figures(versions: Iterable[ModelVersion]) -> dict[int, list[dict]]:
    """``{version id: [figures per named reference set of its task]}`` from the stored evaluations. Reads only: a
    version not yet evaluated shows its sets with empty figures."""
    versions = list(versions)
    tasks = {v.task for v in versions}
    sets = list(sets_of_tasks(tasks))
    stored = {
        (e.version_id, e.reference_set_id): e
        for e in VersionEvaluation.objects.filter(version__in=[v.pk for v in versions], reference_set__in=sets)
    }
    return {v.pk: [figure_row(s, stored.get((v.pk, s.pk))) for s in sets if s.task == v.task] for v in versions}


def sets_of_tasks(tasks: Iterable[str]):
    named = ReferenceSet.objects.filter(task__in=set(tasks)).exclude(kind=Kind.HELDOUT)
    return named.select_related("campaign").order_by("name")


def reference_sets_list(task: str | None = None) -> list[dict]:
    sets = ReferenceSet.objects.exclude(kind=Kind.HELDOUT).select_related("campaign").order_by("name")
    return [set_row(s) for s in (sets.filter(task=task) if task else sets)]
