"""One learning curve: the oracle labels what a modAL strategy queries, and the network retrains, round by round."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from activelearning.estimators import KerasBinaryClassifier
from activelearning.simulation.data import Dataset
from activelearning.strategies import ranked_batch_order, uncertainty_utility

MODEL_NOTES = {
    "braai": "braai VGG6 (classifiers.architectures.braai_vgg6), warm-started each round",
    "small": "compact CNN of a DeepStreaks member (classifiers.architectures.streak_member), warm-started each round",
    "d6_m9": "braai d6_m9 as published (its own whole-cutout input recipe), fine-tuned after each batch",
}


def model_builder(name: str) -> Callable:
    from classifiers.architectures import BraaiHyperparameters, StreakHyperparameters, braai_vgg6, streak_member

    if name == "braai":
        return lambda: braai_vgg6(BraaiHyperparameters())
    if name == "small":
        return lambda: streak_member(StreakHyperparameters(), name="al_small")
    raise ValueError(f"unknown model {name!r}; expected braai or small")


def make_estimator(
    model: str, *, seed: int, epochs: int, learning_rate: float, batch_size: int, start=None
) -> KerasBinaryClassifier:
    """The estimator a replay retrains: a fresh ``model``, or, given ``start`` (a built Keras model), a fine-tune of
    a copy of it."""
    return KerasBinaryClassifier(
        model=start,
        build_fn=None if start is not None else model_builder(model),
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        warm_start=True,
        augment=True,
        balance_classes=True,
        seed=seed,
    )


# ------------------------------------------------------------------------------------------------------------
# One replay
# ------------------------------------------------------------------------------------------------------------


@dataclass
class Settings:
    strategies: list[str]
    initial: int = 100
    batch: int = 50
    rounds: int = 10
    seeds: int = 3
    model: str = "braai"
    epochs: int = 3
    first_epochs: int = 8
    learning_rate: float = 1e-3
    batch_size: int = 32
    committee_size: int = 3
    # Share of each batch drawn at random even for model-driven strategies, as the classify queue mixes in
    # Campaign.exploration_share; 0 replays the pure strategy.
    exploration: float = 0.0
    # The quality the curves follow ("auc", or "spearman" with the data set's reference score) and a fixed target
    # for the label saving (None: random's final mean).
    metric: str = "auc"
    target: float | None = None


@dataclass
class Point:
    strategy: str
    seed: int
    round: int
    n_labels: int
    auc: float | None
    n_positive_labels: int
    seconds: float
    spearman: float | None = None  # with the data set's reference score, when it has one


def _auc(y: np.ndarray, p: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y)) < 2:
        return None
    return float(roc_auc_score(y, p))


def _spearman(reference: np.ndarray | None, p: np.ndarray) -> float | None:
    from scipy.stats import spearmanr

    if reference is None or len(reference) < 2:
        return None
    return float(spearmanr(p, reference).statistic)


def _query(strategy: str, learner, x_pool: np.ndarray, n: int, rng: np.random.Generator, labelled_x: np.ndarray):
    """Indices into ``x_pool`` chosen by ``strategy`` (modAL's samplers)."""
    from modAL.uncertainty import entropy_sampling, margin_sampling, uncertainty_sampling

    n = min(n, len(x_pool))
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    if strategy == "random":
        return rng.choice(len(x_pool), size=n, replace=False)
    if strategy == "committee":
        idx, _ = learner.query(x_pool, n_instances=n)
        return np.asarray(idx)
    if strategy == "ranked_batch":
        est = learner.estimator
        proba = est.predict_proba(x_pool)[:, 1]
        return ranked_batch_order(
            pool_embeddings=est.embed(x_pool),
            pool_uncertainty=uncertainty_utility(proba),
            labeled_embeddings=est.embed(labelled_x),
            n_instances=n,
        )
    sampler = {"uncertainty": uncertainty_sampling, "margin": margin_sampling, "entropy": entropy_sampling}[strategy]
    idx, _ = sampler(learner, x_pool, n_instances=n)
    return np.asarray(idx)


def replay(
    dataset: Dataset,
    pool_idx: np.ndarray,
    test_idx: np.ndarray,
    *,
    strategy: str,
    seed: int,
    cfg: Settings,
    on_point: Callable[[Point], None] | None = None,
    start=None,
) -> list[Point]:
    """One learning curve: ``cfg.rounds`` query-label-retrain rounds after ``cfg.initial`` random labels, from a
    fresh ``cfg.model`` or from ``start`` (a built Keras model, fine-tuned: the transfer scenario)."""
    from modAL.disagreement import vote_entropy_sampling
    from modAL.models import ActiveLearner, Committee

    rng = np.random.default_rng(1000 + seed)
    # The same initial labels for every strategy of a seed: the curves differ only by what they query.
    initial = pool_idx[rng.choice(len(pool_idx), size=min(cfg.initial, len(pool_idx)), replace=False)]
    remaining = np.setdiff1d(pool_idx, initial)
    labelled = list(initial)
    x, y = dataset.x, dataset.y
    x_test, y_test = x[test_idx], y[test_idx]
    reference = None if dataset.reference is None else dataset.reference[test_idx]
    query_rng = np.random.default_rng(2000 + seed)
    # A replay from a published model may start with no labels at all: modAL then fits nothing before round 0.
    known = {"X_training": x[initial], "y_training": y[initial]} if len(initial) else {}

    def estimator(member_seed: int, epochs: int):
        return make_estimator(
            cfg.model,
            seed=member_seed,
            epochs=epochs,
            learning_rate=cfg.learning_rate,
            batch_size=cfg.batch_size,
            start=start,
        )

    if strategy == "committee":
        members = [
            ActiveLearner(estimator=estimator(seed * 100 + m, cfg.first_epochs), **known)
            for m in range(cfg.committee_size)
        ]
        for m in members:
            m.estimator.epochs = cfg.epochs
        learner = Committee(learner_list=members, query_strategy=vote_entropy_sampling)
    else:
        learner = ActiveLearner(estimator=estimator(seed, cfg.first_epochs), **known)
        learner.estimator.epochs = cfg.epochs

    points = []
    for round_number in range(cfg.rounds + 1):
        started = time.perf_counter()
        proba = learner.predict_proba(x_test)[:, 1]
        point = Point(
            strategy=strategy,
            seed=seed,
            round=round_number,
            n_labels=len(labelled),
            auc=_auc(y_test, proba),
            n_positive_labels=int(y[labelled].sum()),
            seconds=0.0,
            spearman=_spearman(reference, proba),
        )
        if round_number == cfg.rounds or len(remaining) == 0:
            point.seconds = round(time.perf_counter() - started, 2)
            points.append(point)
            if on_point:
                on_point(point)
            break
        n_batch = min(cfg.batch, len(remaining))
        n_explore = 0 if strategy == "random" else int(round(n_batch * cfg.exploration))
        picked = _query(strategy, learner, x[remaining], n_batch - n_explore, query_rng, x[labelled])
        if n_explore:
            rest = np.setdiff1d(np.arange(len(remaining)), picked)
            picked = np.concatenate([picked, query_rng.choice(rest, size=min(n_explore, len(rest)), replace=False)])
        chosen = remaining[picked]
        remaining = np.setdiff1d(remaining, chosen)
        labelled.extend(chosen.tolist())
        # The oracle answers; modAL's teach refits on every label so far, from the current weights.
        learner.teach(x[chosen], y[chosen])
        point.seconds = round(time.perf_counter() - started, 2)
        points.append(point)
        if on_point:
            on_point(point)
    return points
