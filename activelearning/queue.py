"""Queue priority: each campaign's unretired subjects ordered by its strategy, from the active model's stored scores.

``reorder_campaign(campaign)`` reads the active version's ``Score`` rows for the campaign's unretired subjects,
turns them into priorities with :mod:`activelearning.strategies` and writes ``Subject.priority`` in batches (each
batch its own short transaction, so volunteers keep voting while a large campaign is reordered). It records a
``QueueOrdering`` row. ``labeling.queue.next_subjects`` only reads ``priority`` (and mixes in the campaign's
exploration and gold shares), so serving the next subject never runs a network.

It runs in the background (``activelearning.tasks.reorder_campaign``) after a promotion and after a rescoring, and on demand
from the ML lead's page or the API.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
from django.db import connection, transaction

from activelearning import strategies
from activelearning.models import QueueOrdering
from labeling.models import Campaign, Subject

log = logging.getLogger(__name__)

WRITE_BATCH = 10_000
READ_CHUNK = 20_000
# Other versions whose scores make up a braai committee (several seeds / generations of the same task).
COMMITTEE_VERSIONS = 4
# Ranked batch-mode sampling compares candidates with at most this many labelled subjects (a seeded sample).
MAX_LABELED_EMBEDDINGS = 2000
RANKED_BATCH_SIZE = 50


@dataclass
class OrderingResult:
    ordering: QueueOrdering
    strategy_used: str
    note: str
    n_scored: int


def decode_embedding(blob) -> np.ndarray | None:
    """``Score.embedding`` (float16 bytes, as ``classifiers.scoring`` stores them) as float32; None when absent."""
    if blob is None:
        return None
    data = bytes(blob)
    if not data or len(data) % 2:
        return None
    return np.frombuffer(data, dtype="<f2").astype(np.float32)


def _active_version(task_name: str):
    from classifiers.registry import active_version

    return active_version(task_name)


def _subjects(campaign: Campaign) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = (
        Subject.objects.filter(campaign=campaign, retired=False)
        .order_by("pk")
        .values_list("pk", "alert_id", "random_key")
        .iterator(chunk_size=READ_CHUNK)
    )
    arr = np.array(list(rows), dtype=np.float64).reshape(-1, 3)
    return arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), arr[:, 2]


def _scores_for(version, campaign: Campaign, *, with_details: bool = False, with_embedding: bool = False):
    """{alert_id: (score, details, embedding)} of ``version`` for the campaign's unretired subjects."""
    from classifiers.models import Score

    fields = ["alert_id", "score"]
    if with_details:
        fields.append("details")
    if with_embedding:
        fields.append("embedding")
    pool = Subject.objects.filter(campaign=campaign, retired=False).values("alert_id")
    rows = Score.objects.filter(version=version, alert_id__in=pool).values_list(*fields).iterator(chunk_size=READ_CHUNK)
    return rows


def _probabilities(version, campaign: Campaign, alert_ids: np.ndarray, need_details: bool, need_embedding: bool):
    index = {int(a): i for i, a in enumerate(alert_ids)}
    proba = np.full(len(alert_ids), np.nan)
    details: list = [None] * len(alert_ids)
    embeddings: list = [None] * len(alert_ids)
    for row in _scores_for(version, campaign, with_details=need_details, with_embedding=need_embedding):
        i = index.get(int(row[0]))
        if i is None:
            continue
        proba[i] = row[1]
        col = 2
        if need_details:
            details[i] = row[col]
            col += 1
        if need_embedding:
            embeddings[i] = row[col]
    return proba, details, embeddings


def _committee_from_details(details: list) -> list[np.ndarray] | np.ndarray | None:
    """Member scores stored with each score: ``{"members": [...]}`` (one committee), or the streak ensemble's
    ``{"rb": [...], "sl": [...], "kd": [...]}`` (one committee per question; the queue takes the most disputed)."""
    sample = next((d for d in details if isinstance(d, dict) and d), None)
    if sample is None:
        return None
    keys = ["members"] if isinstance(sample.get("members"), list) else [g for g in ("rb", "sl", "kd") if g in sample]
    groups = []
    for key in keys:
        width = len(sample.get(key) or [])
        if width < 2:
            continue
        out = np.full((len(details), width), np.nan)
        for i, d in enumerate(details):
            members = d.get(key) if isinstance(d, dict) else None
            if isinstance(members, list) and len(members) == width:
                out[i] = members
        groups.append(out)
    if not groups:
        return None
    return groups[0] if len(groups) == 1 else groups


