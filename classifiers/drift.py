"""Has the sky (or the pipeline) changed under the model? Night-by-night drift of scores and inputs.

For every night (UTC date of the exposure) Blink keeps the distribution summary TensorBoard users know —
the percentiles max, 93, 84, 69, 50, 31, 16, 7, min — of:

- ``score``: the active model's score;
- ``magpsf``, ``fwhm``, ``elong``, ``sgscore1``: candidate fields the model's inputs depend on;
- ``stamp_diff_std``: the raw difference stamp's pixel standard deviation, and ``stamp_diff_mad`` /
  ``stamp_template_mad``: the robust spread (1.4826 x MAD) of the *preprocessed* difference and template
  stamps — a degraded template or a noisier subtraction shows here before it shows in the score;
- ``agreement``: per candidate with volunteer votes, 1 - |model score - fraction of volunteers saying
  positive| (1 = the model and the volunteers agree exactly).

and two drift statistics of each against a reference window (the first K nights, or configured dates):
the population stability index (PSI, ten bins fixed at the reference's deciles) and the two-sample
Kolmogorov-Smirnov statistic. A night is flagged when a variable's PSI or KS statistic reaches its
threshold *and* the KS test says the difference is not sampling noise (p < alpha): small nights are noisy.

Everything is vectorised over alerts: one lexsort per variable gives every night's percentiles, one
bincount every night's PSI histogram, and the KS statistic comes from the same sorted arrays. Stamp
statistics are computed on a seeded sample of each night's stamps (decompressing a million stamps per
ingest would cost more than it tells) and reused while a night's alert count is unchanged.

The results live in :class:`classifiers.models.DriftNight`; pages only read them. They are recomputed by a
django-tasks background task after each ingest (:func:`enqueue_drift_recompute`) and by
``python manage.py compute_drift``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import transaction
from django_tasks import task

from classifiers.models import DriftNight, ModelVersion, Task

log = logging.getLogger(__name__)

# (key, percentile) in the order TensorBoard draws its bands, outermost first.
PERCENTILES: tuple[tuple[str, float], ...] = (
    ("max", 100.0),
    ("p93", 93.0),
    ("p84", 84.0),
    ("p69", 69.0),
    ("p50", 50.0),
    ("p31", 31.0),
    ("p16", 16.0),
    ("p7", 7.0),
    ("min", 0.0),
)
VARIABLES: dict[str, str] = {
    "score": "Model score",
    "magpsf": "PSF magnitude (magpsf)",
    "fwhm": "Seeing FWHM (pixels)",
    "elong": "Elongation (elong)",
    "sgscore1": "Star/galaxy score of nearest PS1 source (sgscore1)",
    "stamp_diff_std": "Difference stamp pixel std (counts)",
    "stamp_diff_mad": "Difference stamp robust spread (preprocessed, 1.4826 MAD)",
    "stamp_template_mad": "Template stamp robust spread (preprocessed, 1.4826 MAD)",
    "agreement": "Volunteer agreement with the model (1 - |score - vote fraction|)",
}
STAMP_VARIABLES = ("stamp_diff_std", "stamp_diff_mad", "stamp_template_mad")
PSI_BINS = 10
PSI_FLOOR = 1e-4  # an empty bin would make PSI infinite; the usual practice floors the shares
META_KEY = "_meta"  # DriftNight.statistics[META_KEY]: reference flag, nids, stamp sample

DEFAULTS = {
    # Reference window: the first REFERENCE_NIGHTS nights with alerts, unless REFERENCE_START/END (ISO dates) are set.
    "REFERENCE_NIGHTS": 7,
    "REFERENCE_START": None,
    "REFERENCE_END": None,
    # PSI >= 0.25 is the customary "significant shift"; KS D >= 0.2 is a fifth of the cumulative distribution.
    "PSI_THRESHOLD": 0.25,
    "KS_THRESHOLD": 0.2,
    "KS_ALPHA": 0.01,
    "MIN_ALERTS": 20,  # nights (or variables) with fewer values are summarised but never flagged
    "STAMP_SAMPLE_PER_NIGHT": 200,
    "SEED": 0,
}


@dataclass(frozen=True)
class DriftConfig:
    reference_nights: int = DEFAULTS["REFERENCE_NIGHTS"]
    reference_start: dt.date | None = None
    reference_end: dt.date | None = None
    psi_threshold: float = DEFAULTS["PSI_THRESHOLD"]
    ks_threshold: float = DEFAULTS["KS_THRESHOLD"]
    ks_alpha: float = DEFAULTS["KS_ALPHA"]
    min_alerts: int = DEFAULTS["MIN_ALERTS"]
    stamp_sample_per_night: int = DEFAULTS["STAMP_SAMPLE_PER_NIGHT"]
    seed: int = DEFAULTS["SEED"]

    @classmethod
    def from_settings(cls, **overrides) -> DriftConfig:
        """Defaults, then ``settings.BLINK["DRIFT"]``, then keyword overrides (e.g. from the command line)."""
        conf = {**DEFAULTS, **(getattr(settings, "BLINK", {}).get("DRIFT") or {})}
        values = {
            "reference_nights": int(conf["REFERENCE_NIGHTS"]),
            "reference_start": _parse_date(conf["REFERENCE_START"], "BLINK['DRIFT']['REFERENCE_START']"),
            "reference_end": _parse_date(conf["REFERENCE_END"], "BLINK['DRIFT']['REFERENCE_END']"),
            "psi_threshold": float(conf["PSI_THRESHOLD"]),
            "ks_threshold": float(conf["KS_THRESHOLD"]),
            "ks_alpha": float(conf["KS_ALPHA"]),
            "min_alerts": int(conf["MIN_ALERTS"]),
            "stamp_sample_per_night": int(conf["STAMP_SAMPLE_PER_NIGHT"]),
            "seed": int(conf["SEED"]),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        config = cls(**values)
        if config.reference_nights < 1:
            raise ValueError("reference_nights must be at least 1")
        if (config.reference_start is None) != (config.reference_end is None):
            raise ValueError("give both reference_start and reference_end, or neither")
        if config.reference_start and config.reference_start > config.reference_end:
            raise ValueError(f"reference_start {config.reference_start} is after reference_end {config.reference_end}")
        return config


def _parse_date(value, name: str) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not an ISO date (YYYY-MM-DD)") from None


# ---------------------------------------------------------------------------------------------------------
# The statistics, on plain arrays.


def percentile_bands(sorted_values: np.ndarray) -> dict[str, float] | None:
    """max, p93, ..., min of one already sorted sample, interpolated linearly as ``np.percentile`` does."""
    n = sorted_values.size
    if n == 0:
        return None
    out = {}
    for key, q in PERCENTILES:
        pos = q / 100.0 * (n - 1)
        lo = int(np.floor(pos))
        hi = min(lo + 1, n - 1)
        frac = pos - lo
        out[key] = float(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac)
    return out


def psi_edges(reference: np.ndarray, bins: int = PSI_BINS) -> np.ndarray:
    """Inner bin edges at the reference's quantiles (deciles by default), duplicates dropped so a variable with
    many equal values (sgscore1 of 0 or 1) gets fewer, non-empty bins."""
    if reference.size == 0:
        return np.array([], dtype=np.float64)
    return np.unique(np.quantile(reference, np.arange(1, bins) / bins))


def psi_from_counts(expected: np.ndarray, actual: np.ndarray, floor: float = PSI_FLOOR) -> float:
    """Population stability index sum((a - e) * ln(a / e)) over bins of the shares ``a`` (night) and ``e``
    (reference), each share floored at ``floor``."""
    e = np.maximum(expected / max(expected.sum(), 1), floor)
    a = np.maximum(actual / max(actual.sum(), 1), floor)
    return float(np.sum((a - e) * np.log(a / e)))


def psi(reference: Sequence[float], sample: Sequence[float], bins: int = PSI_BINS) -> float:
    """PSI of ``sample`` against ``reference`` with bins fixed at the reference's quantiles."""
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(sample, dtype=np.float64)
    edges = psi_edges(ref, bins)
    nb = edges.size + 1
    e = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=nb)
    a = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=nb)
    return psi_from_counts(e, a)


