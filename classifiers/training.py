"""Training braai and the streak ensemble, from labelled alerts to a registered candidate version.

Two layers:

* array level (no database): :func:`fit_braai` and :func:`fit_streaks` take preprocessed stamps, labels,
  weights and object ids, split by object, train each network with :func:`classifiers.fitting.fit_binary`
  (augmentation, class weights, early stopping), and evaluate on the test objects. Benchmarks and the
  active-learning simulation call these directly.
* database level: :func:`train` takes a :class:`~classifiers.labelled.LabelledSet` (a campaign's consensus or
  demo truth, read by ``classifiers.labelled.labelled_alerts``), trains, and registers a candidate version.

A loss that turns NaN stops training with :class:`~classifiers.fitting.Diverged`: nothing is registered.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from classifiers.architectures import (
    BRAAI_VGG6,
    STREAK_ENSEMBLE,
    BraaiHyperparameters,
    StreakHyperparameters,
    braai_vgg6,
    streak_member,
)
from classifiers.ensemble import GROUPS, PLAUSIBLE_CLASSES, StreakEnsemble, streak_targets
from classifiers.evaluation import binary_metrics  # the one home of Blink's metrics (keys of ModelVersion.metrics)
from classifiers.fitting import (
    Diverged,
    NotEnoughLabels,
    Progress,
    balanced_threshold,
    class_weights,
    emit_progress,
    fit_binary,
    frozen_convolutions,
)
from classifiers.inference import Predictor
from classifiers.labelled import (
    LabelledSet,
    Split,
    real_bogus_targets,
    split_by_object,
)
from classifiers.models import BRAAI_TASKS, PARENT_TASKS, Task, task_survey
from classifiers.preprocessing import DEFAULT_RECIPE, InputRecipe, load_inputs
from classifiers.runtime import keras

TASK_REAL_BOGUS = "real_bogus"
TASK_STREAKS = "streaks"
TASK_RUBIN_REAL_BOGUS = "rubin_real_bogus"


def _fit_network(
    model,
    x: np.ndarray,
    y: np.ndarray,
    sample_w: np.ndarray,
    split: Split,
    hp: BraaiHyperparameters | StreakHyperparameters,
    *,
    seed: int,
    member: str,
    progress: Progress | None,
    freeze_conv: bool,
) -> list[dict]:
    """One network trained on the split's training objects, early-stopped on its validation objects."""
    with frozen_convolutions(model, freeze_conv):
        return fit_binary(
            model,
            x[split.train],
            y[split.train],
            sample_w[split.train],
            x[split.val],
            y[split.val],
            sample_w[split.val],
            learning_rate=hp.learning_rate,
            batch_size=hp.batch_size,
            epochs=hp.epochs,
            patience=hp.patience,
            augment_data=hp.augment,
            seed=seed,
            member=member,
            progress=progress,
        )


@dataclass
class BraaiResult:
    model: object
    hyperparameters: BraaiHyperparameters
    metrics: dict
    thresholds: dict
    split: Split
    history: list[dict]
    test_scores: np.ndarray


def fit_braai(
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    object_ids: Sequence[str],
    *,
    hp: BraaiHyperparameters | None = None,
    progress: Progress | None = None,
    initial_weights: list | None = None,
    freeze_conv: bool = False,
) -> BraaiResult:
    """Train braai's VGG6 on preprocessed stamps ``x`` with 0/1 targets ``y``; evaluate on held-out objects.

    ``initial_weights``: start from these (a fine-tune) instead of a fresh initialisation; ``freeze_conv``: then
    train only the dense layers."""
    hp = hp or BraaiHyperparameters()
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    weights = np.asarray(weights, dtype=np.float32).reshape(-1)
    _check_labels(y, "real/bogus")
    split = split_by_object(
        object_ids, y.astype(int), val_fraction=hp.validation_fraction, test_fraction=hp.test_fraction, seed=hp.seed
    )
    if len(split.train) == 0 or len(split.test) == 0:
        raise NotEnoughLabels(f"{len(y)} labelled alerts are too few to hold out test objects; label more")
    keras().utils.set_random_seed(hp.seed)
    model = braai_vgg6(hp)
    if initial_weights is not None:
        model.set_weights(initial_weights)
    cw = class_weights(y[split.train]) if hp.class_weights else {0: 1.0, 1: 1.0}
    sample_w = weights * np.where(y == 1, cw[1], cw[0]).astype(np.float32)
    emit_progress(progress, {"event": "start", "member": "braai", "split": split.sizes(), "epochs": hp.epochs})
    history = _fit_network(
        model, x, y, sample_w, split, hp, seed=hp.seed, member="braai", progress=progress, freeze_conv=freeze_conv
    )
    test_scores = Predictor(model, embedding_layer=None).scores(x[split.test])
    if not np.all(np.isfinite(test_scores)):
        raise Diverged("braai", len(history), float("nan"))
    metrics = binary_metrics(y[split.test], test_scores, hp.operating_threshold)
    metrics["epochs_run"] = len(history)
    metrics["split"] = split.sizes()
    emit_progress(progress, {"event": "evaluated", "member": "braai", "metrics": _headline(metrics)})
    return BraaiResult(
        model=model,
        hyperparameters=hp,
        metrics=metrics,
        thresholds={"operating": hp.operating_threshold},
        split=split,
        history=history,
        test_scores=test_scores,
    )


