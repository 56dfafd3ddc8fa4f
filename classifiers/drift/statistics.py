"""Percentile bands, PSI and the Kolmogorov-Smirnov test of every night against the reference window, on plain
arrays.

Everything is vectorised over alerts: one sort per night and variable gives every night's percentiles, one
bincount every night's PSI histogram, and the KS statistic comes from the same sorted arrays.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from classifiers.drift.config import PERCENTILES, PSI_BINS, PSI_FLOOR, VARIABLES, DriftConfig


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
