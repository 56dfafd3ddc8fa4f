"""What the console pages and API read of drift: the stored ``DriftNight`` rows, as plain dicts.

Nothing here computes a statistic; :mod:`classifiers.drift.recompute` stores them in the background.
"""

from __future__ import annotations

import datetime as dt

from classifiers.console.versions import ConsoleError, version_row, versions_without_weights
from classifiers.drift.config import META_KEY, PERCENTILES, VARIABLES
from classifiers.models import DriftNight, ModelVersion, Task
from classifiers.registry import active_version
from labeling.models import Alert

# ZTF night ids count days from 2017-01-01 (nid 1127 is 2020-02-02); used when no alert of that nid is stored.
NID_EPOCH = dt.date(2017, 1, 1)


def resolve_night(value) -> dt.date:
    """A night given as a UTC date (``2020-02-02``) or a ZTF night id (``1127``)."""
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    if text.isascii() and text.isdigit():
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


def drift_version(task: str) -> ModelVersion | None:
    """The version whose drift rows to show: the active one if it has rows, else the latest rows' version."""
    active = active_version(task)
    if active is not None and DriftNight.objects.filter(task=task, version=active).exists():
        return active
    latest = DriftNight.objects.filter(task=task).order_by("-computed_at").values_list("version_id", flat=True).first()
    if latest is None:
        return active
    return versions_without_weights().filter(pk=latest).first()


def drift_night_row(row: DriftNight) -> dict:
    meta = (row.statistics or {}).get(META_KEY, {})
    stats = {k: v for k, v in (row.statistics or {}).items() if k != META_KEY}
    min_n = meta.get("config", {}).get("min_alerts", 0)
    tested = [s for s in stats.values() if s.get("psi") is not None and s.get("n", 0) >= min_n]
    return {
        "night": row.night,
        "nids": meta.get("nids", []),
        "n_alerts": row.n_alerts,
        "reference": bool(meta.get("reference")),
        "agreement": row.agreement,
        "n_consensus": meta.get("n_consensus", 0),
        "flagged": row.flagged,
        "flagged_reasons": row.flagged_reasons,
        "percentiles": row.percentiles,
        "statistics": stats,
        "thresholds": meta.get("config", {}),
        "computed_at": row.computed_at,
        # Only what was tested: the reference nights are not tested against themselves, and a variable with
        # fewer values than the minimum is summarised but never judged.
        "worst_psi": None if meta.get("reference") else max((s["psi"] for s in tested), default=None),
        "worst_ks": None if meta.get("reference") else max((s["ks"] for s in tested), default=None),
        "tested": bool(tested) and not meta.get("reference"),
    }


def drift_nights(task: str = Task.REAL_BOGUS, *, flagged_only: bool = False) -> dict:
    version = drift_version(task)
    rows = DriftNight.objects.filter(task=task, version=version).order_by("night")
    if flagged_only:
        rows = rows.filter(flagged=True)
    nights = [drift_night_row(r) for r in rows]
    return {
        "task": task,
        "version": version_row(version) if version else None,
        "nights": nights,
        "variables": VARIABLES,
        "percentiles": [k for k, _ in PERCENTILES],
        "computed_at": max((n["computed_at"] for n in nights), default=None),
    }


def night_detail(task: str, night) -> dict:
    """One night's stored row; the night given as a UTC date or a ZTF night id."""
    try:
        date = resolve_night(night)
    except ValueError as exc:
        raise ConsoleError("night", str(exc), status=404) from exc
    version = drift_version(task)
    row = DriftNight.objects.filter(task=task, version=version, night=date).first()
    if row is None:
        raise ConsoleError("night", f"no drift summary for the night {date.isoformat()} ({task})", status=404)
    return {"task": task, "version": version_row(version) if version else None, **drift_night_row(row)}


def night_variables(row: dict) -> list[dict]:
    """The variables one night summarised, in the order of :data:`VARIABLES`, with their bands and statistics."""
    return [
        {"name": name, "title": title, "bands": row["percentiles"][name], "stats": row["statistics"].get(name, {})}
        for name, title in VARIABLES.items()
        if name in row["percentiles"]
    ]


def flagged_nights(*, limit: int = 10) -> list[dict]:
    """The latest flagged nights over every task, newest first (for the overview)."""
    out = []
    for task in Task.values:
        version = drift_version(task)
        rows = DriftNight.objects.filter(task=task, version=version, flagged=True).order_by("-night")[:limit]
        out += [{"task": task, **drift_night_row(r)} for r in rows]
    out.sort(key=lambda r: r["night"], reverse=True)
    return out[:limit]