def _committee_from_versions(version, campaign: Campaign, alert_ids: np.ndarray) -> np.ndarray | None:
    """braai's committee: the active version plus up to COMMITTEE_VERSIONS other versions of the task that have
    scored these subjects (different seeds and generations disagree where the data are ambiguous)."""
    from classifiers.models import ModelVersion

    others = list(
        ModelVersion.objects.filter(task=version.task)
        .exclude(pk=version.pk)
        .filter(scores__alert__subjects__campaign=campaign)
        .distinct()
        .order_by("-version")
        .values_list("pk", flat=True)[:COMMITTEE_VERSIONS]
    )
    if not others:
        return None
    columns = [_probabilities(version, campaign, alert_ids, False, False)[0]]
    for pk in others:
        columns.append(_probabilities(ModelVersion(pk=pk), campaign, alert_ids, False, False)[0])
    return np.column_stack(columns)


def _labeled_embeddings(version, campaign: Campaign) -> np.ndarray | None:
    """Embeddings of subjects volunteers have already labelled, for ranked batch-mode diversity."""
    from classifiers.models import Score

    labeled = Subject.objects.filter(campaign=campaign).exclude(majority_label="").values("alert_id")
    blobs = list(
        Score.objects.filter(version=version, alert_id__in=labeled, embedding__isnull=False)
        .order_by("alert_id")
        .values_list("embedding", flat=True)[: MAX_LABELED_EMBEDDINGS * 4]
    )
    vectors = [v for v in (decode_embedding(b) for b in blobs) if v is not None]
    if not vectors:
        return None
    if len(vectors) > MAX_LABELED_EMBEDDINGS:
        pick = np.random.default_rng(campaign.pk).choice(len(vectors), MAX_LABELED_EMBEDDINGS, replace=False)
        vectors = [vectors[i] for i in sorted(pick)]
    dim = len(vectors[0])
    return np.stack([v for v in vectors if len(v) == dim])


def _computed_embeddings(version, alert_ids: np.ndarray) -> np.ndarray | None:
    """Penultimate-layer embeddings computed now (background work only) when the scores stored none."""
    from classifiers.models import BRAAI_TASKS

    if version.task not in BRAAI_TASKS or len(alert_ids) == 0:
        return None
    from classifiers.inference import predictor_for
    from classifiers.preprocessing import load_inputs
    from classifiers.registry import load_model, recipe_of

    predictor = predictor_for(load_model(version))
    # The version's own recipe: an embedding of inputs the model was not made for places alerts arbitrarily.
    _, emb = predictor.scores_and_embeddings(load_inputs([int(a) for a in alert_ids], recipe_of(version)))
    return emb


def _embeddings(version, campaign, alert_ids, proba, blobs):
    """Embeddings for the pool (NaN rows where unknown) and the labelled set; computed for the shortlist and the
    labelled subjects when no embeddings were stored with the scores."""
    decoded = [decode_embedding(b) for b in blobs]
    dim = next((len(v) for v in decoded if v is not None), 0)
    labeled = _labeled_embeddings(version, campaign) if dim else None
    if dim:
        pool = np.full((len(alert_ids), dim), np.nan, dtype=np.float32)
        for i, v in enumerate(decoded):
            if v is not None and len(v) == dim:
                pool[i] = v
        return pool, labeled
    # No stored embeddings: compute them for the most uncertain shortlist and for the labelled subjects.
    scored = np.flatnonzero(~np.isnan(proba))
    if len(scored) == 0:
        return None, None
    util = strategies.uncertainty_utility(proba[scored])
    shortlist = scored[strategies.select_batch(util, strategies.RANKED_BATCH_CANDIDATES)]
    emb = _computed_embeddings(version, alert_ids[shortlist])
    if emb is None:
        return None, None
    pool = np.full((len(alert_ids), emb.shape[1]), np.nan, dtype=np.float32)
    pool[shortlist] = emb
    from classifiers.models import task_survey

    # The shortlist was scored by the version, so it is of the model's survey; labelled subjects of another
    # survey (a campaign that mixes them) have no place in its embedding.
    labeled_ids = list(
        Subject.objects.filter(campaign=campaign, alert__survey=task_survey(version.task))
        .exclude(majority_label="")
        .order_by("pk")
        .values_list("alert_id", flat=True)[:MAX_LABELED_EMBEDDINGS]
    )
    labeled = _computed_embeddings(version, np.array(labeled_ids, dtype=np.int64)) if labeled_ids else None
    return pool, labeled