EXACT_KS_MAX_N = 2000
KS_LIMIT_N = 10_000  # effective sample size above which the limiting Kolmogorov distribution is used


def ks_statistic_sorted(reference_sorted: np.ndarray, sample_sorted: np.ndarray) -> float:
    """sup |F_ref - F_sample| of two sorted samples, looking up only the sample's distinct values in the reference.

    Between two consecutive distinct sample values u_k < u_k+1 the sample's CDF is flat, so the largest gap
    above it is at the reference's CDF just below u_k+1 and the largest gap below it at u_k itself: the cost
    is O(n_sample log n_reference), not a merge of both samples, for every night."""
    n1, n2 = reference_sorted.size, sample_sorted.size
    distinct = np.empty(n2, dtype=bool)
    distinct[0] = True
    np.not_equal(sample_sorted[1:], sample_sorted[:-1], out=distinct[1:])
    u = sample_sorted[distinct]
    # The sample's CDF at each distinct value: the position just past the value's last copy.
    run_ends = np.append(np.flatnonzero(distinct)[1:], n2)
    f2 = run_ends / n2
    at = np.searchsorted(reference_sorted, u, side="right")
    # Just below u the reference's CDF differs only where the reference holds u itself (rare for real-valued
    # columns), so the second lookup is done for those values alone.
    below = at.copy()
    tied = (at > 0) & (reference_sorted[np.maximum(at - 1, 0)] == u)
    if tied.any():
        below[tied] = np.searchsorted(reference_sorted, u[tied], side="left")
    f1_at, f1_below = at / n1, below / n1
    d_minus = np.max(f2 - f1_at)
    d_plus = max(f1_below[0], float(np.max(f1_below[1:] - f2[:-1])) if u.size > 1 else 0.0)
    return float(max(d_minus, d_plus, 0.0))


