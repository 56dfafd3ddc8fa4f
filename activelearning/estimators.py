"""scikit-learn faces for Blink's Keras models, so that modAL's ``ActiveLearner`` and ``Committee`` drive them.

modAL 0.4.2.1 only needs ``fit``, ``predict`` and ``predict_proba`` with sklearn's shapes (it is pinned with
scikit-learn 1.7.2, the newest release it works with; ``tests/activelearning/test_estimators.py`` checks the pair).
Three estimators:

* :class:`KerasBinaryClassifier` wraps a single-sigmoid network (braai's VGG6, a DeepStreaks member): ``predict_proba``
  returns ``[1 - p, p]`` through scoring's traced forward pass (``classifiers.inference.Predictor``), faster than
  ``model.predict`` or scikeras. ``fit`` continues from the current weights (warm start) unless told otherwise, with
  the flips and rotations braai trained with (``classifiers.fitting.augment``).
* :class:`EmbeddingHeadClassifier` is the network's last layer alone, applied to penultimate-layer embeddings. modAL's
  ranked batch-mode sampler computes distances between every pool item and every labelled item; on raw 63x63x3 stamps
  that is 11,907 numbers per item, on braai's ``dense1`` embedding 256, and the head gives the same probabilities.
* :class:`StoredProbabilityClassifier` answers ``predict_proba`` from probabilities already stored (``Score`` rows):
  its ``X`` is a column of row indices. The queue uses it so that modAL's own uncertainty measures order a campaign
  without running any network on the request path.

Never ``repr()`` a modAL learner holding one of these (sklearn's repr walks every parameter); ``__repr__`` is kept
short here for the same reason.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from classifiers.fitting import augment as augment_batch
from classifiers.inference import BATCH_SIZE, EMBEDDING_LAYER, Predictor
from classifiers.runtime import keras

# modAL 0.4.2.1 still passes scikit-learn's old ``force_all_finite`` name (fine with the pinned 1.7.2, which only
# warns; 1.8 would break it, hence the pin).
warnings.filterwarnings("ignore", message=".*force_all_finite.*", category=FutureWarning)


def probabilities_from_sigmoid(p: np.ndarray) -> np.ndarray:
    """``[1 - p, p]`` columns for a single-sigmoid output (sklearn's binary ``predict_proba`` layout)."""
    p = np.asarray(p, dtype=np.float64).reshape(-1)
    return np.column_stack([1.0 - p, p])


class KerasBinaryClassifier(ClassifierMixin, BaseEstimator):
    """A single-sigmoid Keras network as an sklearn binary classifier (classes 0 = bogus, 1 = real).

    ``model`` is a built Keras model whose weights are the starting point (a registered version, loaded with
    ``compile=False``); ``build_fn`` builds a fresh one instead when ``model`` is None. ``fit`` trains
    ``epochs`` more epochs from the current weights; with ``warm_start=False`` it first resets to the starting
    weights. ``callbacks`` are Keras callbacks (progress, heartbeat, NaN stop) passed to ``model.fit``.
    """

    def __init__(
        self,
        model=None,
        build_fn=None,
        *,
        epochs: int = 3,
        batch_size: int = 64,
        learning_rate: float = 3e-4,
        warm_start: bool = True,
        augment: bool = True,
        balance_classes: bool = True,
        seed: int = 0,
        callbacks=None,
        embedding_layer: str = EMBEDDING_LAYER,
        predict_batch_size: int = BATCH_SIZE,
        verbose: int = 0,
    ):
        self.model = model
        self.build_fn = build_fn
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.warm_start = warm_start
        self.augment = augment
        self.balance_classes = balance_classes
        self.seed = seed
        self.callbacks = callbacks
        self.embedding_layer = embedding_layer
        self.predict_batch_size = predict_batch_size
        self.verbose = verbose

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:
        return f"{type(self).__name__}(epochs={self.epochs}, seed={self.seed})"

    # -- the network -------------------------------------------------------------------------------------------
    def _initial_network(self):
        if self.model is not None:
            # A copy, so fitting never changes the caller's model (the active version's weights stay as loaded).
            net = keras().models.clone_model(self.model)
            net.set_weights(self.model.get_weights())
            return net
        if self.build_fn is None:
            raise ValueError("KerasBinaryClassifier needs a model or a build_fn")
        keras().utils.set_random_seed(self.seed)
        return self.build_fn()

    def _network(self):
        if getattr(self, "model_", None) is None:
            self.model_ = self._initial_network()
            self._compiled = False
            self._predictor = None
        return self.model_

    @property
    def network(self):
        """The Keras model this estimator currently predicts with."""
        return self._network()

    def _compile(self) -> None:
        if getattr(self, "_compiled", False):
            return
        self.model_.compile(
            optimizer=keras().optimizers.Adam(learning_rate=self.learning_rate),
            loss="binary_crossentropy",
            jit_compile=False,
        )
        self._compiled = True

    # -- sklearn API -------------------------------------------------------------------------------------------
    def fit(self, X, y, sample_weight=None, **fit_kwargs):
        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y).astype(np.float32).reshape(-1)
        if len(X) != len(y):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
        if not self.warm_start:
            self.model_ = None
        self._network()
        self._compile()
        self.classes_ = np.array([0, 1])
        weights = np.ones(len(y), dtype=np.float32) if sample_weight is None else np.asarray(sample_weight, np.float32)
        if self.balance_classes and len(np.unique(y)) == 2:
            # Alerts are unbalanced (real/bogus, and rare streak classes): weight each class to the same total.
            n_pos = float((y == 1).sum())
            n_neg = float((y == 0).sum())
            weights = weights * np.where(y == 1, len(y) / (2 * n_pos), len(y) / (2 * n_neg)).astype(np.float32)
        rng = np.random.default_rng(self.seed + getattr(self, "n_fits_", 0))
        keras().utils.set_random_seed(self.seed + getattr(self, "n_fits_", 0))
        self.history_ = []
        # Without augmentation one call runs every epoch; with it, each epoch sees freshly rotated stamps.
        rounds = [(0, self.epochs)] if not self.augment else [(e, e + 1) for e in range(self.epochs)]
        for first, last in rounds:
            hist = self.model_.fit(
                augment_batch(X, rng) if self.augment else X,
                y,
                sample_weight=weights,
                batch_size=self.batch_size,
                epochs=last,
                initial_epoch=first,
                shuffle=True,
                verbose=self.verbose,
                callbacks=list(self.callbacks or []),
                **fit_kwargs,
            )
            self.history_.extend(hist.history.get("loss", []))
            if self.model_.stop_training:
                break
        self.n_fits_ = getattr(self, "n_fits_", 0) + 1
        return self

    def predict_proba(self, X) -> np.ndarray:
        return probabilities_from_sigmoid(self.score_samples(X))

    def predict(self, X) -> np.ndarray:
        return (self.score_samples(X) >= 0.5).astype(int)

    def _fast_path(self) -> Predictor:
        # The same traced forward pass as scoring; it reads the network's variables, so fits need no new trace.
        if getattr(self, "_predictor", None) is None:
            self._predictor = Predictor(self._network(), embedding_layer=self.embedding_layer)
        return self._predictor

    def score_samples(self, X) -> np.ndarray:
        """The network's sigmoid output per sample (braai's score)."""
        return self._fast_path().scores(X, self.predict_batch_size)

    def embed(self, X) -> np.ndarray:
        """Penultimate-layer activations (braai: ``dense1``, 256 numbers per alert)."""
        return self._fast_path().scores_and_embeddings(X, self.predict_batch_size)[1]

    def head(self) -> EmbeddingHeadClassifier:
        """The last layer alone, as a classifier on embeddings from :meth:`embed`."""
        return EmbeddingHeadClassifier.from_model(self._network())


