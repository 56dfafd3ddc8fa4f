"""Model versions as the console lists them, the registry's audit log, and promote / roll back."""

from __future__ import annotations

from classifiers import registry
from classifiers.console.reliability import RELIABILITY_LABEL, reliability_figures, uses_reliability
from classifiers.evaluation import HEADLINE_METRICS
from classifiers.evaluation_data import operating_threshold
from classifiers.models import ModelVersion, RegistryEvent, Task
from classifiers.preprocessing import DEFAULT_RECIPE
from classifiers.reference_sets import heldout_figures, reference_figures
from core.errors import ServiceError


class ConsoleError(ServiceError):
    """Bad console input; ``field`` names the parameter so forms and the API can say which."""

    def __init__(self, field: str, message: str, *, status: int | None = None):
        super().__init__(message, field=field, status=status)


def versions_without_weights():
    return ModelVersion.objects.defer("weights").select_related("parent", "created_by")


def get_version(value, field: str = "version") -> ModelVersion:
    """A version by primary key, or by ``task:number`` (``real_bogus:3``)."""
    text = str(value or "").strip()
    if not text:
        raise ConsoleError(field, "choose a model version")
    try:
        if ":" in text:
            task, number = text.split(":", 1)
            return versions_without_weights().get(task=task, version=int(number))
        return versions_without_weights().get(pk=int(text))
    except (ValueError, ModelVersion.DoesNotExist):
        raise ConsoleError(field, f"no model version {text!r}") from None


_UNREAD = object()


def headline(version: ModelVersion, heldout: dict | None) -> tuple[dict, dict]:
    """(the figures a page puts first, what they were measured on). The stored figures on the task's fixed
    held-out set, the same for every version of the task and on every page; for a version never evaluated on it
    (a version older than the set), its own test split at training, said so with its size."""
    own = version.metrics or {}
    if heldout is not None and heldout.get("evaluated"):
        on = {"kind": "heldout", "label": "the fixed held-out set", "n": heldout.get("n")}
        on["n_positive"] = heldout.get("n_positive")
        return {m: heldout.get(m) for m in HEADLINE_METRICS}, on
    on = {"kind": "own_test", "label": "its own test split at training", "n": own.get("n")}
    on["n_positive"] = own.get("n_positive")
    return {m: own.get(m) for m in HEADLINE_METRICS}, on


def version_row(version: ModelVersion, *, heldout=_UNREAD) -> dict:
    """A version as the console lists it; ``heldout``: its stored held-out figures when the caller read them
    for many versions at once (:func:`classifiers.reference_sets.heldout_figures`)."""
    metrics = version.metrics or {}
    recipe = registry.recipe_of(version)
    training = version.training_set or {}
    if heldout is _UNREAD:
        heldout = heldout_figures([version])[version.pk]
    figures, evaluated_on = headline(version, heldout)
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
        "metrics": figures,
        "evaluated_on": evaluated_on,
        # The split the version's own training held out: small, and different for every version.
        "own_test": {"roc_auc": metrics.get("roc_auc"), "accuracy": metrics.get("accuracy"), "n": metrics.get("n")},
        "test_n": metrics.get("n"),
        "notes": version.notes,
        "provenance": _provenance(version),
        "input_recipe": "" if recipe == DEFAULT_RECIPE else recipe.describe(),
    }


def _provenance(version: ModelVersion) -> dict | None:
    """What the versions table says of an imported version: its published name, source, licence, short sha256."""
    p = version.provenance or {}
    if not p:
        return None
    return {
        "name": p.get("name", ""),
        "source": p.get("source", ""),
        "licence": p.get("licence", ""),
        "sha256_short": (p.get("sha256") or "")[:12],
        "file": p.get("file", ""),
    }


def versions_by_task(task: str | None = None) -> list[dict]:
    """Every version of every task (or of ``task`` alone), newest first, with its stored figures on the task's
    fixed held-out set (the headline) and on each reference set of its task (the same figures the compare and
    loop pages show); a Rubin version also with its agreement with Rubin's reliability score."""
    versions = list(versions_without_weights().order_by("task", "-version"))
    figures = reference_figures(versions)
    heldout = heldout_figures(versions)
    reliability = reliability_figures(versions)
    rows = [
        {**version_row(v, heldout=heldout[v.pk]), "reference": figures[v.pk], "reliability": reliability[v.pk]}
        for v in versions
    ]
    chosen = [(t, label) for t, label in Task.choices if task is None or t == task]
    return [
        {
            "task": t,
            "label": label,
            "versions": [r for r in rows if r["task"] == t],
            "active": next((r for r in rows if r["task"] == t and r["status"] == "active"), None),
            "reference_sets": next((r["reference"] for r in rows if r["task"] == t), []),
            "reliability_label": RELIABILITY_LABEL if uses_reliability(t) else None,
        }
        for t, label in chosen
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


def _refusal(exc: registry.RegistryError, field: str) -> ConsoleError:
    # The registry's refusals are sentences; one about the reason belongs beside the reason box.
    return ConsoleError("reason" if "reason" in str(exc) else field, str(exc))


def promote_version(*, actor, version: ModelVersion, reason: str) -> ModelVersion:
    """Promote through the registry (atomic, audited); returns the new active version."""
    try:
        return registry.promote(version, actor=actor, reason=reason)
    except registry.RegistryError as exc:
        raise _refusal(exc, "version") from exc


def rollback_task(*, actor, task: str, reason: str) -> ModelVersion:
    """Roll back through the registry (atomic, audited); returns the version active again."""
    try:
        return registry.rollback(task, actor=actor, reason=reason)
    except registry.RegistryError as exc:
        raise _refusal(exc, "task") from exc
