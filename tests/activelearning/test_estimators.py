"""The sklearn wrappers let modAL's ActiveLearner and Committee drive Blink's Keras models."""

from __future__ import annotations

from importlib.metadata import version

import numpy as np
import pytest
from modAL.batch import uncertainty_batch_sampling
from modAL.disagreement import vote_entropy_sampling
from modAL.models import ActiveLearner, Committee
from modAL.uncertainty import uncertainty_sampling

from activelearning.estimators import EmbeddingHeadClassifier, KerasBinaryClassifier, StoredProbabilityClassifier

# modAL 0.4.2.1 passes scikit-learn's old force_all_finite name: harmless with the pinned 1.7.2.
pytestmark = pytest.mark.filterwarnings("ignore:.*force_all_finite.*:FutureWarning")


def test_the_pinned_scikit_learn_is_the_one_modal_works_with():
    assert version("scikit-learn") == "1.7.2"
    assert version("modAL-python") == "0.4.2.1"
    with open("requirements.txt") as fh:
        pins = fh.read().split()
    assert "scikit-learn==1.7.2" in pins
    assert "modAL-python==0.4.2.1" in pins


def tiny_network():
    from classifiers.runtime import keras

    k = keras()
    inputs = k.Input(shape=(2,))
    x = k.layers.Dense(8, activation="tanh", name="dense1")(inputs)
    return k.Model(inputs, k.layers.Dense(1, activation="sigmoid", name="score")(x))


@pytest.fixture
def toy():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(600, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)
    return x, y


def test_an_active_learner_trains_a_keras_model_and_queries_near_the_boundary(toy):
    x, y = toy
    est = KerasBinaryClassifier(build_fn=tiny_network, epochs=60, batch_size=32, learning_rate=0.05, augment=False)
    learner = ActiveLearner(estimator=est, query_strategy=uncertainty_sampling, X_training=x[:200], y_training=y[:200])
    proba = learner.predict_proba(x[200:])
    assert proba.shape == (400, 2)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert np.allclose(proba[:, 1], est.score_samples(x[200:]), atol=1e-6)
    assert (learner.predict(x[200:]) == y[200:]).mean() > 0.9
    idx, _ = learner.query(x[200:], n_instances=10)
    # The ten most uncertain points lie on the true boundary x0 = 0, not anywhere in [-1, 1].
    assert np.abs(x[200:][idx, 0]).max() < 0.3
    learner.teach(x[200:][idx], y[200:][idx])
    assert len(learner.X_training) == 210


def test_a_committee_of_seeds_queries_by_vote_entropy(toy):
    x, y = toy
    learners = [
        ActiveLearner(
            estimator=KerasBinaryClassifier(
                build_fn=tiny_network, epochs=25, batch_size=32, learning_rate=0.05, augment=False, seed=seed
            ),
            X_training=x[:150],
            y_training=y[:150],
        )
        for seed in (1, 2, 3)
    ]
    committee = Committee(learner_list=learners, query_strategy=vote_entropy_sampling)
    idx, _ = committee.query(x[150:], n_instances=5)
    assert len(idx) == 5
    assert committee.predict_proba(x[150:]).shape == (450, 2)


def test_warm_start_continues_from_the_given_weights_and_leaves_them_alone(toy):
    x, y = toy
    start = tiny_network()
    before = [w.copy() for w in start.get_weights()]
    est = KerasBinaryClassifier(model=start, epochs=2, learning_rate=0.05, augment=False)
    assert np.allclose(est.score_samples(x[:5]), start(x[:5]).numpy().reshape(-1), atol=1e-6)
    est.fit(x, y)
    assert all(np.array_equal(a, b) for a, b in zip(before, start.get_weights(), strict=True))
    assert not np.allclose(est.score_samples(x[:5]), start(x[:5]).numpy().reshape(-1))
    assert len(est.history_) == 2
    assert all(np.isfinite(est.history_))


def test_braai_probabilities_embeddings_and_head_agree_across_batches_of_1024():
    from classifiers.architectures import braai_vgg6

    rng = np.random.default_rng(1)
    x = rng.normal(size=(1100, 63, 63, 3)).astype(np.float32)
    model = braai_vgg6()
    est = KerasBinaryClassifier(model=model)
    proba = est.predict_proba(x)
    direct = model(x[:64], training=False).numpy().reshape(-1)
    assert proba.shape == (1100, 2)
    assert np.allclose(proba[:64, 1], direct, atol=1e-5)
    assert np.allclose(proba[:, 0], 1 - proba[:, 1])
    emb = est.embed(x)
    assert emb.shape == (1100, 256)
    head = est.head()
    assert np.allclose(head.predict_proba(emb), proba, atol=1e-5)


def test_modal_ranked_batch_sampler_runs_on_embeddings_through_the_head():
    rng = np.random.default_rng(2)
    emb = rng.normal(size=(500, 16))
    head = EmbeddingHeadClassifier(kernel=np.r_[1.0, np.zeros(15)], bias=0.0)
    learner = ActiveLearner(estimator=head, X_training=emb[:20], y_training=(emb[:20, 0] > 0).astype(int))
    learner.estimator = head  # keep the known boundary instead of the refit
    idx, _ = uncertainty_batch_sampling(learner, emb[20:], n_instances=10)
    assert len(set(idx.tolist())) == 10


def test_stored_probabilities_answer_by_row_index():
    clf = StoredProbabilityClassifier(np.array([0.1, 0.9, 0.5]))
    assert np.allclose(clf.predict_proba(np.array([[2], [0]])), [[0.5, 0.5], [0.9, 0.1]])
    assert list(clf.predict(StoredProbabilityClassifier.rows(3))) == [0, 1, 0]