class EmbeddingHeadClassifier(ClassifierMixin, BaseEstimator):
    """``sigmoid(e @ w + b)``: a network's final Dense layer on its penultimate-layer embeddings ``e``.

    Dropout sits between ``dense1`` and ``score`` in braai and is off at inference, so this gives exactly the
    network's probabilities. ``fit`` refits only the head (logistic regression on fixed embeddings), which is
    what modAL's ``teach`` may call between queries.
    """

    def __init__(self, kernel=None, bias: float = 0.0):
        self.kernel = kernel
        self.bias = bias

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:
        dim = None if self.kernel is None else len(self.kernel)
        return f"EmbeddingHeadClassifier(dim={dim})"

    @classmethod
    def from_model(cls, model, layer: str = "score") -> EmbeddingHeadClassifier:
        try:
            dense = model.get_layer(layer)
        except ValueError:
            dense = model.layers[-1]
        kernel, bias = dense.get_weights()
        return cls(kernel=np.asarray(kernel, dtype=np.float64).reshape(-1), bias=float(np.asarray(bias).reshape(-1)[0]))

    def fit(self, X, y, sample_weight=None):
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(max_iter=500)
        lr.fit(np.asarray(X, dtype=np.float64), np.asarray(y).astype(int), sample_weight=sample_weight)
        self.kernel = lr.coef_.reshape(-1)
        self.bias = float(lr.intercept_[0])
        return self

    def predict_proba(self, X) -> np.ndarray:
        logits = np.asarray(X, dtype=np.float64) @ np.asarray(self.kernel, dtype=np.float64) + self.bias
        return probabilities_from_sigmoid(1.0 / (1.0 + np.exp(-logits)))

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    @property
    def classes_(self):
        return np.array([0, 1])


class StoredProbabilityClassifier(ClassifierMixin, BaseEstimator):
    """Probabilities looked up, not computed: ``predict_proba(X)`` returns ``proba[X[:, 0]]``.

    ``proba`` is an ``(n, 2)`` array (or a 1-D array of P(real), turned into ``[1 - p, p]``). It lets modAL's
    measures (``classifier_uncertainty``, ``classifier_margin``, ``classifier_entropy``, the committee
    disagreements) run on stored ``Score`` rows; ``fit`` is a no-op because stored scores change only when a
    new version rescores the pool.
    """

    def __init__(self, proba=None):
        self.proba = proba

    def __repr__(self, N_CHAR_MAX: int = 700) -> str:
        n = None if self.proba is None else len(self.proba)
        return f"StoredProbabilityClassifier(n={n})"

    @property
    def _table(self) -> np.ndarray:
        cached = getattr(self, "_table_cache", None)
        if cached is None or cached[0] is not self.proba:
            p = np.asarray(self.proba, dtype=np.float64)
            cached = (self.proba, probabilities_from_sigmoid(p) if p.ndim == 1 else p)
            self._table_cache = cached
        return cached[1]

    @property
    def classes_(self):
        return np.arange(self._table.shape[1])

    @staticmethod
    def rows(n: int) -> np.ndarray:
        """The ``X`` that stands for rows ``0..n-1``."""
        return np.arange(n).reshape(-1, 1)

    def fit(self, X, y=None, **kwargs):
        return self

    def predict_proba(self, X) -> np.ndarray:
        idx = np.asarray(X).reshape(len(X), -1)[:, 0].astype(np.int64)
        return self._table[idx]

    def predict(self, X) -> np.ndarray:
        return np.argmax(self.predict_proba(X), axis=1)
