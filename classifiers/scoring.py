"""Batch scoring: stamps in, one ``Score`` row per (alert, version) out.

Scores are kept per version so two versions can be compared on the same alerts. Writing is idempotent
(an upsert on the (alert, version) key), so a rerun after a crash or on overlapping selections is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from django.db import connection, connections, transaction
from django.db.models import QuerySet

from classifiers.models import REAL_BOGUS_TASK_OF_SURVEY, ModelVersion, Score, Task, task_survey
from classifiers.preprocessing import load_inputs
from classifiers.registry import recipe_of

log = logging.getLogger(__name__)

# Alerts per step: two network batches of 1,024. The next chunk is read and preprocessed while one is scored, so
# a chunk is small enough for the two to take turns often, large enough to amortise a round trip.
CHUNK = 2048


def score_inputs(version: ModelVersion, x: np.ndarray, *, embeddings: bool = False):
    """Scores of preprocessed stamps by a version: ``(scores, details, embeddings)``.

    ``details`` holds, for the streak ensemble, each group's member scores and the plausible decision (None for
    braai); ``embeddings`` the ``dense1`` activations as float16 when asked for and the model has them."""
    from classifiers.inference import predictor_for
    from classifiers.registry import load_model

    model = load_model(version)
    if version.task == Task.STREAKS:
        score, plausible, member_scores = model.predict(x)
        details = [
            {
                **{g: [round(float(v), 5) for v in member_scores[g][i]] for g in member_scores},
                "plausible": bool(plausible[i]),
            }
            for i in range(len(x))
        ]
        return score, details, None
    predictor = predictor_for(model)
    if embeddings:
        score, embedding = predictor.scores_and_embeddings(x)
        return score, None, embedding.astype(np.float16)
    return predictor.scores(x), None, None


# Alert ids per query when checking their survey: a primary-key lookup, cheap beside scoring them.
SURVEY_CHUNK = 20_000


def _alert_ids(alerts: QuerySet | Iterable, survey: str) -> tuple[list[int], int]:
    """The ids of the alerts of ``survey`` among ``alerts``, and how many others were left out."""
    if isinstance(alerts, QuerySet):
        # The survey column is not indexed (two values): filtered in the same SQL, never counted apart.
        return list(alerts.filter(survey=survey).order_by("pk").values_list("pk", flat=True)), 0
    from labeling.models import Alert

    ids = [int(getattr(item, "pk", item)) for item in alerts]
    other: set[int] = set()
    for start in range(0, len(ids), SURVEY_CHUNK):
        chunk = ids[start : start + SURVEY_CHUNK]
        other.update(Alert.objects.filter(pk__in=chunk).exclude(survey=survey).values_list("pk", flat=True))
    return ([i for i in ids if i not in other] if other else ids), len(other)


def score_alerts(
    alerts: QuerySet | Iterable,
    version: ModelVersion,
    *,
    embeddings: bool = False,
    progress: Callable[[dict], None] | None = None,
    chunk: int = CHUNK,
) -> int:
    """Score alerts (a queryset, alerts or alert ids) by ``version`` and store one ``Score`` per alert.

    Only alerts of the survey the version's task learnt (``TASK_SURVEY``) are scored: a ZTF model's score of a
    Rubin stamp (or the reverse) would mean nothing. Others are skipped, and the log says how many and why.
    Returns the number of scores written. ``progress`` gets ``{"event": "scored", "done": n, "total": N}``
    after each chunk."""
    survey = task_survey(version.task)
    ids, skipped = _alert_ids(alerts, survey)
    if skipped:
        log.warning(
            "%s scores %s alerts only: %d alert(s) of another survey skipped (scored by their own survey's task)",
            version.label,
            survey,
            skipped,
        )
    total = len(ids)
    done = 0
    recipe = recipe_of(version)
    for part, x in _inputs_ahead([ids[start : start + chunk] for start in range(0, total, chunk)], recipe):
        scores, details, embedding = score_inputs(version, x, embeddings=embeddings)
        _store(version, part, scores, details, embedding)
        done += len(part)
        if progress is not None:
            progress({"event": "scored", "done": done, "total": total, "version_id": version.pk})
    return done


def _inputs_ahead(parts: list[list[int]], recipe) -> Iterator[tuple[list[int], np.ndarray]]:
    """Each part of the alert ids with its network input, in turn. Outside a transaction the next part is read
    and preprocessed in a second thread (with its own connection) while the caller scores and stores this one:
    PostgreSQL, inflating stamps and most of numpy release the GIL, so the network no longer waits for its
    input. Inside a transaction another connection would not see what it has not committed: one thread then."""
    if len(parts) < 2 or connection.in_atomic_block:
        for part in parts:
            yield part, load_inputs(part, recipe)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="blink-score-input") as reader:
        try:
            ahead = reader.submit(load_inputs, parts[0], recipe)
            for index, part in enumerate(parts):
                x = ahead.result()
                if index + 1 < len(parts):
                    ahead = reader.submit(load_inputs, parts[index + 1], recipe)
                yield part, x
        finally:
            reader.submit(connections.close_all)  # the reader thread's own connection


# One statement per chunk for a single-sigmoid model's scores: the ORM's bulk upsert builds one model instance and
# one parameter per field of every row, a cost of the same order as the network's for the same alerts.
UPSERT_SCORES = """
INSERT INTO {table} (alert_id, version_id, score, details, scored_at)
SELECT alert_id, %s, score, '{{}}'::jsonb, now() FROM unnest(%s::bigint[], %s::float8[]) AS given(alert_id, score)
ON CONFLICT (alert_id, version_id) DO UPDATE SET score = EXCLUDED.score, details = EXCLUDED.details
"""


def _store(
    version: ModelVersion,
    alert_ids: Sequence[int],
    scores: np.ndarray,
    details: list[dict] | None,
    embedding: np.ndarray | None,
) -> None:
    if details is None and embedding is None and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                UPSERT_SCORES.format(table=Score._meta.db_table),
                [version.pk, [int(i) for i in alert_ids], np.asarray(scores, dtype=np.float64).tolist()],
            )
        return
    rows = [
        Score(
            alert_id=alert_id,
            version=version,
            score=float(scores[i]),
            details=details[i] if details is not None else {},
            embedding=embedding[i].tobytes() if embedding is not None else None,
        )
        for i, alert_id in enumerate(alert_ids)
    ]
    update_fields = ["score", "details"] + (["embedding"] if embedding is not None else [])
    with transaction.atomic():
        Score.objects.bulk_create(
            rows,
            batch_size=2000,
            update_conflicts=True,
            unique_fields=["alert", "version"],
            update_fields=update_fields,
        )


def score_new_alerts(alert_ids: Sequence[int]) -> dict[str, int]:
    """Score freshly ingested alerts, each survey's by the active version of each task of that survey (ZTF alerts
    by the ZTF real/bogus and streak models, Rubin alerts by the Rubin model); nothing, and no TensorFlow import,
    when no model is active. Returns ``{task: n_scored}`` for the tasks that had alerts of their survey. A
    scoring failure is logged, never raised: ingest must not lose alerts because a model could not run."""
    versions = list(ModelVersion.objects.defer("weights").filter(status=ModelVersion.Status.ACTIVE))
    result: dict[str, int] = {}
    if not versions or not alert_ids:
        return result
    from labeling.models import Alert

    # A stamp is scored only by a model of its own survey: a ZTF braai on a Rubin stamp (another instrument's
    # picture, 0.2"/px) or the reverse would give a score that means nothing.
    by_survey: dict[str, list[int]] = {}
    for pk, survey in Alert.objects.filter(pk__in=list(alert_ids)).order_by("pk").values_list("pk", "survey"):
        by_survey.setdefault(survey, []).append(pk)
    for version in versions:
        ids = by_survey.get(task_survey(version.task))
        if not ids:
            continue
        try:
            result[version.task] = score_alerts(ids, version)
        except Exception:
            log.exception("scoring %d new alerts with %s failed", len(ids), version.label)
            result[version.task] = 0
    return result


def current_score(alert, task: str | None = None) -> Score | None:
    """The alert's score by the task's active version (by default the real/bogus task of the alert's survey), or
    None (no active model, or not scored yet)."""
    if task is None:
        task = REAL_BOGUS_TASK_OF_SURVEY.get(getattr(alert, "survey", "ztf"), Task.REAL_BOGUS)
    return (
        Score.objects.select_related("version")
        .defer("version__weights", "embedding")
        .filter(alert=alert, version__task=task, version__status=ModelVersion.Status.ACTIVE)
        .first()
    )


def unscored_alerts(version: ModelVersion, alerts: QuerySet | None = None) -> QuerySet:
    """Alerts (all, or of ``alerts``) with no score by ``version`` yet."""
    from labeling.models import Alert

    queryset = alerts if alerts is not None else Alert.objects.all()
    return queryset.exclude(scores__version=version)


def embedding_of(score: Score) -> np.ndarray | None:
    if score.embedding is None:
        return None
    return np.frombuffer(bytes(score.embedding), dtype=np.float16).astype(np.float32)