@dataclass
class StreakResult:
    ensemble: StreakEnsemble
    hyperparameters: StreakHyperparameters
    metrics: dict
    thresholds: dict
    split: Split
    history: list[dict]


def fit_streaks(
    x: np.ndarray,
    labels: Sequence[str],
    weights: np.ndarray,
    object_ids: Sequence[str],
    *,
    hp: StreakHyperparameters | None = None,
    progress: Progress | None = None,
    initial: StreakEnsemble | None = None,
    freeze_conv: bool = False,
) -> StreakResult:
    """Train the three member groups from streak-type labels, choose each group's threshold on validation data,
    and evaluate the ensemble's decision (plausible asteroid or not) on held-out objects."""
    hp = hp or StreakHyperparameters()
    labels = list(labels)
    weights = np.asarray(weights, dtype=np.float32).reshape(-1)
    targets = streak_targets(labels)
    split = split_by_object(
        object_ids, labels, val_fraction=hp.validation_fraction, test_fraction=hp.test_fraction, seed=hp.seed
    )
    if len(split.train) == 0 or len(split.test) == 0:
        raise NotEnoughLabels(f"{len(labels)} labelled alerts are too few to hold out test objects; label more")
    for group in GROUPS:
        y, mask = targets[group]
        _check_labels(y[split.train][mask[split.train] > 0], f"streak group {group}")
    members: dict[str, list] = {g: [] for g in GROUPS}
    thresholds: dict[str, float] = {}
    history: list[dict] = []
    group_metrics: dict[str, dict] = {}
    emit_progress(progress, {"event": "start", "member": "streaks", "split": split.sizes(), "epochs": hp.epochs})
    for g_index, group in enumerate(GROUPS):
        y, mask = targets[group]
        cw = class_weights(y[split.train], mask[split.train]) if hp.class_weights else {0: 1.0, 1: 1.0}
        sample_w = weights * mask * np.where(y == 1, cw[1], cw[0]).astype(np.float32)
        val_scores = []
        for m in range(hp.members_per_group):
            name = f"{group}-{m + 1}"
            seed = hp.seed + 100 * g_index + m
            keras().utils.set_random_seed(seed)
            model = streak_member(hp, name=name)
            started_from = initial is not None and len(initial.members.get(group, [])) > m
            if started_from:
                model.set_weights(initial.members[group][m].get_weights())
            history += _fit_network(
                model,
                x,
                y,
                sample_w,
                split,
                hp,
                seed=seed,
                member=name,
                progress=progress,
                freeze_conv=freeze_conv and started_from,
            )
            members[group].append(model)
            val_scores.append(Predictor(model, embedding_layer=None).scores(x[split.val]))
        applies = mask[split.val] > 0
        best_of_group = np.max(np.stack(val_scores, axis=1), axis=1) if len(split.val) else np.zeros(0)
        thresholds[group] = balanced_threshold(y[split.val][applies], best_of_group[applies], hp.threshold_bounds)
    ensemble = StreakEnsemble(members=members, thresholds=thresholds)
    score, plausible, member_scores = ensemble.predict(x[split.test])
    if not np.all(np.isfinite(score)):
        raise Diverged("streaks", 0, float("nan"))
    test_labels = [labels[i] for i in split.test]
    truth = np.array([label in PLAUSIBLE_CLASSES for label in test_labels], dtype=float)
    metrics = binary_metrics(truth, score, 0.5)
    metrics["per_class_recall"] = per_class_recall(test_labels, plausible)
    for group in GROUPS:
        y, mask = targets[group]
        applies = mask[split.test] > 0
        group_metrics[group] = binary_metrics(
            y[split.test][applies], member_scores[group].max(axis=1)[applies], thresholds[group]
        )
        group_metrics[group].pop("roc")
    metrics["groups"] = group_metrics
    metrics["split"] = split.sizes()
    emit_progress(progress, {"event": "evaluated", "member": "streaks", "metrics": _headline(metrics)})
    return StreakResult(
        ensemble=ensemble,
        hyperparameters=hp,
        metrics=metrics,
        thresholds=thresholds,
        split=split,
        history=history,
    )


