"""Query strategies: which subjects volunteers should see next.

Every strategy turns model outputs into a *utility* per pool item, higher = more worth a human label, on a common
scale of [0, 1] so a campaign can switch strategy without the queue's other shares changing meaning:

* ``uncertainty`` — modAL's classifier uncertainty ``1 - max_k p_k`` (scaled by ``k / (k - 1)``);
* ``margin`` — one minus modAL's margin between the two most likely classes;
* ``entropy`` — modAL's prediction entropy divided by ``log k``;
* ``committee`` — disagreement of a committee (the streak ensemble's members, or several braai versions/seeds):
  vote entropy or consensus entropy as modAL defines them;
* ``ranked_batch`` — modAL's ranked batch-mode sampling (Cardoso et al. 2017) on penultimate-layer embeddings:
  uncertainty balanced against distance to what is already labelled, so one batch is not fifty near-copies;
* ``random`` — the subject's stable ``random_key``.

The measures are modAL's own functions applied to a :class:`~activelearning.estimators.StoredProbabilityClassifier`,
so the queue orders a campaign from stored ``Score`` rows without running a network. Where modAL loops in Python
per sample (vote entropy) a vectorised equivalent is used and tested equal to modAL's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from modAL.uncertainty import classifier_entropy, classifier_margin, classifier_uncertainty
from modAL.utils.selection import multi_argmax

from activelearning.estimators import StoredProbabilityClassifier, probabilities_from_sigmoid

STRATEGIES = ("uncertainty", "margin", "entropy", "committee", "ranked_batch", "random")
COMMITTEE_MEASURES = ("vote_entropy", "consensus_entropy")
# Ranked batch-mode sampling compares every candidate with every labelled item; it runs on the most uncertain
# RANKED_BATCH_CANDIDATES of the pool (the rest keep their uncertainty order). The shortlist also keeps the
# sampler near the boundary: with few labels its weight alpha = |U| / (|U| + |D|) favours diversity almost alone.
RANKED_BATCH_CANDIDATES = 1000


def as_class_probabilities(proba) -> np.ndarray:
    """``(n, k)`` class probabilities from either that or a 1-D P(positive)."""
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim == 1:
        return probabilities_from_sigmoid(p)
    if p.ndim != 2:
        raise ValueError(f"probabilities must be 1-D or 2-D, got shape {p.shape}")
    return p


def _stored(proba) -> tuple[StoredProbabilityClassifier, np.ndarray]:
    table = as_class_probabilities(proba)
    return StoredProbabilityClassifier(table), StoredProbabilityClassifier.rows(len(table))


def _binary(proba) -> np.ndarray | None:
    """P(positive) as float32 when ``proba`` is a 1-D single-sigmoid output, else None."""
    p = np.asarray(proba)
    return p.astype(np.float32, copy=False) if p.ndim == 1 else None


# For a single-sigmoid output the three measures have closed forms; on a million stored scores they run in
# milliseconds, where building modAL's (n, 2) float64 table takes most of a second. Tests hold them equal.


def uncertainty_utility(proba) -> np.ndarray:
    p = _binary(proba)
    if p is not None:
        return 1.0 - np.abs(2.0 * p - 1.0)  # modAL: (1 - max(p, 1 - p)) * 2
    return modal_utility("uncertainty", proba)


def margin_utility(proba) -> np.ndarray:
    p = _binary(proba)
    if p is not None:
        return 1.0 - np.abs(2.0 * p - 1.0)  # modAL's margin |p - (1 - p)|
    return modal_utility("margin", proba)


def entropy_utility(proba) -> np.ndarray:
    p = _binary(proba)
    if p is not None:
        q = np.clip(p, 1e-7, 1.0 - 1e-7)  # float32: 1 - 1e-12 would round to 1
        return -(q * np.log(q) + (1.0 - q) * np.log(1.0 - q)) / np.float32(math.log(2.0))
    return modal_utility("entropy", proba)


def modal_utility(strategy: str, proba) -> np.ndarray:
    """The same utilities computed by modAL itself on a stored-probability classifier (any number of classes)."""
    clf, rows = _stored(proba)
    k = clf.classes_.size
    if strategy == "uncertainty":
        return classifier_uncertainty(clf, rows) * (k / (k - 1))
    if strategy == "margin":
        return 1.0 - classifier_margin(clf, rows)
    if strategy == "entropy":
        return classifier_entropy(clf, rows) / math.log(k)
    raise ValueError(f"modAL measures are uncertainty, margin and entropy, not {strategy!r}")


def _member_probabilities(member_proba) -> np.ndarray:
    """``(n, m, k)`` from ``(n, m)`` P(positive) per member or from ``(n, m, k)``."""
    p = np.asarray(member_proba, dtype=np.float64)
    if p.ndim == 2:
        return np.stack([1.0 - p, p], axis=2)
    if p.ndim != 3:
        raise ValueError(f"committee probabilities must be (n, members) or (n, members, classes), got {p.shape}")
    return p


def _binary_entropy(f: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(f > 0, -f * np.log(f), 0.0) + np.where(f < 1, -(1 - f) * np.log(1 - f), 0.0)
    return terms


def vote_entropy(member_proba) -> np.ndarray:
    """modAL's ``vote_entropy``: entropy of the members' hard votes (argmax), vectorised. Natural log."""
    raw = np.asarray(member_proba)
    if raw.ndim == 2:
        # Single-sigmoid members vote "positive" when p > 0.5 (argmax of [1 - p, p] takes the first on a tie).
        # m members give only m + 1 possible vote fractions: look their entropies up instead of taking a
        # million logarithms.
        m = raw.shape[1]
        positives = np.count_nonzero(raw > 0.5, axis=1)
        return _binary_entropy(np.arange(m + 1) / m)[positives]
    p = _member_probabilities(member_proba)
    n, m, k = p.shape
    votes = np.argmax(p, axis=2)
    counts = np.stack([(votes == c).sum(axis=1) for c in range(k)], axis=1) / m
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(counts > 0, -counts * np.log(counts), 0.0)
    return terms.sum(axis=1)


def consensus_entropy(member_proba) -> np.ndarray:
    """modAL's ``consensus_entropy``: entropy of the members' mean probabilities. Natural log."""
    raw = np.asarray(member_proba)
    if raw.ndim == 2:
        return _binary_entropy(raw.mean(axis=1, dtype=np.float64))
    p = _member_probabilities(member_proba).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    return terms.sum(axis=1)


def committee_utility(member_proba, measure: str = "vote_entropy") -> np.ndarray:
    if measure not in COMMITTEE_MEASURES:
        raise ValueError(f"committee measure must be one of {COMMITTEE_MEASURES}, got {measure!r}")
    raw = np.asarray(member_proba)
    m = raw.shape[1]
    k = 2 if raw.ndim == 2 else raw.shape[2]
    if measure == "vote_entropy":
        # Vote entropy of m voters over k classes tops out at log(min(m, k)).
        top = math.log(min(m, k)) if min(m, k) > 1 else 1.0
        return vote_entropy(raw) / top
    return consensus_entropy(raw) / math.log(k)


def _min_distances(x: np.ndarray, y: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Euclidean distance from each row of ``x`` to its nearest row of ``y`` (float64, chunked over ``y``)."""
    xx = np.einsum("ij,ij->i", x, x)
    best = np.full(len(x), np.inf)
    for start in range(0, len(y), chunk):
        part = y[start : start + chunk]
        d2 = xx[:, None] + np.einsum("ij,ij->i", part, part)[None, :] - 2.0 * (x @ part.T)
        best = np.minimum(best, d2.min(axis=1))
    return np.sqrt(np.maximum(best, 0.0))


