"""What drift summarises, and when a night counts as drifted.

The thresholds' defaults and environment variables are stated once, in ``core.conf.DRIFT_KNOBS``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from core.conf import DRIFT_KNOBS, blink_setting

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
    "snr": "Signal-to-noise ratio (Rubin diaSource.snr)",
    "drb": "Rubin reliability (diaSource.reliability, a model's opinion)",
    "stamp_diff_std": "Difference stamp pixel std (counts)",
    "stamp_diff_mad": "Difference stamp robust spread (preprocessed, 1.4826 MAD)",
    "stamp_template_mad": "Reference stamp robust spread (preprocessed, 1.4826 MAD)",
    "agreement": "Volunteer agreement with the model (1 - |score - vote fraction|)",
}
STAMP_VARIABLES = ("stamp_diff_std", "stamp_diff_mad", "stamp_template_mad")
PSI_BINS = 10
PSI_FLOOR = 1e-4  # an empty bin would make PSI infinite; the usual practice floors the shares
META_KEY = "_meta"  # DriftNight.statistics[META_KEY]: reference flag, nids, stamp sample


@dataclass(frozen=True)
class DriftConfig:
    reference_nights: int = DRIFT_KNOBS["REFERENCE_NIGHTS"].default
    reference_start: dt.date | None = None
    reference_end: dt.date | None = None
    psi_threshold: float = DRIFT_KNOBS["PSI_THRESHOLD"].default
    ks_threshold: float = DRIFT_KNOBS["KS_THRESHOLD"].default
    ks_alpha: float = DRIFT_KNOBS["KS_ALPHA"].default
    min_alerts: int = DRIFT_KNOBS["MIN_ALERTS"].default
    stamp_sample_per_night: int = DRIFT_KNOBS["STAMP_SAMPLE_PER_NIGHT"].default
    seed: int = DRIFT_KNOBS["SEED"].default

    @classmethod
    def from_settings(cls, **overrides) -> DriftConfig:
        """``blink_setting("DRIFT")`` (defaults, environment, settings), then keyword overrides (e.g. from the
        command line)."""
        conf = blink_setting("DRIFT")
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