def per_class_recall(labels: Sequence[str], plausible: np.ndarray) -> dict[str, dict]:
    """Per streak-type class, the share the ensemble decides right: plausible for asteroids, not plausible for
    everything else."""
    out: dict[str, dict] = {}
    labels = [str(label) for label in labels]
    for label in sorted(set(labels)):
        index = [i for i, other in enumerate(labels) if other == label]
        expected = label in PLAUSIBLE_CLASSES
        right = int(np.sum(plausible[index] == expected))
        out[label] = {"n": len(index), "correct": right, "recall": right / len(index), "expected_plausible": expected}
    return out


def _check_labels(y: np.ndarray, what: str) -> None:
    values = set(np.unique(y).astype(int).tolist())
    if values != {0, 1}:
        have = "no labels" if not values else f"only class {values.pop()}"
        raise NotEnoughLabels(f"{what}: training needs both classes, got {have}")


def _headline(metrics: dict) -> dict:
    return {k: metrics.get(k) for k in ("accuracy", "precision", "recall", "fpr", "fnr", "roc_auc", "n")}


# ------------------------------------------------------------------------------------------------------------
# Database level: train and register
# ------------------------------------------------------------------------------------------------------------


def task_recipe(task: str, from_version=None) -> InputRecipe:
    """The input recipe a new version of ``task`` learns on: its parent's (the weights only mean something on the
    input they learnt from), else Blink's default. A Rubin stamp (30x30 to 71x71) is always centre-cropped or
    padded to 63x63, so the source sits where braai learnt to look, whatever fit the parent had for ZTF."""
    from classifiers import registry

    recipe = registry.recipe_of(from_version) if from_version is not None else DEFAULT_RECIPE
    if task_survey(task) == "rubin":
        recipe = replace(recipe, fit="centre")
    return recipe


def train(
    *,
    task: str,
    labelled: LabelledSet,
    hp: BraaiHyperparameters | StreakHyperparameters | None = None,
    progress: Progress | None = None,
    from_version=None,
    freeze_conv: bool = False,
    created_by=None,
    notes: str = "",
):
    """Train a model for ``task`` on ``labelled`` and register it as a candidate version.

    From random weights, or, given ``from_version``, from that version's weights (a fine-tune): the new version
    records it as its parent and takes its input recipe (:func:`task_recipe`). ``freeze_conv`` keeps the
    parent's convolutions and trains only the dense layers. A Rubin version may start from a ZTF braai version
    (``PARENT_TASKS``): braai's weights, adapted to Rubin's stamps.
    """
    from classifiers import registry

    if task not in Task.values:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(Task.values)}")
    if len(labelled) == 0:
        raise NotEnoughLabels("no labelled alerts to train on")
    if freeze_conv and from_version is None:
        raise ValueError("freezing the convolutions needs a version to start from")
    if from_version is not None and from_version.task not in PARENT_TASKS[Task(task)]:
        raise ValueError(f"a {task} version cannot be fine-tuned from {from_version.label} ({from_version.task})")
    recipe = task_recipe(task, from_version)
    emit_progress(progress, {"event": "loading", "n": len(labelled)})
    x = load_inputs(labelled.alert_ids, recipe=recipe)
    started = time.perf_counter()
    training_set = labelled.describe()
    initial = registry.load_model(from_version) if from_version is not None else None
    if task in BRAAI_TASKS:
        hp = hp or BraaiHyperparameters()
        result = fit_braai(
            x,
            real_bogus_targets(labelled.labels),
            labelled.weights,
            labelled.object_ids,
            hp=hp,
            progress=progress,
            initial_weights=initial.get_weights() if initial is not None else None,
            freeze_conv=freeze_conv,
        )
        model_bytes = registry.keras_bytes(result.model)
        architecture = BRAAI_VGG6
    else:
        hp = hp or StreakHyperparameters()
        result = fit_streaks(
            x,
            labelled.labels,
            labelled.weights,
            labelled.object_ids,
            hp=hp,
            progress=progress,
            initial=initial,
            freeze_conv=freeze_conv,
        )
        model_bytes = result.ensemble.to_bytes()
        architecture = STREAK_ENSEMBLE
    training_set["split"] = result.split.sizes()
    training_set["test_alert_ids"] = [labelled.alert_ids[i] for i in result.split.test]
    training_set["fine_tuned_from"] = (
        None
        if from_version is None
        else {"id": from_version.pk, "label": from_version.label, "freeze_conv": bool(freeze_conv)}
    )
    training_set["train_seconds"] = round(time.perf_counter() - started, 2)
    version = registry.register(
        task=task,
        architecture=architecture,
        model_bytes=model_bytes,
        hyperparameters={**hp.to_dict(), "input_recipe": recipe.to_dict()},
        training_set=training_set,
        metrics=result.metrics,
        thresholds=result.thresholds,
        parent=from_version,
        created_by=created_by,
        notes=notes,
    )
    emit_progress(progress, {"event": "registered", "version_id": version.pk, "version": version.version, "task": task})
    return version