def ranked_batch_indices(
    embeddings: np.ndarray, uncertainty: np.ndarray, labeled: np.ndarray | None, n_instances: int
) -> np.ndarray:
    """modAL's ranked batch-mode selection (Cardoso et al. 2017), computed incrementally.

    Each step scores every remaining candidate as ``alpha * (1 - 1 / (1 + d)) + (1 - alpha) * uncertainty``, where
    ``d`` is its distance to the nearest labelled-or-already-picked item and ``alpha = |U| / (|U| + |D|)``, and
    picks the best. modAL recomputes ``d`` against the whole labelled set at every step (``n x |D|`` distances);
    keeping the running minimum and updating it with the one new pick gives the same ``d`` for ``n`` distances
    per step. ``tests/activelearning/test_strategies.py`` checks the
    picks against ``modAL.batch.ranked_batch``."""
    x = np.asarray(embeddings, dtype=np.float64)
    unc = np.asarray(uncertainty, dtype=np.float64)
    n = len(x)
    n_instances = min(n_instances, n)
    remaining = np.ones(n, dtype=bool)
    picked: list[int] = []
    if labeled is None or len(labeled) == 0:
        # Cold start, as modAL: the candidate with the smallest mean distance to all the others.
        d2 = np.einsum("ij,ij->i", x, x)
        mean_distance = np.sqrt(np.maximum(d2[:, None] + d2[None, :] - 2.0 * (x @ x.T), 0.0)).mean(axis=0)
        first = int(np.argmin(mean_distance))
        picked.append(first)
        remaining[first] = False
        d_min = np.sqrt(np.maximum(np.einsum("ij,ij->i", x - x[first], x - x[first]), 0.0))
        n_labeled = 1
    else:
        d_min = _min_distances(x, np.asarray(labeled, dtype=np.float64))
        n_labeled = len(labeled)
    while len(picked) < n_instances:
        n_unlabeled = int(remaining.sum())
        alpha = n_unlabeled / (n_unlabeled + n_labeled)
        score = alpha * (1.0 - 1.0 / (1.0 + d_min)) + (1.0 - alpha) * unc
        score[~remaining] = -np.inf
        best = int(np.argmax(score))
        picked.append(best)
        remaining[best] = False
        n_labeled += 1
        diff = x - x[best]
        d_min = np.minimum(d_min, np.sqrt(np.einsum("ij,ij->i", diff, diff)))
    return np.array(picked, dtype=np.int64)