def ks_sorted(reference_sorted: np.ndarray, sample_sorted: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and two-sided p-value of two sorted samples.

    Small samples (up to 2,000) go to ``scipy.stats.ks_2samp`` itself, for its exact p-values. Larger ones get
    the same statistic from :func:`ks_statistic_sorted` (no re-sorting of the large, shared reference for
    every night) and the p-value of Smirnov's asymptotic distribution, computed as ks_2samp's 'asymp' mode
    does (beyond an effective size of 10,000, with the limiting Kolmogorov distribution it converges to)."""
    from scipy import stats  # imported here: scipy.stats takes seconds to import, pages never need it

    n1, n2 = reference_sorted.size, sample_sorted.size
    if n1 == 0 or n2 == 0:
        return float("nan"), float("nan")
    if max(n1, n2) <= EXACT_KS_MAX_N:
        result = stats.ks_2samp(reference_sorted, sample_sorted)
        return float(result.statistic), float(result.pvalue)
    d = ks_statistic_sorted(reference_sorted, sample_sorted)
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = np.round(m * n / (m + n))
    if en > KS_LIMIT_N:
        # Kolmogorov's limiting distribution: what kstwo tends to, a series instead of a finite-n computation.
        return d, float(stats.kstwobign.sf(d * np.sqrt(en)))
    return d, float(stats.distributions.kstwo.sf(d, en))


@dataclass
class NightDrift:
    night: int  # day ordinal (dt.date.toordinal())
    n_alerts: int
    reference: bool
    percentiles: dict[str, dict[str, float]] = field(default_factory=dict)
    statistics: dict[str, dict] = field(default_factory=dict)
    flagged: bool = False
    flagged_reasons: list[str] = field(default_factory=list)

    @property
    def date(self) -> dt.date:
        return dt.date.fromordinal(int(self.night))


def reference_mask(unique_nights: np.ndarray, config: DriftConfig) -> np.ndarray:
    """Which of the (sorted) nights form the reference window."""
    if config.reference_start is not None:
        lo, hi = config.reference_start.toordinal(), config.reference_end.toordinal()
        return (unique_nights >= lo) & (unique_nights <= hi)
    mask = np.zeros(unique_nights.size, dtype=bool)
    mask[: config.reference_nights] = True
    return mask


def compute_drift(
    nights: np.ndarray, variables: Mapping[str, np.ndarray], config: DriftConfig | None = None
) -> list[NightDrift]:
    """Percentile bands and drift statistics per night of each variable (NaN = missing value).

    ``nights`` holds each alert's night as a day ordinal; every array in ``variables`` is aligned with it."""
    config = config or DriftConfig()
    nights = np.asarray(nights, dtype=np.int64)
    unique, night_idx, counts = np.unique(nights, return_inverse=True, return_counts=True)
    k = unique.size
    is_ref = reference_mask(unique, config)
    out = [NightDrift(night=int(unique[i]), n_alerts=int(counts[i]), reference=bool(is_ref[i])) for i in range(k)]
    if k == 0:
        return out
    # Grouping the alerts by night once serves every variable: each night is then a contiguous slice.
    order = np.argsort(night_idx, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(counts)])
    for name, raw in variables.items():
        values = np.asarray(raw, dtype=np.float64)
        if values.shape != nights.shape:
            raise ValueError(f"variable {name!r} has {values.size} values for {nights.size} alerts")
        grouped = values[order]
        segments = []
        for i in range(k):
            segment = grouped[bounds[i] : bounds[i + 1]]
            segment = segment[np.isfinite(segment)]
            segment.sort()
            segments.append(segment)
        ref_values = np.sort(np.concatenate([segments[i] for i in np.flatnonzero(is_ref)] or [np.empty(0)]))
        edges = psi_edges(ref_values)
        nb = edges.size + 1
        ref_hist = np.bincount(np.searchsorted(edges, ref_values, side="right"), minlength=nb)
        ref_bands = percentile_bands(ref_values)
        ref_summary = {k: ref_bands[k] for k in ("p16", "p50", "p84")} if ref_bands else None
        for i, segment in enumerate(segments):
            bands = percentile_bands(segment)
            if bands is None:
                continue
            out[i].percentiles[name] = bands
            entry: dict = {
                "n": int(segment.size),
                "psi": None,
                "ks": None,
                "ks_pvalue": None,
                "drifted": False,
                "reference": ref_summary,  # the reference window's 16th, 50th and 84th percentiles
            }
            if ref_values.size:
                hist = np.bincount(np.searchsorted(edges, segment, side="right"), minlength=nb)
                entry["psi"] = psi_from_counts(ref_hist, hist)
                entry["ks"], entry["ks_pvalue"] = ks_sorted(ref_values, segment)
            out[i].statistics[name] = entry
    for night in out:
        _flag(night, config)
    return out


