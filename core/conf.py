"""Blink's own settings, each with its default stated once, here.

``blink_setting("PROMOTE_MARGIN")`` answers, in order: ``settings.BLINK["PROMOTE_MARGIN"]`` when a settings
module (or a test) sets it; else the environment variable ``BLINK_PROMOTE_MARGIN``; else the default below.
Call sites never repeat a default.

The environment is read when a knob is asked for, not when the settings module loads: a process started with
its own environment (a training worker given ``BLINK_TF_THREADS=1``, an ingest given ``BLINK_INGEST_WORKERS``)
sees its own values, and so does a test that sets a variable. Django's settings are read only when they are
configured, so the TensorFlow set-up can ask for its threads in a process without Django.

``DRIFT`` is a group: ``blink_setting("DRIFT")`` is a dict of its knobs, each resolved the same way
(``settings.BLINK["DRIFT"]["PSI_THRESHOLD"]``, then ``BLINK_DRIFT_PSI_THRESHOLD``, then the default).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def _optional_text(raw: str) -> str | None:
    return raw or None


def _count(raw: str) -> int | None:
    # An empty BLINK_INGEST_WORKERS means "let Blink choose", as if unset.
    return int(raw) if raw.strip() else None


def _threads(raw: str) -> int:
    return int(raw) if raw.strip() else 0


@dataclass(frozen=True)
class Knob:
    default: Any
    parse: Callable[[str], Any]
    why: str


KNOBS: dict[str, Knob] = {
    "STAMP_CACHE_SECONDS": Knob(86400, int, "how long a browser may keep a stamp or explanation PNG"),
    "MODEL_CACHE_DIR": Knob(None, Path, "where model files are cached on disk (default VAR_DIR/models)"),
    "DEMO_ALERT_DIR": Knob(None, Path, "where setup_demo writes demo packets (default VAR_DIR/demo_alerts)"),
    "MAX_UPLOAD_BYTES": Knob(20 * 1024 * 1024, int, "the largest request body any endpoint reads"),
    # The active-learning loop: promote a retrained candidate when its ROC AUC on the fixed held-out set is not
    # below the active version's by more than PROMOTE_MARGIN.
    "PROMOTE_MARGIN": Knob(0.01, float, "how much worse a candidate may score on the held-out set and still win"),
    "HELDOUT_FRACTION": Knob(0.2, float, "the share of objects (by salted objectId hash) held out"),
    "HELDOUT_SALT": Knob("blink-heldout-v1", str, "the salt of the held-out hash; changing it reshuffles"),
    "RETRAIN_EPOCHS": Knob(8, int, "epochs of a retraining the loop requests"),
    # A running training whose heartbeat is older than this is taken for a dead worker (failed, retried once).
    "TRAINING_STALE_SECONDS": Knob(120.0, float, "heartbeat age after which a running training counts dead"),
    "TRAINING_HEARTBEAT_SECONDS": Knob(10.0, float, "how often a running training records it is alive"),
    # Open classify sockets join their channel-layer groups again this often, so they resume after Redis restarts.
    "LIVE_REJOIN_SECONDS": Knob(30.0, float, "how often an open socket joins its groups again"),
    "TF_THREADS": Knob(0, _threads, "TensorFlow's threads; 0: the CPUs this process may run on"),
    "INGEST_WORKERS": Knob(None, _count, "worker processes of an ingest; unset: chosen from files and load"),
    # Rate limits (core.ratelimit). One address may be a classroom behind NAT or a load bench of hundreds of
    # simulated volunteers, so its vote limit is wide; each account's own limit is what stops a script.
    "RATE_LIMIT_SCALE": Knob(1.0, float, "multiplies every rate limit; 0 switches them off"),
    "VOTES_PER_ADDRESS_PER_MINUTE": Knob(30_000, int, "votes one address may send in a minute, all accounts"),
}

# Night-by-night drift (classifiers.drift): the reference window is the first REFERENCE_NIGHTS nights with alerts,
# or REFERENCE_START..REFERENCE_END (ISO dates) when set; a night is flagged when a variable's PSI or KS statistic
# reaches its threshold and the KS test's p-value is below KS_ALPHA (small nights are noisy).
DRIFT_KNOBS: dict[str, Knob] = {
    "REFERENCE_NIGHTS": Knob(7, int, "nights with alerts that make the reference window"),
    "REFERENCE_START": Knob(None, _optional_text, "first night of a fixed reference window (ISO date)"),
    "REFERENCE_END": Knob(None, _optional_text, "last night of a fixed reference window (ISO date)"),
    # PSI >= 0.25 is the customary "significant shift"; KS D >= 0.2 is a fifth of the cumulative distribution.
    "PSI_THRESHOLD": Knob(0.25, float, "population stability index that flags a night"),
    "KS_THRESHOLD": Knob(0.2, float, "Kolmogorov-Smirnov statistic that flags a night"),
    "KS_ALPHA": Knob(0.01, float, "p-value below which a KS shift counts"),
    "MIN_ALERTS": Knob(20, int, "nights (or variables) with fewer values are summarised, never flagged"),
    "STAMP_SAMPLE_PER_NIGHT": Knob(200, int, "stamps a night's stamp statistics are computed from"),
    "SEED": Knob(0, int, "seed of the stamp sample"),
}
GROUPS: dict[str, dict[str, Knob]] = {"DRIFT": DRIFT_KNOBS}

# Defaults that are paths under settings.VAR_DIR, known only once settings are loaded.
_UNDER_VAR_DIR = {"MODEL_CACHE_DIR": "models", "DEMO_ALERT_DIR": "demo_alerts"}


def _overrides() -> dict:
    if not (settings.configured or os.environ.get("DJANGO_SETTINGS_MODULE")):
        return {}
    return getattr(settings, "BLINK", None) or {}


def _resolve(name: str, knob: Knob, overrides: dict, env_name: str) -> Any:
    if name in overrides:
        return overrides[name]
    raw = os.environ.get(env_name)
    if raw is not None:
        try:
            return knob.parse(raw)
        except ValueError as exc:
            raise ImproperlyConfigured(f"{env_name}={raw!r} is not valid ({knob.why}): {exc}") from None
    if name in _UNDER_VAR_DIR:
        return Path(settings.VAR_DIR) / _UNDER_VAR_DIR[name]
    return knob.default


def blink_setting(name: str) -> Any:
    """The value of one of Blink's knobs (``KNOBS``), or of a group (``"DRIFT"``) as a dict."""
    overrides = _overrides()
    if name in GROUPS:
        group = overrides.get(name) or {}
        return {key: _resolve(key, knob, group, f"BLINK_{name}_{key}") for key, knob in GROUPS[name].items()}
    if name not in KNOBS:
        raise KeyError(f"unknown Blink setting {name!r}; expected one of {', '.join([*KNOBS, *GROUPS])}")
    return _resolve(name, KNOBS[name], overrides, f"BLINK_{name}")


def check_settings() -> list[str]:
    """Every knob resolved once, so a malformed environment variable is reported at start-up, not mid-request."""
    problems = []
    for name in [*KNOBS, *GROUPS]:
        try:
            blink_setting(name)
        except ImproperlyConfigured as exc:
            problems.append(str(exc))
    return problems
