"""Each query strategy picks sensibly on a toy problem whose decision boundary is known: x0 = 0."""

from __future__ import annotations

import numpy as np
import pytest
from modAL.disagreement import consensus_entropy as modal_consensus_entropy
from modAL.disagreement import vote_entropy as modal_vote_entropy
from modAL.models import ActiveLearner, Committee
from scipy.spatial.distance import pdist

from activelearning import strategies
from activelearning.estimators import StoredProbabilityClassifier


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


@pytest.fixture
def toy():
    """2-D points, true class x0 > 0, and a model that knows the boundary with a soft edge."""
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, size=(4000, 2))
    proba = sigmoid(6.0 * x[:, 0])
    return x, proba, rng.random(len(x))


@pytest.mark.parametrize("strategy", ["uncertainty", "margin", "entropy"])
def test_uncertainty_like_strategies_pick_the_points_nearest_the_boundary(toy, strategy):
    x, proba, keys = toy
    result = strategies.priorities(strategy, strategies.PoolScores(proba=proba, random_key=keys))
    picked = strategies.select_batch(result.priority, 50)
    nearest = np.sort(np.abs(x[:, 0]))[:50]
    assert result.strategy_used == strategy
    assert np.allclose(np.sort(np.abs(x[picked, 0])), nearest)
    # Best first: the first pick is the single nearest point.
    assert abs(x[picked[0], 0]) == nearest[0]


@pytest.mark.parametrize("strategy", ["uncertainty", "margin", "entropy"])
def test_the_closed_forms_equal_modals_own_measures(toy, strategy):
    _, proba, _ = toy
    fast = {"uncertainty": strategies.uncertainty_utility, "margin": strategies.margin_utility,
            "entropy": strategies.entropy_utility}[strategy](proba)  # fmt: skip
    assert np.allclose(fast, strategies.modal_utility(strategy, proba), atol=1e-5)
    # modAL on the (n, 2) layout takes the same path as a 2-D input here.
    assert np.allclose(
        strategies.modal_utility(strategy, proba), getattr(strategies, f"{strategy}_utility")(np.c_[1 - proba, proba])
    )


def test_entropy_orders_binary_scores_as_uncertainty_does(toy):
    _, proba, _ = toy
    u = strategies.uncertainty_utility(proba)
    assert (np.argsort(strategies.entropy_utility(proba)) == np.argsort(u)).mean() > 0.99


def test_committee_picks_where_members_disagree(toy):
    x, proba, keys = toy
    # Three members whose boundaries sit at -0.2, 0 and 0.2: they disagree only in that band.
    members = np.column_stack([sigmoid(30 * (x[:, 0] - b)) for b in (-0.2, 0.0, 0.2)])
    for measure in ("vote_entropy", "consensus_entropy"):
        result = strategies.priorities(
            "committee", strategies.PoolScores(proba=proba, random_key=keys, members=members), committee_measure=measure
        )
        picked = strategies.select_batch(result.priority, 50)
        assert result.strategy_used == "committee"
        assert np.all(np.abs(x[picked, 0]) < 0.25), measure


def test_vectorised_committee_measures_equal_modals_own():
    rng = np.random.default_rng(0)
    members = rng.random((300, 5))
    committee = Committee([ActiveLearner(estimator=StoredProbabilityClassifier(members[:, j])) for j in range(5)])
    rows = StoredProbabilityClassifier.rows(300)
    assert np.allclose(strategies.vote_entropy(members), modal_vote_entropy(committee, rows))
    assert np.allclose(strategies.consensus_entropy(members), modal_consensus_entropy(committee, rows))


def test_committee_with_one_member_falls_back_to_uncertainty_and_says_so(toy):
    x, proba, keys = toy
    result = strategies.priorities(
        "committee", strategies.PoolScores(proba=proba, random_key=keys, members=proba[:, None])
    )
    assert result.strategy_used == "uncertainty"
    assert "two members" in result.note