def write_priorities(subject_ids: np.ndarray, priority: np.ndarray, *, batch_size: int = WRITE_BATCH) -> None:
    """``Subject.priority`` for these subjects, in batches, each batch its own short transaction."""
    ids = [int(i) for i in subject_ids]
    values = [float(p) for p in priority]
    for start in range(0, len(ids), batch_size):
        chunk_ids, chunk_values = ids[start : start + batch_size], values[start : start + batch_size]
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(
                        f"UPDATE {Subject._meta.db_table} AS s SET priority = v.p "
                        "FROM unnest(%s::bigint[], %s::double precision[]) AS v(id, p) WHERE s.id = v.id",
                        [chunk_ids, chunk_values],
                    )
            else:
                Subject.objects.bulk_update(
                    [Subject(pk=i, priority=p) for i, p in zip(chunk_ids, chunk_values, strict=True)],
                    ["priority"],
                    batch_size=1000,
                )


def reorder_campaign(
    campaign: Campaign | int,
    *,
    version=None,
    strategy: str | None = None,
    ranked_batch_size: int = RANKED_BATCH_SIZE,
    progress=None,
) -> OrderingResult:
    """Write ``Subject.priority`` for the campaign's unretired subjects from ``version``'s stored scores (default:
    the active version of the campaign's ``model_task``) by the campaign's strategy, and record the ordering."""
    started = time.perf_counter()
    if not isinstance(campaign, Campaign):
        campaign = Campaign.objects.get(pk=campaign)
    strategy = strategy or campaign.strategy
    if strategy not in strategies.STRATEGIES:
        raise ValueError(f"campaign {campaign.slug}: unknown strategy {strategy!r}")
    if version is None:
        version = _active_version(campaign.model_task)
    subject_ids, alert_ids, random_key = _subjects(campaign)

    n_scored = 0
    if version is None or strategy == "random":
        pool = strategies.PoolScores(proba=np.full(len(subject_ids), np.nan), random_key=random_key)
    else:
        need_details = strategy == "committee"
        need_embedding = strategy == "ranked_batch"
        proba, details, blobs = _probabilities(version, campaign, alert_ids, need_details, need_embedding)
        n_scored = int((~np.isnan(proba)).sum())
        pool = strategies.PoolScores(proba=proba, random_key=random_key)
        if need_details:
            pool.members = _committee_from_details(details)
            if pool.members is None:
                pool.members = _committee_from_versions(version, campaign, alert_ids)
        if need_embedding:
            pool.embeddings, pool.labeled_embeddings = _embeddings(version, campaign, alert_ids, proba, blobs)
    result = strategies.priorities(strategy, pool, ranked_batch_size=ranked_batch_size)
    if version is None and strategy != "random":
        result.note = f"no active {campaign.model_task} model: random order"
    write_priorities(subject_ids, result.priority)
    ordering = QueueOrdering.objects.create(
        campaign=campaign,
        version=version,
        strategy=result.strategy_used,
        n_subjects=len(subject_ids),
        duration_ms=round((time.perf_counter() - started) * 1000.0, 1),
    )
    if progress is not None:
        progress(
            {
                "event": "reordered",
                "campaign": campaign.slug,
                "strategy": result.strategy_used,
                "n_subjects": len(subject_ids),
                "n_scored": n_scored,
                "note": result.note,
                "duration_ms": ordering.duration_ms,
            }
        )
    log.info(
        "reordered %s: %d subjects by %s (%d scored) in %.0f ms %s",
        campaign.slug,
        len(subject_ids),
        result.strategy_used,
        n_scored,
        ordering.duration_ms,
        result.note,
    )
    return OrderingResult(ordering=ordering, strategy_used=result.strategy_used, note=result.note, n_scored=n_scored)


def campaigns_for_task(task_name: str):
    """Campaigns whose queue follows this classifier task and still serve subjects."""
    return Campaign.objects.filter(model_task=task_name).exclude(state=Campaign.State.FINISHED).order_by("pk")
