"""The database, read as numpy arrays: every alert's night and input columns, the scores of a version, the
volunteers' agreement, and stamp statistics.

Stamp statistics are computed on a seeded sample of each night's stamps (decompressing a million stamps per
ingest would cost more than it tells) and reused while a night's alert count is unchanged.

Each survey is read on its own (:data:`SURVEY_COLUMNS`): a task's drift summarises its own survey's alerts only,
so a ZTF night never counts a Rubin alert, and each survey is summarised by the columns it fills (ZTF's seeing and
star/galaxy score are null for Rubin; Rubin's S/N and its own reliability score are what it sends instead).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from classifiers.drift.config import META_KEY, STAMP_VARIABLES, DriftConfig
from classifiers.models import DriftNight, ModelVersion


def robust_spread(stamps: np.ndarray) -> np.ndarray:
    """1.4826 x median absolute deviation of each stamp in a (n, h, w) batch: the noise level, blind to the
    bright source at the centre."""
    flat = stamps.reshape(stamps.shape[0], -1)
    med = np.median(flat, axis=1, keepdims=True)
    return 1.4826 * np.median(np.abs(flat - med), axis=1)


def stamp_statistics(alert_ids: Sequence[int], recipe=None) -> dict[str, np.ndarray]:
    """``stamp_diff_std``, ``stamp_diff_mad`` and ``stamp_template_mad`` of these alerts' stamps, in order.

    The preprocessed stamps come from the classifiers' own preprocessing (``recipe``: how the survey's cutouts
    become 63x63; ZTF's by default), so the statistic sees what the model sees."""
    from classifiers.preprocessing import DEFAULT_RECIPE, load_stamp_batch, preprocess

    recipe = recipe or DEFAULT_RECIPE
    if len(alert_ids) == 0:
        return {name: np.array([], dtype=np.float64) for name in STAMP_VARIABLES}
    triplets = load_stamp_batch(alert_ids)
    diff_std = np.full(len(triplets), np.nan)
    for i, (_, _, difference) in enumerate(triplets):
        finite = difference[np.isfinite(difference)]
        if finite.size:
            diff_std[i] = finite.std()
    batch = preprocess(triplets, recipe)  # (n, 63, 63, 3): science, template, difference
    return {
        "stamp_diff_std": diff_std,
        "stamp_diff_mad": robust_spread(batch[..., 2]),
        "stamp_template_mad": robust_spread(batch[..., 1]),
    }


# ---------------------------------------------------------------------------------------------------------
# Reading the database.

ALERT_COLUMNS = ("magpsf", "fwhm", "elong", "sgscore1")
# The input columns summarised per survey: those the survey fills (``labeling.models.alerts`` maps Rubin's).
SURVEY_COLUMNS = {"ztf": ALERT_COLUMNS, "rubin": ("magpsf", "snr", "drb")}
READ_CHUNK = 50_000


@dataclass
class AlertTable:
    """One row per alert, as numpy arrays: ids (sorted), nights (day ordinals), nids and the input columns."""

    ids: np.ndarray
    nights: np.ndarray
    nids: np.ndarray  # -1 where the packet had none
    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.ids.size)


def load_alert_table(survey: str = "ztf") -> AlertTable:
    """Every alert of ``survey`` with its night and the survey's input columns (:data:`SURVEY_COLUMNS`), streamed
    in chunks so a million alerts never become a million model instances."""
    from labeling.models import Alert

    columns_read = SURVEY_COLUMNS[survey]
    fields = ("id", "night", "nid", *columns_read)
    ids, nights, nids, cols = [], [], [], {c: [] for c in columns_read}
    rows = Alert.objects.filter(survey=survey).order_by("id").values_list(*fields).iterator(chunk_size=READ_CHUNK)
    while True:
        chunk = list(_take(rows, READ_CHUNK))
        if not chunk:
            break
        columns = list(zip(*chunk, strict=True))
        ids.append(np.array(columns[0], dtype=np.int64))
        nights.append(np.fromiter((d.toordinal() for d in columns[1]), dtype=np.int64, count=len(chunk)))
        nids.append(np.array([-1 if x is None else x for x in columns[2]], dtype=np.int64))
        for name, values in zip(columns_read, columns[3:], strict=True):
            cols[name].append(np.array(values, dtype=np.float64))  # None becomes NaN
    if not ids:
        empty = np.array([], dtype=np.int64)
        return AlertTable(empty, empty, empty, {c: np.array([], dtype=np.float64) for c in columns_read})
    return AlertTable(
        ids=np.concatenate(ids),
        nights=np.concatenate(nights),
        nids=np.concatenate(nids),
        columns={c: np.concatenate(v) for c, v in cols.items()},
    )


def _take(iterator, n: int):
    for _ in range(n):
        try:
            yield next(iterator)
        except StopIteration:
            return