def _flag(night: NightDrift, config: DriftConfig) -> None:
    if night.reference:
        return
    for name, entry in night.statistics.items():
        if entry["psi"] is None or entry["n"] < config.min_alerts:
            continue
        over = []
        if entry["psi"] >= config.psi_threshold:
            over.append(f"PSI {entry['psi']:.2f} ≥ {config.psi_threshold:g}")
        if entry["ks"] >= config.ks_threshold:
            over.append(f"KS {entry['ks']:.2f} ≥ {config.ks_threshold:g}")
        if over and entry["ks_pvalue"] < config.ks_alpha:
            entry["drifted"] = True
            night.flagged_reasons.append(f"{VARIABLES.get(name, name)}: {', '.join(over)}")
    night.flagged = bool(night.flagged_reasons)


# ---------------------------------------------------------------------------------------------------------
# Stamp statistics.


def robust_spread(stamps: np.ndarray) -> np.ndarray:
    """1.4826 x median absolute deviation of each stamp in a (n, h, w) batch: the noise level, blind to the
    bright source at the centre."""
    flat = stamps.reshape(stamps.shape[0], -1)
    med = np.median(flat, axis=1, keepdims=True)
    return 1.4826 * np.median(np.abs(flat - med), axis=1)


def stamp_statistics(alert_ids: Sequence[int]) -> dict[str, np.ndarray]:
    """``stamp_diff_std``, ``stamp_diff_mad`` and ``stamp_template_mad`` of these alerts' stamps, in order.

    The preprocessed stamps come from the classifiers' own preprocessing, so the statistic sees what the
    model sees."""
    from classifiers.preprocessing import load_stamp_batch, preprocess

    if len(alert_ids) == 0:
        return {name: np.array([], dtype=np.float64) for name in STAMP_VARIABLES}
    triplets = load_stamp_batch(alert_ids)
    diff_std = np.full(len(triplets), np.nan)
    for i, (_, _, difference) in enumerate(triplets):
        finite = difference[np.isfinite(difference)]
        if finite.size:
            diff_std[i] = finite.std()
    batch = preprocess(triplets)  # (n, 63, 63, 3): science, template, difference
    return {
        "stamp_diff_std": diff_std,
        "stamp_diff_mad": robust_spread(batch[..., 2]),
        "stamp_template_mad": robust_spread(batch[..., 1]),
    }


# ---------------------------------------------------------------------------------------------------------
# Reading the database.

ALERT_COLUMNS = ("magpsf", "fwhm", "elong", "sgscore1")
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


