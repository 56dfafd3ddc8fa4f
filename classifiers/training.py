"""Training braai and the streak ensemble, from labelled alerts to a registered candidate version.

Two layers:

* array level (no database): :func:`fit_braai` and :func:`fit_streaks` take preprocessed stamps, labels,
  weights and object ids, split by object, train with augmentation, class weights and early stopping, and
  evaluate on the held-out test objects. Benchmarks and the active-learning simulation call these directly.
* database level: :func:`train` reads a :class:`LabelledSet` (from a campaign's consensus, from demo truth, or
  given as ids and labels), trains, and registers a candidate version; :func:`train_starter_model` gives a
  fresh ``make run`` its first active braai model.

A loss that turns NaN stops training with :class:`Diverged`: nothing is registered.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from classifiers.architectures import (
    BRAAI_VGG6,
    STREAK_ENSEMBLE,
    BraaiHyperparameters,
    StreakHyperparameters,
    braai_vgg6,
    streak_member,
)
from classifiers.ensemble import GROUPS, PLAUSIBLE_CLASSES, STREAK_TARGETS, StreakEnsemble, streak_targets
from classifiers.evaluation import binary_metrics  # the one home of Blink's metrics (keys of ModelVersion.metrics)
from classifiers.inference import Predictor
from classifiers.runtime import keras, tensorflow

log = logging.getLogger(__name__)

Progress = Callable[[dict], None]
REAL = "real"
BOGUS = "bogus"
TASK_REAL_BOGUS = "real_bogus"
TASK_STREAKS = "streaks"


class Diverged(RuntimeError):
    """The training loss became NaN or infinite; the model is unusable and must not be registered."""

    def __init__(self, member: str, epoch: int, loss: float):
        super().__init__(f"training of {member} diverged at epoch {epoch}: loss is {loss}")
        self.member = member
        self.epoch = epoch
        self.loss = loss


class NotEnoughLabels(ValueError):
    """Too few labelled alerts, or only one class, to train and evaluate a model."""


# ------------------------------------------------------------------------------------------------------------
# Labels
# ------------------------------------------------------------------------------------------------------------


@dataclass
class LabelledSet:
    """Labelled alerts: ids, labels (``real``/``bogus`` or streak types), per-label weights, and for splitting
    and fingerprints each alert's objectId and candid."""

    alert_ids: list[int]
    labels: list[str]
    weights: np.ndarray
    object_ids: list[str]
    candids: list[int]
    source: str = "given"
    campaigns: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.alert_ids)

    def fingerprint(self) -> str:
        """sha256 over (candid, label, weight), order-independent: two equal training sets share it."""
        digest = hashlib.sha256()
        for candid, label, weight in sorted(zip(self.candids, self.labels, self.weights.tolist(), strict=True)):
            digest.update(f"{candid}:{label}:{weight:.4f}\n".encode())
        return digest.hexdigest()

    def describe(self) -> dict:
        return {
            "source": self.source,
            "campaigns": list(self.campaigns),
            "n_labels": len(self),
            "per_label": dict(sorted(Counter(self.labels).items())),
            "n_objects": len(set(self.object_ids)),
            "fingerprint": self.fingerprint(),
        }

    def subset(self, index: np.ndarray) -> LabelledSet:
        return LabelledSet(
            alert_ids=[self.alert_ids[i] for i in index],
            labels=[self.labels[i] for i in index],
            weights=self.weights[index],
            object_ids=[self.object_ids[i] for i in index],
            candids=[self.candids[i] for i in index],
            source=self.source,
            campaigns=list(self.campaigns),
        )