def ranked_batch_order(
    *,
    pool_embeddings: np.ndarray,
    pool_uncertainty: np.ndarray,
    labeled_embeddings: np.ndarray | None,
    n_instances: int,
    candidates: int = RANKED_BATCH_CANDIDATES,
    use_modal: bool = False,
) -> np.ndarray:
    """Indices into the pool, best first, by ranked batch-mode sampling on the ``candidates`` most uncertain
    pool items (each step compares candidates with the labelled set, so the shortlist bounds the cost).

    ``use_modal=True`` runs ``modAL.batch.ranked_batch`` itself (the reference; slow on large sets)."""
    n = len(pool_uncertainty)
    if n == 0 or n_instances <= 0:
        return np.zeros(0, dtype=np.int64)
    pool_uncertainty = np.asarray(pool_uncertainty, dtype=np.float64)
    if n > candidates:
        shortlist, _ = multi_argmax(pool_uncertainty, n_instances=candidates)
    else:
        shortlist = np.arange(n)
    emb = np.asarray(pool_embeddings, dtype=np.float32)[shortlist]
    labeled = None
    if labeled_embeddings is not None and len(labeled_embeddings):
        labeled = np.asarray(labeled_embeddings, dtype=np.float32)
    n_pick = min(n_instances, len(shortlist))
    if not use_modal:
        picked = ranked_batch_indices(emb, pool_uncertainty[shortlist], labeled, n_pick)
        return shortlist[picked]
    from modAL.batch import ranked_batch
    from modAL.models import ActiveLearner

    # The learner only carries the labelled set here; the uncertainties come in precomputed.
    learner = ActiveLearner(estimator=StoredProbabilityClassifier(np.full(1, 0.5)))
    if labeled is not None:
        learner.X_training = labeled
    picked, _ = ranked_batch(
        learner,
        unlabeled=emb,
        uncertainty_scores=pool_uncertainty[shortlist],
        n_instances=n_pick,
        metric="euclidean",
        n_jobs=None,
    )
    return shortlist[np.asarray(picked, dtype=np.int64)]


def select_batch(utility: np.ndarray, n_instances: int) -> np.ndarray:
    """The ``n_instances`` highest-utility indices, best first (argpartition, then a sort of the few)."""
    utility = np.asarray(utility)
    n_instances = min(n_instances, len(utility))
    if n_instances <= 0:
        return np.zeros(0, dtype=np.int64)
    idx, values = multi_argmax(utility, n_instances=n_instances)
    return idx[np.argsort(-values, kind="stable")]