def load_alert_table() -> AlertTable:
    """Every alert's night and input columns, streamed in chunks so a million alerts never become a million
    model instances."""
    from labeling.models import Alert

    fields = ("id", "night", "nid", *ALERT_COLUMNS)
    ids, nights, nids, cols = [], [], [], {c: [] for c in ALERT_COLUMNS}
    rows = Alert.objects.order_by("id").values_list(*fields).iterator(chunk_size=READ_CHUNK)
    while True:
        chunk = list(_take(rows, READ_CHUNK))
        if not chunk:
            break
        columns = list(zip(*chunk, strict=True))
        ids.append(np.array(columns[0], dtype=np.int64))
        nights.append(np.fromiter((d.toordinal() for d in columns[1]), dtype=np.int64, count=len(chunk)))
        nids.append(np.array([-1 if x is None else x for x in columns[2]], dtype=np.int64))
        for name, values in zip(ALERT_COLUMNS, columns[3:], strict=True):
            cols[name].append(np.array(values, dtype=np.float64))  # None becomes NaN
    if not ids:
        empty = np.array([], dtype=np.int64)
        return AlertTable(empty, empty, empty, {c: np.array([], dtype=np.float64) for c in ALERT_COLUMNS})
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


def _align(ids: np.ndarray, keys: np.ndarray, values: np.ndarray) -> np.ndarray:
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
    return _align(ids, rows[:, 0].astype(np.int64), rows[:, 1])


def stamp_sample_ids(ids: np.ndarray, seed: int, night: int, size: int) -> np.ndarray:
    """A seeded sample of one night's alerts: the same alerts are chosen while the night is unchanged."""
    if ids.size <= size:
        return np.sort(ids)
    rng = np.random.default_rng([seed, night])
    return np.sort(rng.choice(np.sort(ids), size=size, replace=False))


def stamp_columns(
    table: AlertTable, config: DriftConfig, previous: Mapping[int, dict]
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
            values = stamp_statistics(sample.tolist())
        for name in STAMP_VARIABLES:
            filled = _align(table.ids, sample, values[name])
            mask = np.isfinite(filled)
            out[name][mask] = filled[mask]
        samples[night] = {
            "n_alerts": int(hi - lo),
            "ids": sample.tolist(),
            # Rounded: the sample is for percentiles and drift tests, not for bit-exact replay.
            "values": {k: [None if not np.isfinite(x) else round(float(x), 6) for x in v] for k, v in values.items()},
        }
    return out, samples


# ---------------------------------------------------------------------------------------------------------
# Recomputing and storing.


def drift_tasks() -> list[tuple[str, ModelVersion | None]]:
    """The tasks to summarise and the version whose scores to use: each task's active version; when no task
    has one, the real/bogus task alone, for its inputs."""
    active = {v.task: v for v in ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE)}
    if not active:
        return [(Task.REAL_BOGUS.value, None)]
    return [(t, active[t]) for t in Task.values if t in active]


def _previous_stamp_samples() -> dict[int, dict]:
    samples: dict[int, dict] = {}
    for night, statistics in DriftNight.objects.order_by("computed_at").values_list("night", "statistics"):
        sample = (statistics or {}).get(META_KEY, {}).get("stamp_sample")
        if sample:
            samples[night.toordinal()] = sample
    return samples


def _night_agreement(
    ids: np.ndarray, nights: np.ndarray, scores: np.ndarray, task: str, threshold: float
) -> dict[int, tuple[float, int]]:
    """night -> (share of consensus-labelled alerts where the model's call equals the consensus, count)."""
    from classifiers.evaluation_data import consensus_labels

    labels = consensus_labels(task)
    if not labels:
        return {}
    keys = np.fromiter(labels.keys(), dtype=np.int64, count=len(labels))
    y = _align(ids, keys, np.fromiter(labels.values(), dtype=np.float64, count=len(labels)))
    ok = np.isfinite(y) & np.isfinite(scores)
    agree = ((scores[ok] >= threshold).astype(np.int8) == y[ok].astype(np.int8)).astype(np.float64)
    out = {}
    for night in np.unique(nights[ok]).tolist():
        sel = nights[ok] == night
        out[night] = (float(agree[sel].mean()), int(sel.sum()))
    return out


def _nids_by_night(table: AlertTable) -> dict[int, list[int]]:
    ok = table.nids >= 0
    pairs = np.unique(np.stack([table.nights[ok], table.nids[ok]], axis=1), axis=0) if ok.any() else []
    out: dict[int, list[int]] = {}
    for night, nid in pairs:
        out.setdefault(int(night), []).append(int(nid))
    return out