def labelled_set(
    alert_ids: Sequence[int],
    labels: Sequence[str],
    weights: Sequence[float] | None = None,
    *,
    source: str = "given",
    campaigns: Sequence[str] = (),
) -> LabelledSet:
    """A :class:`LabelledSet` from alert ids and labels (as the campaigns and active-learning code export them)."""
    from labeling.models import Alert

    alert_ids = [int(i) for i in alert_ids]
    labels = [str(label) for label in labels]
    if len(alert_ids) != len(labels):
        raise ValueError(f"alert_ids ({len(alert_ids)}) and labels ({len(labels)}) differ in length")
    if weights is None:
        weights_array = np.ones(len(alert_ids), dtype=np.float32)
    else:
        weights_array = np.asarray(weights, dtype=np.float32).reshape(-1)
        if len(weights_array) != len(alert_ids):
            raise ValueError(f"weights ({len(weights_array)}) and alert_ids ({len(alert_ids)}) differ in length")
        if not np.all(np.isfinite(weights_array)) or np.any(weights_array < 0):
            raise ValueError("weights must be finite and non-negative")
    if len(set(alert_ids)) != len(alert_ids):
        raise ValueError("alert_ids contains duplicates: each alert may carry one label")
    meta = dict(
        (pk, (object_id, candid))
        for pk, object_id, candid in Alert.objects.filter(pk__in=alert_ids).values_list("pk", "object_id", "candid")
    )
    missing = [i for i in alert_ids if i not in meta]
    if missing:
        raise ValueError(f"unknown alert id(s): {', '.join(map(str, missing[:10]))}")
    return LabelledSet(
        alert_ids=alert_ids,
        labels=labels,
        weights=weights_array,
        object_ids=[meta[i][0] for i in alert_ids],
        candids=[meta[i][1] for i in alert_ids],
        source=source,
        campaigns=list(campaigns),
    )


def labelled_from_demo_truth(alerts=None) -> LabelledSet:
    """Demo alerts with their generator's known truth (``real`` or a bogus type)."""
    from labeling.models import Alert

    queryset = alerts if alerts is not None else Alert.objects.all()
    rows = list(queryset.exclude(demo_truth="").order_by("candid").values_list("pk", "demo_truth"))
    return labelled_set([pk for pk, _ in rows], [truth for _, truth in rows], source="demo_truth")


def labelled_from_campaign(campaign) -> LabelledSet:
    """Consensus labels of a campaign's retired subjects: the skill-weighted label (weighted by its posterior)
    when consensus has run, else the majority label (weighted by its agreement fraction). Skips never label."""
    from labeling.models import SKIP, Subject

    rows = Subject.objects.filter(campaign=campaign, retired=True).values_list(
        "alert_id", "weighted_label", "weighted_posterior", "majority_label", "majority_fraction"
    )
    ids, labels, weights = [], [], []
    for alert_id, weighted_label, posterior, majority_label, fraction in rows.order_by("alert_id"):
        if weighted_label and weighted_label != SKIP:
            label, weight = weighted_label, posterior
        elif majority_label and majority_label != SKIP:
            label, weight = majority_label, fraction
        else:
            continue
        ids.append(alert_id)
        labels.append(label)
        weights.append(1.0 if weight is None else float(weight))
    return labelled_set(ids, labels, weights, source="campaign", campaigns=[campaign.slug])


def real_bogus_targets(labels: Sequence[str]) -> np.ndarray:
    """1 for ``real``, 0 for ``bogus`` or any bogus type (masked_star, ghost, ... as demo truth and streak
    campaigns name them)."""
    bogus_names = {BOGUS, *STREAK_TARGETS} - {REAL}
    unknown = sorted({label for label in labels if label != REAL and label not in bogus_names})
    if unknown:
        raise ValueError(f"labels {', '.join(unknown)} are neither 'real' nor a bogus type")
    return np.array([1.0 if label == REAL else 0.0 for label in labels], dtype=np.float32)


# ------------------------------------------------------------------------------------------------------------
# Splitting, augmentation, metrics
# ------------------------------------------------------------------------------------------------------------


@dataclass
class Split:
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def sizes(self) -> dict:
        return {"train": int(len(self.train)), "val": int(len(self.val)), "test": int(len(self.test))}


