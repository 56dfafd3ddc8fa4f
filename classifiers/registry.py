"""The model registry: every trained model is a version; promote and roll back are atomic and audited.

Weights live in the database (``ModelVersion.weights``) so every web server and worker reads the same bytes;
each process keeps a copy on disk under ``blink_setting("MODEL_CACHE_DIR")/<sha256>.keras`` (checked against the
sha256 before use) and an in-process LRU of loaded models keyed by sha256.

Exactly one version per task is active at any moment: the database enforces it (a partial unique index) and
every change of the active version runs in one transaction that first takes the task's lock (a PostgreSQL
advisory lock, plus ``SELECT ... FOR UPDATE`` on the task's versions), so concurrent promotions and rollbacks
queue up instead of colliding.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import zlib
from collections import OrderedDict
from functools import partial
from pathlib import Path

from django.db import connection, transaction

from classifiers.models import PARENT_TASKS, ModelVersion, RegistryEvent, Task, task_survey
from classifiers.preprocessing import DEFAULT_RECIPE, InputRecipe
from classifiers.signals import version_activated
from core.conf import blink_setting
from core.errors import ServiceError

log = logging.getLogger(__name__)

LRU_SIZE = 4
_ACTIVATING = (RegistryEvent.Action.PROMOTE, RegistryEvent.Action.AUTO_PROMOTE)

_loaded: OrderedDict[str, object] = OrderedDict()
_loaded_lock = threading.Lock()


class RegistryError(ServiceError):
    """A registry operation that cannot be done as asked (nothing to roll back to, already active, ...): the
    registry's state, not the request's form, is in the way, hence 409."""

    status = 409


class CorruptModel(RegistryError):
    """Stored model bytes whose sha256 does not match the version's: the server's fault, not the request's."""

    status = 500


def _check_task(task: str) -> str:
    if task not in Task.values:
        raise RegistryError(f"unknown task {task!r}; expected one of {', '.join(Task.values)}")
    return task