def align(ids: np.ndarray, keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` (indexed by ``keys``) placed at the positions of the sorted ``ids``; NaN where absent."""
    out = np.full(ids.size, np.nan)
    if keys.size == 0:
        return out
    pos = np.searchsorted(ids, keys)
    ok = (pos < ids.size) & (ids[np.minimum(pos, ids.size - 1)] == keys)
    out[pos[ok]] = values[ok]
    return out


def load_scores(version: ModelVersion | None, ids: np.ndarray) -> np.ndarray:
    from classifiers.models import Score

    if version is None:
        return np.full(ids.size, np.nan)
    rows = np.array(list(Score.objects.filter(version=version).values_list("alert_id", "score")), dtype=np.float64)
    if rows.size == 0:
        return np.full(ids.size, np.nan)
    return align(ids, rows[:, 0].astype(np.int64), rows[:, 1])


def stamp_sample_ids(ids: np.ndarray, seed: int, night: int, size: int) -> np.ndarray:
    """A seeded sample of one night's alerts: the same alerts are chosen while the night is unchanged."""
    if ids.size <= size:
        return np.sort(ids)
    rng = np.random.default_rng([seed, night])
    return np.sort(rng.choice(np.sort(ids), size=size, replace=False))


def stamp_columns(
    table: AlertTable, config: DriftConfig, previous: Mapping[int, dict], recipe=None
) -> tuple[dict[str, np.ndarray], dict[int, dict]]:
    """Stamp statistics for a seeded sample of each night's alerts (NaN elsewhere), and the samples to store.

    A night's stored sample is reused while its alert count is unchanged, so recomputing after an ingest
    decompresses only the stamps of the nights that ingest touched."""
    from labeling.models import Stamps

    out = {name: np.full(len(table), np.nan) for name in STAMP_VARIABLES}
    samples: dict[int, dict] = {}
    order = np.argsort(table.nights, kind="stable")
    nights_sorted = table.nights[order]
    unique, starts = np.unique(nights_sorted, return_index=True)
    ends = np.append(starts[1:], nights_sorted.size)
    for night, lo, hi in zip(unique.tolist(), starts.tolist(), ends.tolist(), strict=True):
        stored = previous.get(night)
        if stored and stored.get("n_alerts") == hi - lo and set(stored.get("values", {})) == set(STAMP_VARIABLES):
            sample = np.asarray(stored["ids"], dtype=np.int64)
            values = {k: np.asarray(v, dtype=np.float64) for k, v in stored["values"].items()}
        else:
            chosen = stamp_sample_ids(table.ids[order[lo:hi]], config.seed, night, config.stamp_sample_per_night)
            with_stamps = set(Stamps.objects.filter(alert_id__in=chosen.tolist()).values_list("alert_id", flat=True))
            sample = np.array([i for i in chosen.tolist() if i in with_stamps], dtype=np.int64)
            values = stamp_statistics(sample.tolist(), recipe)
        for name in STAMP_VARIABLES:
            filled = align(table.ids, sample, values[name])
            mask = np.isfinite(filled)
            out[name][mask] = filled[mask]
        samples[night] = {
            "n_alerts": int(hi - lo),
            "ids": sample.tolist(),
            # Rounded: the sample is for percentiles and drift tests, not for bit-exact replay.
            "values": {k: [None if not np.isfinite(x) else round(float(x), 6) for x in v] for k, v in values.items()},
        }
    return out, samples


def previous_stamp_samples(tasks: Sequence[str] | None = None) -> dict[int, dict]:
    """The stamp samples stored with the nights of these tasks (one survey's tasks: another survey's sample of
    the same night holds other alerts)."""
    rows = DriftNight.objects.order_by("computed_at")
    if tasks is not None:
        rows = rows.filter(task__in=list(tasks))
    samples: dict[int, dict] = {}
    for night, statistics in rows.values_list("night", "statistics"):
        sample = (statistics or {}).get(META_KEY, {}).get("stamp_sample")
        if sample:
            samples[night.toordinal()] = sample
    return samples


def night_agreement(
    ids: np.ndarray, nights: np.ndarray, scores: np.ndarray, task: str, threshold: float
) -> dict[int, tuple[float, int]]:
    """night -> (share of consensus-labelled alerts where the model's call equals the consensus, count)."""
    from classifiers.labelled import CONSENSUS, labelled_alerts

    labels = labelled_alerts(task, sources=(CONSENSUS,))
    if not len(labels):
        return {}
    y = align(ids, np.array(labels.alert_ids, dtype=np.int64), labels.y.astype(np.float64))
    ok = np.isfinite(y) & np.isfinite(scores)
    agree = ((scores[ok] >= threshold).astype(np.int8) == y[ok].astype(np.int8)).astype(np.float64)
    out = {}
    for night in np.unique(nights[ok]).tolist():
        sel = nights[ok] == night
        out[night] = (float(agree[sel].mean()), int(sel.sum()))
    return out


def nids_by_night(table: AlertTable) -> dict[int, list[int]]:
    ok = table.nids >= 0
    pairs = np.unique(np.stack([table.nights[ok], table.nids[ok]], axis=1), axis=0) if ok.any() else []
    out: dict[int, list[int]] = {}
    for night, nid in pairs:
        out.setdefault(int(night), []).append(int(nid))
    return out