@transaction.atomic
def store_drift(
    *,
    task: str,
    version: ModelVersion | None,
    nights: list[NightDrift],
    config: DriftConfig,
    agreement: Mapping[int, tuple[float, int]] | None = None,
    nids: Mapping[int, list[int]] | None = None,
    samples: Mapping[int, dict] | None = None,
) -> list[DriftNight]:
    """Replace the stored rows of (task, version) with these nights, at once: a page never sees half of them."""
    agreement, nids, samples = agreement or {}, nids or {}, samples or {}
    rows = []
    for night in nights:
        agree, n_agree = agreement.get(night.night, (None, 0))
        statistics = dict(night.statistics)
        statistics[META_KEY] = {
            "reference": night.reference,
            "nids": nids.get(night.night, []),
            "n_consensus": n_agree,
            "stamp_sample": samples.get(night.night),
            "config": {
                "psi_threshold": config.psi_threshold,
                "ks_threshold": config.ks_threshold,
                "ks_alpha": config.ks_alpha,
                "min_alerts": config.min_alerts,
            },
        }
        rows.append(
            DriftNight(
                task=task,
                version=version,
                night=night.date,
                n_alerts=night.n_alerts,
                percentiles=night.percentiles,
                statistics=statistics,
                agreement=agree,
                flagged=night.flagged,
                flagged_reasons=night.flagged_reasons,
            )
        )
    DriftNight.objects.filter(task=task, version=version).delete()
    return DriftNight.objects.bulk_create(rows)


def recompute_drift(*, config: DriftConfig | None = None, progress: Callable[[str], None] | None = None) -> dict:
    """Recompute every night's DriftNight row for each task's active version, replacing the previous rows of
    that (task, version) at once. Returns a summary."""
    from classifiers.evaluation_data import operating_threshold, volunteer_positive_fraction

    config = config or DriftConfig.from_settings()
    say = progress or (lambda _msg: None)
    say("reading alerts")
    table = load_alert_table()
    say(f"{len(table)} alerts; sampling stamps")
    stamps, samples = stamp_columns(table, config, _previous_stamp_samples())
    nids = _nids_by_night(table)
    summary = {"alerts": len(table), "tasks": []}
    for task_name, version in drift_tasks():
        say(f"{task_name}: scores and volunteer agreement")
        scores = load_scores(version, table.ids)
        vote_ids, fraction = volunteer_positive_fraction(task_name)
        agreement_per_alert = 1.0 - np.abs(scores - _align(table.ids, vote_ids, fraction))
        variables = {"score": scores, **table.columns, **stamps, "agreement": agreement_per_alert}
        say(f"{task_name}: percentiles and drift statistics")
        nights = compute_drift(table.nights, variables, config)
        agreement = _night_agreement(table.ids, table.nights, scores, task_name, operating_threshold(version))
        rows = store_drift(
            task=task_name,
            version=version,
            nights=nights,
            config=config,
            agreement=agreement,
            nids=nids,
            samples=samples,
        )
        flagged = [r.night.isoformat() for r in rows if r.flagged]
        summary["tasks"].append(
            {
                "task": task_name,
                "version": version.version if version else None,
                "nights": len(rows),
                "flagged": flagged,
            }
        )
        say(f"{task_name}: {len(rows)} nights, {len(flagged)} flagged")
    return summary


@task()
def recompute_drift_task() -> dict:
    """Background recompute (django-tasks; run by ``manage.py db_worker``), then the drift page's figures."""
    from classifiers.console_plots import warm_drift_plots

    summary = recompute_drift()
    warm_drift_plots()
    return summary


def enqueue_drift_recompute() -> str | None:
    """Queue a drift recompute unless one is already waiting (a burst of ingests needs one recompute, which
    will see all of them). Returns the task result id, or None when one was already queued."""
    from django_tasks_db.models import DBTaskResult

    waiting = DBTaskResult.objects.filter(task_path=recompute_drift_task.module_path, status="READY").exists()
    if waiting:
        return None
    return recompute_drift_task.enqueue().id


# ZTF night ids count days from 2017-01-01 (nid 1127 is 2020-02-02); used when no alert of that nid is stored.
NID_EPOCH = dt.date(2017, 1, 1)


def resolve_night(value) -> dt.date:
    """A night given as a UTC date (``2020-02-02``) or a ZTF night id (``1127``)."""
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    if text.isascii() and text.isdigit():
        from labeling.models import Alert

        night = Alert.objects.filter(nid=int(text)).values_list("night", flat=True).order_by("night").first()
        if night is not None:
            return night
        try:
            return NID_EPOCH + dt.timedelta(days=int(text))
        except OverflowError:
            raise ValueError(f"night id {text} is out of range") from None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"night {text!r} is neither a UTC date (YYYY-MM-DD) nor a ZTF night id (nid)") from None
