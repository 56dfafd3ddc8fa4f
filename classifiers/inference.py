"""The fast inference path: a ``tf.function`` over fixed-width batches, traced once per model.

``model.predict`` builds a data pipeline and a callback stack on every call; a traced function applied to
slices of a NumPy array runs the bare network and skips that overhead. No XLA: it made inference slower here
(the README's benchmarks have the figures).
"""

from __future__ import annotations

import threading

import numpy as np

from classifiers.runtime import keras, tensorflow

BATCH_SIZE = 1024
EMBEDDING_LAYER = "dense1"

_cache_lock = threading.Lock()


class Predictor:
    """Scores (and optionally the penultimate-layer embedding) of a single-sigmoid model, in batches."""

    def __init__(self, model, embedding_layer: str | None = EMBEDDING_LAYER):
        tf = tensorflow()
        self.model = model
        spec = tf.TensorSpec(shape=(None, *model.inputs[0].shape[1:]), dtype=tf.float32)
        has_embedding = embedding_layer is not None and any(layer.name == embedding_layer for layer in model.layers)
        self.embedding_size = int(model.get_layer(embedding_layer).output.shape[-1]) if has_embedding else 0

        @tf.function(input_signature=[spec], reduce_retracing=True)
        def forward(x):
            return model(x, training=False)

        self._forward = forward
        self._forward_with_embedding = None
        if has_embedding:
            both = keras().Model(model.inputs[0], [model.get_layer(embedding_layer).output, model.outputs[0]])

            @tf.function(input_signature=[spec], reduce_retracing=True)
            def forward_with_embedding(x):
                return both(x, training=False)

            self._forward_with_embedding = forward_with_embedding

    def scores(self, x: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
        """(N,) float32 sigmoid outputs."""
        x = np.asarray(x, dtype=np.float32)
        if len(x) == 0:
            return np.zeros(0, dtype=np.float32)
        parts = [self._forward(x[i : i + batch_size]).numpy() for i in range(0, len(x), batch_size)]
        return np.concatenate(parts, axis=0).reshape(-1)

    def scores_and_embeddings(self, x: np.ndarray, batch_size: int = BATCH_SIZE) -> tuple[np.ndarray, np.ndarray]:
        """(N,) scores and (N, D) float32 embeddings of the ``dense1`` layer."""
        if self._forward_with_embedding is None:
            raise ValueError(f"model {self.model.name!r} has no {EMBEDDING_LAYER!r} layer to embed with")
        x = np.asarray(x, dtype=np.float32)
        if len(x) == 0:
            return np.zeros(0, dtype=np.float32), np.zeros((0, self.embedding_size), dtype=np.float32)
        scores, embeddings = [], []
        for i in range(0, len(x), batch_size):
            embedding, score = self._forward_with_embedding(x[i : i + batch_size])
            scores.append(score.numpy().reshape(-1))
            embeddings.append(embedding.numpy())
        return np.concatenate(scores), np.concatenate(embeddings, axis=0)


def predictor_for(model) -> Predictor:
    """One :class:`Predictor` per live model object, so its traced functions are reused."""
    with _cache_lock:
        predictor = getattr(model, "_blink_predictor", None)
        if predictor is None:
            predictor = Predictor(model)
            # Kept on the model itself (bypassing Keras' attribute tracking), so it dies with the model.
            object.__setattr__(model, "_blink_predictor", predictor)
        return predictor


def predict(model, x: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
    return predictor_for(model).scores(x, batch_size=batch_size)