def split_by_object(
    object_ids: Sequence[str], strata: Sequence, *, val_fraction: float, test_fraction: float, seed: int
) -> Split:
    """Train / validation / test indices with every object on one side only (alerts of one object look alike,
    so an object on both sides would flatter the test metrics). Objects are drawn per stratum (an object's
    stratum is that of its first alert), so rare classes reach every side when there are enough of them."""
    rng = np.random.default_rng(seed)
    first_stratum: dict[str, object] = {}
    for object_id, stratum in zip(object_ids, strata, strict=True):
        first_stratum.setdefault(object_id, stratum)
    by_stratum: dict[object, list[str]] = {}
    for object_id in sorted(first_stratum):
        by_stratum.setdefault(first_stratum[object_id], []).append(object_id)
    side: dict[str, str] = {}
    for stratum in sorted(by_stratum, key=str):
        objects = list(rng.permutation(by_stratum[stratum]))
        n = len(objects)
        n_test = int(round(n * test_fraction))
        n_val = int(round(n * val_fraction))
        if n >= 3:
            n_test, n_val = max(n_test, 1), max(n_val, 1)
        for i, object_id in enumerate(objects):
            side[object_id] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    sides = np.array([side[o] for o in object_ids])
    return Split(*(np.nonzero(sides == name)[0] for name in ("train", "val", "test")))


def augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random flips and 90-degree rotations (the eight symmetries of a square), as braai trained: whether a
    candidate is real does not depend on the orientation of the CCD."""
    k = rng.integers(0, 4, size=len(x))
    flip = rng.random(len(x)) < 0.5
    out = np.empty_like(x)
    for quarter_turns in range(4):
        for flipped in (False, True):
            index = np.nonzero((k == quarter_turns) & (flip == flipped))[0]
            if index.size:
                block = np.rot90(x[index], quarter_turns, axes=(1, 2))
                out[index] = block[:, :, ::-1] if flipped else block
    return out


def class_weights(y: np.ndarray, mask: np.ndarray | None = None) -> dict[int, float]:
    """Balanced weights n / (2 n_c), over the samples the mask keeps."""
    kept = y if mask is None else y[mask > 0]
    n = len(kept)
    counts = {c: int(np.sum(kept == c)) for c in (0, 1)}
    return {c: (n / (2.0 * counts[c]) if counts[c] else 0.0) for c in (0, 1)}


def weighted_bce(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> float:
    eps = 1e-7
    p = np.clip(p.astype(np.float64), eps, 1 - eps)
    losses = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    total = float(np.sum(w))
    return float(np.sum(w * losses) / total) if total > 0 else float("nan")


def balanced_threshold(y: np.ndarray, scores: np.ndarray, bounds: tuple[float, float]) -> float:
    """The threshold that maximises balanced accuracy (Youden's J) on validation data, within ``bounds``; 0.5
    when the validation data hold only one class."""
    from sklearn.metrics import roc_curve

    y = np.asarray(y).astype(int)
    if len(y) == 0 or y.min() == y.max():
        return 0.5
    fpr, tpr, thresholds = roc_curve(y, scores)
    best = int(np.argmax(tpr - fpr))
    # Between the best cut and the next lower score, the midpoint generalises better than the score itself.
    upper = min(float(thresholds[best]), 1.0)
    lower = float(thresholds[best + 1]) if best + 1 < len(thresholds) else upper
    return float(np.clip((upper + lower) / 2.0, *bounds))


# ------------------------------------------------------------------------------------------------------------
# The training loop
# ------------------------------------------------------------------------------------------------------------


def _emit(progress: Progress | None, event: dict) -> None:
    if progress is None:
        return
    try:
        progress(event)
    except Exception:  # a broken listener (websocket gone) must never stop a training
        log.exception("progress listener failed on %s", event.get("event"))


def fit_binary(
    model,
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    w_val: np.ndarray,
    *,
    learning_rate: float,
    batch_size: int,
    epochs: int,
    patience: int,
    augment_data: bool,
    seed: int,
    member: str,
    progress: Progress | None = None,
) -> list[dict]:
    """Train a single-sigmoid model in place with weighted binary cross-entropy and early stopping on the
    validation loss (the best weights are restored). Returns the per-epoch history. Raises :class:`Diverged`."""
    tf = tensorflow()
    k = keras()
    rng = np.random.default_rng(seed)
    optimizer = k.optimizers.Adam(learning_rate=learning_rate)
    loss_fn = k.losses.BinaryCrossentropy(reduction="sum")
    variables = model.trainable_variables

    @tf.function(reduce_retracing=True)
    def train_step(xb, yb, wb):
        with tf.GradientTape() as tape:
            pred = model(xb, training=True)
            # Weighted mean over the batch: the weights carry class balance and label confidence.
            loss = loss_fn(yb, pred, sample_weight=wb) / tf.maximum(tf.reduce_sum(wb), 1e-12)
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(grads, variables, strict=True))
        return loss

    val_predictor = Predictor(model, embedding_layer=None)
    has_val = len(x_val) > 0 and float(np.sum(w_val)) > 0
    best_loss, best_weights, best_epoch, waited = np.inf, None, 0, 0
    history: list[dict] = []
    keep = np.nonzero(w > 0)[0]
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        order = keep[rng.permutation(len(keep))]
        xs = augment(x[order], rng) if augment_data else x[order]
        ys, ws = y[order].reshape(-1, 1), w[order]
        losses, weights = [], []
        for i in range(0, len(order), batch_size):
            batch_w = ws[i : i + batch_size]
            losses.append(train_step(xs[i : i + batch_size], ys[i : i + batch_size], batch_w))
            weights.append(float(batch_w.sum()))
        loss = float(np.average([float(v) for v in losses], weights=weights)) if losses else float("nan")
        if not np.isfinite(loss):
            raise Diverged(member, epoch, loss)
        val_loss = weighted_bce(y_val, val_predictor.scores(x_val), w_val) if has_val else None
        if val_loss is not None and not np.isfinite(val_loss):
            raise Diverged(member, epoch, val_loss)
        record = {
            "event": "epoch",
            "member": member,
            "epoch": epoch,
            "epochs": epochs,
            "loss": round(loss, 6),
            "val_loss": None if val_loss is None else round(val_loss, 6),
            "seconds": round(time.perf_counter() - started, 3),
        }
        history.append(record)
        _emit(progress, record)
        monitored = val_loss if val_loss is not None else loss
        if monitored < best_loss - 1e-5:
            best_loss, best_weights, best_epoch, waited = monitored, model.get_weights(), epoch, 0
        else:
            waited += 1
            if waited >= patience:
                _emit(progress, {"event": "early_stop", "member": member, "epoch": epoch, "best_epoch": best_epoch})
                break
    if best_weights is not None:
        model.set_weights(best_weights)
    return history


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
) -> BraaiResult:
    """Train braai's VGG6 on preprocessed stamps ``x`` with 0/1 targets ``y``; evaluate on held-out objects."""
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
    _emit(progress, {"event": "start", "member": "braai", "split": split.sizes(), "epochs": hp.epochs})
    history = fit_binary(
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
        seed=hp.seed,
        member="braai",
        progress=progress,
    )
    test_scores = Predictor(model, embedding_layer=None).scores(x[split.test])
    if not np.all(np.isfinite(test_scores)):
        raise Diverged("braai", len(history), float("nan"))
    metrics = binary_metrics(y[split.test], test_scores, hp.operating_threshold)
    metrics["epochs_run"] = len(history)
    metrics["split"] = split.sizes()
    _emit(progress, {"event": "evaluated", "member": "braai", "metrics": _headline(metrics)})
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
    _emit(progress, {"event": "start", "member": "streaks", "split": split.sizes(), "epochs": hp.epochs})
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
            if initial is not None and len(initial.members.get(group, [])) > m:
                model.set_weights(initial.members[group][m].get_weights())
            history += fit_binary(
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
                member=name,
                progress=progress,
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
    _emit(progress, {"event": "evaluated", "member": "streaks", "metrics": _headline(metrics)})
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


def train(
    *,
    task: str,
    labelled: LabelledSet,
    hp: BraaiHyperparameters | StreakHyperparameters | None = None,
    progress: Progress | None = None,
    parent=None,
    warm_start: bool = False,
    created_by=None,
    notes: str = "",
):
    """Train a model for ``task`` on ``labelled`` and register it as a candidate version.

    ``parent`` is recorded as the version this one descends from (default: the task's active version);
    ``warm_start`` starts from the parent's weights instead of a fresh initialisation.
    """
    from classifiers import registry
    from classifiers.preprocessing import load_inputs

    if task not in (TASK_REAL_BOGUS, TASK_STREAKS):
        raise ValueError(f"unknown task {task!r}; expected real_bogus or streaks")
    if len(labelled) == 0:
        raise NotEnoughLabels("no labelled alerts to train on")
    if parent is None:
        parent = registry.active_version(task)
    _emit(progress, {"event": "loading", "n": len(labelled)})
    x = load_inputs(labelled.alert_ids)
    started = time.perf_counter()
    training_set = labelled.describe()
    if task == TASK_REAL_BOGUS:
        hp = hp or BraaiHyperparameters()
        initial = registry.load_model(parent).get_weights() if (warm_start and parent is not None) else None
        result = fit_braai(
            x,
            real_bogus_targets(labelled.labels),
            labelled.weights,
            labelled.object_ids,
            hp=hp,
            progress=progress,
            initial_weights=initial,
        )
        model_bytes = registry.keras_bytes(result.model)
        architecture = BRAAI_VGG6
    else:
        hp = hp or StreakHyperparameters()
        initial = registry.load_model(parent) if (warm_start and parent is not None) else None
        result = fit_streaks(
            x, labelled.labels, labelled.weights, labelled.object_ids, hp=hp, progress=progress, initial=initial
        )
        model_bytes = result.ensemble.to_bytes()
        architecture = STREAK_ENSEMBLE
    training_set["split"] = result.split.sizes()
    training_set["test_alert_ids"] = [labelled.alert_ids[i] for i in result.split.test]
    training_set["warm_start"] = bool(warm_start and parent is not None)
    training_set["train_seconds"] = round(time.perf_counter() - started, 2)
    version = registry.register(
        task=task,
        architecture=architecture,
        model_bytes=model_bytes,
        hyperparameters=hp.to_dict(),
        training_set=training_set,
        metrics=result.metrics,
        thresholds=result.thresholds,
        parent=parent,
        created_by=created_by,
        notes=notes,
    )
    _emit(progress, {"event": "registered", "version_id": version.pk, "version": version.version, "task": task})
    return version


# Measured on the 600 demo alerts of make run: validation loss still falls after 30 epochs, early stopping ends
# most runs near 40, about 30 s on two cores.
STARTER_HYPERPARAMETERS = BraaiHyperparameters(epochs=40, patience=8, batch_size=32, learning_rate=5e-4)


def train_starter_model(*, progress: Progress | None = None, promote: bool = True, score: bool = True):
    """The first braai model of a fresh Blink, trained on the demo alerts' known truth and promoted, so that a
    new user sees scores and explanations at once (``score``: every alert is scored and the demo alerts'
    explanations are precomputed). Returns the task's active version untouched when one exists."""
    from classifiers import registry

    active = registry.active_version(TASK_REAL_BOGUS)
    if active is not None:
        return active
    labelled = labelled_from_demo_truth()
    if len(labelled) == 0:
        raise NotEnoughLabels(
            "no demo alerts with known truth: run `manage.py setup_demo` (or make_demo_alerts and ingest)"
        )
    version = train(
        task=TASK_REAL_BOGUS,
        labelled=labelled,
        hp=STARTER_HYPERPARAMETERS,
        progress=progress,
        notes="Starter model trained on the demo alerts' known truth by make run.",
    )
    if not promote:
        return version
    version = registry.promote(version, actor=None, reason="starter model trained on demo data (make run)")
    if score:
        from classifiers.explanations import KINDS, explain_alerts
        from classifiers.scoring import score_alerts
        from labeling.models import Alert

        _emit(progress, {"event": "scoring", "version_id": version.pk})
        score_alerts(Alert.objects.all(), version, embeddings=True)
        for kind in KINDS:
            explain_alerts(labelled.alert_ids, version, kind)
    return version