@dataclass
class PoolScores:
    """What the queue knows about a campaign's unretired subjects, row-aligned.

    ``proba`` is NaN where the active version has not scored the alert yet. ``members`` holds committee
    probabilities ``(n, m)`` (NaN rows where missing), or a list of such arrays, one committee per question; ``embeddings`` the penultimate-layer vectors (NaN rows
    where missing) and ``labeled_embeddings`` those of already-labelled subjects, for ranked batch-mode sampling.
    """

    proba: np.ndarray
    random_key: np.ndarray
    members: np.ndarray | list[np.ndarray] | None = None
    embeddings: np.ndarray | None = None
    labeled_embeddings: np.ndarray | None = None


@dataclass
class Priorities:
    priority: np.ndarray
    strategy_used: str
    note: str = ""


def priorities(
    strategy: str,
    pool: PoolScores,
    *,
    committee_measure: str = "vote_entropy",
    ranked_batch_size: int = 50,
) -> Priorities:
    """A priority per subject (higher = served first) from stored scores only.

    Scored subjects get their utility in [0, 1]; ranked batch-mode picks sit above them, in their rank order, in
    (1, 2]; subjects the active version has not scored yet come last in random order, in [-1, 0). With
    ``random`` every subject's priority is its ``random_key``.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}")
    random_key = np.asarray(pool.random_key, dtype=np.float64)
    n = len(random_key)
    if strategy == "random":
        return Priorities(random_key.copy(), "random")

    proba = np.asarray(pool.proba, dtype=np.float64).reshape(n)
    scored = ~np.isnan(proba)
    out = random_key - 1.0
    note = ""
    used = strategy
    if not scored.any():
        return Priorities(out, strategy, "no stored scores from the active version: random order")

    p = proba[scored]
    if strategy == "uncertainty":
        util = uncertainty_utility(p)
    elif strategy == "margin":
        util = margin_utility(p)
    elif strategy == "entropy":
        util = entropy_utility(p)
    elif strategy == "committee":
        groups = pool.members if isinstance(pool.members, list | tuple) else [pool.members]
        # Stored member scores stay float32: a float64 copy of a million-row committee costs more than the measure.
        groups = [np.asarray(g) for g in groups if g is not None]
        groups = [g if g.dtype.kind == "f" else g.astype(np.float64) for g in groups]
        groups = [g for g in groups if g.ndim == 2 and g.shape[1] >= 2]
        util = uncertainty_utility(p)
        if not groups:
            used = "uncertainty"
            note = "committee needs at least two members' scores; used uncertainty"
        else:
            # Several committees (the streak ensemble's rb, sl and kd groups): the most disputed question counts.
            per_group = np.full((len(p), len(groups)), np.nan)
            all_scored = bool(scored.all())
            for j, g in enumerate(groups):
                m = g if all_scored else g[scored]
                have = ~np.isnan(m).any(axis=1)
                if have.all():
                    per_group[:, j] = committee_utility(m, committee_measure)
                elif have.any():
                    per_group[have, j] = committee_utility(m[have], committee_measure)
            have_any = ~np.isnan(per_group).all(axis=1)
            util[have_any] = np.nanmax(per_group[have_any], axis=1)
            if not have_any.all():
                note = f"{int((~have_any).sum())} subjects lack committee scores; ranked by uncertainty"
    else:  # ranked_batch
        util = uncertainty_utility(p)
        emb = None if pool.embeddings is None else np.asarray(pool.embeddings, dtype=np.float32)
        if emb is None or emb.ndim != 2:
            used = "uncertainty"
            note = "no embeddings stored for ranked batch-mode sampling; used uncertainty"
        else:
            emb_scored = emb[scored]
            usable = ~np.isnan(emb_scored).any(axis=1)
            if not usable.any():
                used = "uncertainty"
                note = "no embeddings stored for ranked batch-mode sampling; used uncertainty"
            else:
                usable_idx = np.flatnonzero(usable)
                labeled = pool.labeled_embeddings
                if labeled is not None:
                    labeled = np.asarray(labeled, dtype=np.float32)
                    labeled = labeled[~np.isnan(labeled).any(axis=1)] if len(labeled) else None
                order = ranked_batch_order(
                    pool_embeddings=emb_scored[usable_idx],
                    pool_uncertainty=util[usable_idx],
                    labeled_embeddings=labeled,
                    n_instances=ranked_batch_size,
                )
                picks = usable_idx[order]
                util = util.copy()
                util[picks] = 1.0 + (len(picks) - np.arange(len(picks))) / len(picks)
    out[scored] = util
    return Priorities(out, used, note)