def test_ranked_batch_picks_uncertain_but_spread_out_points(toy):
    x, proba, keys = toy
    # Embeddings are the 2-D positions themselves; the labelled set sits near the boundary's middle.
    labeled = np.array([[0.0, 0.0], [0.05, 0.1], [-0.05, -0.1]])
    pool = strategies.PoolScores(proba=proba, random_key=keys, embeddings=x, labeled_embeddings=labeled)
    result = strategies.priorities("ranked_batch", pool, ranked_batch_size=20)
    picked = strategies.select_batch(result.priority, 20)
    plain = strategies.select_batch(strategies.uncertainty_utility(proba), 20)
    assert result.strategy_used == "ranked_batch"
    # Still near the boundary: all from the most uncertain quarter of the pool (the sampler's shortlist)...
    assert len(x) >= 4 * strategies.RANKED_BATCH_CANDIDATES
    assert np.abs(x[picked, 0]).max() <= np.quantile(np.abs(x[:, 0]), 0.25)
    # ...but farther apart from each other and from the labelled points than plain uncertainty's picks.
    assert pdist(x[picked]).min() > pdist(x[plain]).min()
    assert np.median(np.abs(x[picked, 1])) > 0.2
    # The ranked picks come first, in the sampler's order.
    assert np.all(result.priority[picked] > 1.0)


def test_random_order_is_the_random_key_and_ignores_the_model(toy):
    x, proba, keys = toy
    result = strategies.priorities("random", strategies.PoolScores(proba=proba, random_key=keys))
    assert np.array_equal(result.priority, keys)
    picked = strategies.select_batch(result.priority, 400)
    # Spread over the whole square, not bunched at the boundary.
    assert 0.4 < np.abs(x[picked, 0]).mean() < 0.6


def test_unscored_subjects_come_after_scored_ones_in_random_order(toy):
    _, proba, keys = toy
    proba = proba.copy()
    proba[:100] = np.nan
    result = strategies.priorities("uncertainty", strategies.PoolScores(proba=proba, random_key=keys))
    assert result.priority[:100].max() < 0 <= result.priority[100:].min()
    assert np.allclose(result.priority[:100], keys[:100] - 1)


def test_unknown_strategy_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown strategy 'newest'"):
        strategies.priorities("newest", strategies.PoolScores(proba=np.zeros(2), random_key=np.zeros(2)))


def test_grouped_committees_rank_by_the_most_disputed_question(toy):
    x, proba, keys = toy
    agree = np.column_stack([proba, proba])
    # The second question's two members disagree only where x1 > 0.9.
    dispute = np.column_stack([np.where(x[:, 1] > 0.9, 0.9, 0.1), np.full(len(x), 0.1)])
    result = strategies.priorities(
        "committee", strategies.PoolScores(proba=proba, random_key=keys, members=[agree, dispute])
    )
    picked = strategies.select_batch(result.priority, 30)
    assert np.all(x[picked, 1] > 0.9)


def test_incremental_ranked_batch_picks_what_modals_sampler_picks():
    rng = np.random.default_rng(5)
    emb = rng.normal(size=(300, 16))
    unc = rng.random(300)
    labeled = rng.normal(size=(40, 16))
    ours = strategies.ranked_batch_order(
        pool_embeddings=emb, pool_uncertainty=unc, labeled_embeddings=labeled, n_instances=25
    )
    modal = strategies.ranked_batch_order(
        pool_embeddings=emb, pool_uncertainty=unc, labeled_embeddings=labeled, n_instances=25, use_modal=True
    )
    assert list(ours) == list(modal)


def test_binary_committee_measures_equal_the_general_ones():
    rng = np.random.default_rng(6)
    members = rng.random((500, 4))
    members[:5] = 0.5  # ties vote for the first class, as modAL's argmax does
    three_d = np.stack([1 - members, members], axis=2)
    assert np.allclose(strategies.vote_entropy(members), strategies.vote_entropy(three_d))
    assert np.allclose(strategies.consensus_entropy(members), strategies.consensus_entropy(three_d))