def _lock_task(task: str) -> list[ModelVersion]:
    """Serialise every change to one task's versions. Must run inside a transaction."""
    if connection.vendor == "postgresql":
        # Row locks alone cannot cover the first registration of a task (no rows to lock yet).
        key = zlib.crc32(f"blink.registry.{task}".encode())
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])
    return list(ModelVersion.objects.select_for_update().filter(task=task).defer("weights").order_by("version"))


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def keras_bytes(model) -> bytes:
    """A Keras model as the bytes of its ``.keras`` file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        model.save(path)
        return path.read_bytes()


@transaction.atomic
def register(
    *,
    task: str,
    architecture: str,
    model_bytes: bytes,
    hyperparameters: dict,
    training_set: dict,
    metrics: dict,
    thresholds: dict | None = None,
    parent: ModelVersion | None = None,
    created_by=None,
    notes: str = "",
    provenance: dict | None = None,
) -> ModelVersion:
    """Store a trained (or imported: ``provenance`` says from where) model as the task's next version, with
    status candidate, and audit it."""
    _check_task(task)
    if not model_bytes:
        raise RegistryError("model_bytes is empty")
    if parent is not None and parent.task not in PARENT_TASKS[Task(task)]:
        raise RegistryError(f"parent {parent.label} belongs to another task than {task}")
    versions = _lock_task(task)
    number = max((v.version for v in versions), default=0) + 1
    version = ModelVersion.objects.create(
        task=task,
        version=number,
        architecture=architecture,
        status=ModelVersion.Status.CANDIDATE,
        parent=parent,
        hyperparameters=hyperparameters,
        training_set=training_set,
        metrics=metrics,
        thresholds=thresholds or {},
        weights=model_bytes,
        sha256=sha256_of(model_bytes),
        size_bytes=len(model_bytes),
        created_by=created_by,
        notes=notes,
        provenance=provenance or {},
    )
    RegistryEvent.objects.create(
        task=task,
        action=RegistryEvent.Action.REGISTER,
        version=version,
        actor=created_by,
        reason=notes or f"trained on {training_set.get('n_labels', '?')} labels",
    )
    return version


def recipe_of(version: ModelVersion) -> InputRecipe:
    """How stamps become this version's input, ``fit`` included (what ``preprocessing.input_window`` needs to draw
    an explanation back over the stamp): its ``hyperparameters["input_recipe"]``, or the recipe every
    Blink-trained model has used when it records none. A recipe stored before fits existed reads as ``"edge"``
    (ZTF's); a Rubin version's is always ``"centre"``, the only fit that takes every Rubin stamp size."""
    stored = (version.hyperparameters or {}).get("input_recipe")
    recipe = InputRecipe.from_dict(stored) if stored else DEFAULT_RECIPE
    if task_survey(version.task) == "rubin" and recipe.fit != "centre":
        recipe = InputRecipe(normalisation=recipe.normalisation, pad_value=recipe.pad_value, fit="centre")
    return recipe


def active_version(task: str) -> ModelVersion | None:
    """The task's active version (weights not loaded), or None."""
    return ModelVersion.objects.defer("weights").filter(task=task, status=ModelVersion.Status.ACTIVE).first()


def _activate(
    version: ModelVersion, *, actor, reason: str, action: str, versions: list[ModelVersion], run=None
) -> ModelVersion:
    current = next((v for v in versions if v.status == ModelVersion.Status.ACTIVE), None)
    if current is not None:
        current.status = ModelVersion.Status.RETIRED
        current.save(update_fields=["status"])
    version.status = ModelVersion.Status.ACTIVE
    version.save(update_fields=["status"])
    RegistryEvent.objects.create(
        task=version.task, action=action, version=version, previous_active=current, actor=actor, reason=reason
    )
    # Only once the change has committed may the floors above react (tell the volunteers, rescore the pool and
    # reorder the queues): a rolled-back promotion must not have been announced.
    transaction.on_commit(partial(version_activated.send, sender=ModelVersion, version=version, run=run))
    return version


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise RegistryError("a reason is required: the audit log says why the active model changed")
    return reason


@transaction.atomic
def promote(
    version: ModelVersion, *, actor, reason: str, action: str = RegistryEvent.Action.PROMOTE, run=None
) -> ModelVersion:
    """Make ``version`` its task's active version (the previous one is retired), with an audit entry. ``run``:
    the training run that promotes it, if any (``version_activated`` carries it)."""
    reason = _require_reason(reason)
    if action not in _ACTIVATING:
        raise RegistryError(f"promote records a promotion, not {action!r}")
    versions = _lock_task(version.task)
    locked = next((v for v in versions if v.pk == version.pk), None)
    if locked is None:
        raise RegistryError(f"version {version.pk} no longer exists")
    if locked.status == ModelVersion.Status.ACTIVE:
        raise RegistryError(f"{locked.label} is already active")
    return _activate(locked, actor=actor, reason=reason, action=action, versions=versions, run=run)


@transaction.atomic
def rollback(task: str, *, actor, reason: str) -> ModelVersion:
    """Give the active version's place back to the version that was active before it was promoted.

    Rollbacks walk back through the promotions (v1 -> v2 -> v3, roll back twice: v1), never forward again.
    """
    reason = _require_reason(reason)
    versions = _lock_task(_check_task(task))
    current = next((v for v in versions if v.status == ModelVersion.Status.ACTIVE), None)
    if current is None:
        raise RegistryError(f"no active {task} version to roll back")
    by_pk = {v.pk: v for v in versions}
    promotion = (
        RegistryEvent.objects.filter(task=task, version=current, action__in=_ACTIVATING)
        .exclude(previous_active=None)
        .order_by("-at", "-id")
        .first()
    )
    target = by_pk.get(promotion.previous_active_id) if promotion is not None else None
    if target is None:
        raise RegistryError(f"{current.label} has no earlier active version to roll back to")
    return _activate(target, actor=actor, reason=reason, action=RegistryEvent.Action.ROLLBACK, versions=versions)


# ------------------------------------------------------------------------------------------------------------
# Loading
# ------------------------------------------------------------------------------------------------------------


def cache_path(version: ModelVersion) -> Path:
    suffix = ".ensemble.zip" if version.task == Task.STREAKS else ".keras"
    return Path(blink_setting("MODEL_CACHE_DIR")) / f"{version.sha256}{suffix}"


def model_bytes(version: ModelVersion) -> bytes:
    """The version's file, from the on-disk cache when its sha256 matches, else from the database (and cached)."""
    path = cache_path(version)
    if path.exists():
        data = path.read_bytes()
        if sha256_of(data) == version.sha256:
            return data
        path.unlink(missing_ok=True)  # a torn or tampered cache file: fall back to the database copy
    stored = ModelVersion.objects.filter(pk=version.pk).values_list("weights", flat=True).first()
    if stored is None:
        raise RegistryError(f"version {version.pk} no longer exists")
    data = bytes(stored)
    if sha256_of(data) != version.sha256:
        raise CorruptModel(f"{version.label}: stored weights do not match sha256 {version.sha256}")
    _write_cache(path, data)
    return data


def _write_cache(path: Path, data: bytes) -> None:
    """Keep a copy on disk. The weights are in the database: a full or read-only disk costs a database read the
    next time, never the model (a training or scoring that needs it goes on)."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)  # atomic: a reader never sees half a file
    except OSError as exc:
        log.warning("model cache %s not written (%s): the model is loaded without it", path.parent, exc)
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def load_model(version: ModelVersion):
    """The loaded model of a version: a Keras model for braai, a :class:`StreakEnsemble` for streaks.
    Kept in an in-process LRU keyed by sha256, so repeated scoring does not reload it."""
    with _loaded_lock:
        if version.sha256 in _loaded:
            _loaded.move_to_end(version.sha256)
            return _loaded[version.sha256]
    data = model_bytes(version)
    if version.task == Task.STREAKS:
        from classifiers.ensemble import StreakEnsemble

        model = StreakEnsemble.from_bytes(data)
    else:
        from classifiers.runtime import keras

        path = cache_path(version)
        if path.exists():
            model = keras().models.load_model(path, compile=False)
        else:  # the cache could not be written: Keras reads a file, so a private one elsewhere
            with tempfile.TemporaryDirectory(prefix="blink-model-") as tmp:
                copy = Path(tmp) / path.name
                copy.write_bytes(data)
                model = keras().models.load_model(copy, compile=False)
    with _loaded_lock:
        _loaded[version.sha256] = model
        _loaded.move_to_end(version.sha256)
        while len(_loaded) > LRU_SIZE:
            _loaded.popitem(last=False)
    return model


def clear_loaded_models() -> None:
    with _loaded_lock:
        _loaded.clear()
