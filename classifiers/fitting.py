"""The single-sigmoid training loop every Blink network shares: weighted binary cross-entropy with class
weights and label confidence, augmentation by the symmetries of the square, early stopping on the validation
loss, and a stop at the first NaN loss (:class:`Diverged`). Arrays in, arrays out: no database.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from classifiers.inference import Predictor
from classifiers.runtime import keras, tensorflow

log = logging.getLogger(__name__)

Progress = Callable[[dict], None]


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
# Augmentation, metrics
# ------------------------------------------------------------------------------------------------------------


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


def emit_progress(progress: Progress | None, event: dict) -> None:
    if progress is None:
        return
    try:
        progress(event)
    except Exception:  # a broken listener (websocket gone) must never stop a training
        log.exception("progress listener failed on %s", event.get("event"))


@contextmanager
def frozen_convolutions(model, freeze: bool = True) -> Iterator[list[str]]:
    """Inside the block, the model's convolutional layers do not train (braai's transfer-learning notebook
    freezes them and fits only the dense layers): a fine-tune on a few new labels keeps the features the
    published model learnt from many. They train again afterwards, so the saved model carries no frozen flag."""
    layers = [layer for layer in model.layers if layer.__class__.__name__ == "Conv2D"] if freeze else []
    for layer in layers:
        layer.trainable = False
    try:
        yield [layer.name for layer in layers]
    finally:
        for layer in layers:
            layer.trainable = True


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
        emit_progress(progress, record)
        monitored = val_loss if val_loss is not None else loss
        if monitored < best_loss - 1e-5:
            best_loss, best_weights, best_epoch, waited = monitored, model.get_weights(), epoch, 0
        else:
            waited += 1
            if waited >= patience:
                emit_progress(
                    progress, {"event": "early_stop", "member": member, "epoch": epoch, "best_epoch": best_epoch}
                )
                break
    if best_weights is not None:
        model.set_weights(best_weights)
    return history
