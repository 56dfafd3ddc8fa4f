"""The alert filter language: one compiler for the campaign preview, going live, "add matching" and the API.

A filter is a JSON object whose keys are ANDed::

    {"rb": {"gt": 0.2, "lt": 0.4}, "abs_gal_b": {"gt": 0.4}, "programid": 1, "isdiffpos": true,
     "ssdistnr": {"gt": 8}, "ndethist": {"gt": 1}, "night": "2018-11-15"}

* ranges on the candidate columns people filter on: ``{"gt"|"gte"|"lt"|"lte": number}``;
* ``abs_gal_b``: a range on |Galactic latitude| in degrees (``{"gt": 10}`` keeps both hemispheres);
* integer fields (``programid``, ``fid``, ``nid``, ``ndethist`` ...): a number (equality), a list (any of), or a range;
* ``isdiffpos``: true/false; ``no_sso``: true keeps alerts with no known solar-system object nearby, false only
  those with one;
* ``night``: a UTC date ``"2018-11-15"`` or ``{"from": "...", "to": "..."}`` (inclusive);
* ``object_id``, ``candid``, ``demo_truth``: a value or a list; ``is_demo``: true/false;
* ``survey`` (``"ztf"``, ``"rubin"`` or a list) and Rubin's own conditions: ``reliability`` (its real/bogus
  score; Rubin alerts only), ``snr``, and the diaSource's ``extendedness``, ``trailLength``, ``isDipole``,
  ``glint_trail`` and ``pixelFlags_*`` (``labeling.filters_rubin`` compiles them).

Ranges never match NULL: ZTF sends -999 for "no PS1 / solar-system match", stored as NULL, so ``ssdistnr > 8``
keeps only alerts whose nearest known solar-system object is more than 8" away; add ``"no_sso": true`` in a
separate campaign (filters are ANDed) for alerts with none at all.

Every mistake raises :class:`FilterError` naming the field, so the builder can put the message next to it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any

from django.db.models import CharField, Q, QuerySet, Value
from django.db.models.functions import MD5, Cast, Concat

from core.errors import ServiceError
from labeling import filters_rubin as rubin
from labeling.models import FILTER_NAMES, Alert

# Each field filters the Alert column of its name. Floats take ranges only.
FLOAT_FIELDS = (
    "rb", "drb", "magpsf", "sigmapsf", "diffmaglim", "fwhm", "elong", "classtar", "sgscore1", "distpsnr1",
    "ssdistnr", "magdiff", "jd", "ra", "dec", "gal_b",
)  # fmt: skip
# Integers: equality, a list, or a range.
INT_FIELDS = ("programid", "fid", "nid", "ndethist", "ncovhist", "nbad", "field", "rcid", "candid")
BOOL_FIELDS = ("isdiffpos", "no_sso", "is_demo")
TEXT_FIELDS = ("object_id", "demo_truth")
# How a summary names a field, where not by its own name.
LABELS = {"gal_b": "b", "object_id": "objectId", "demo_truth": "demo truth"}
SPECIAL_FIELDS = ("abs_gal_b", "night")
# survey, reliability, snr and the diaSource fields; pixelFlags_* as the shipped schemas name them (read once).
RUBIN_FIELDS = rubin.rubin_fields()
FIELD_ORDER = (
    "night",
    "nid",
    *FLOAT_FIELDS,
    "abs_gal_b",
    *[f for f in INT_FIELDS if f != "nid"],
    *BOOL_FIELDS,
    *TEXT_FIELDS,
    *RUBIN_FIELDS,
)
ALL_FIELDS = frozenset(FIELD_ORDER)
# The unknown-field error lists these, with the pixel flags as one entry: twenty flag names would bury the rest.
_KNOWN_TEXT = ", ".join(sorted(f for f in ALL_FIELDS if not rubin.is_pixel_flag_name(f))) + ", pixelFlags_*"
RANGE_OPS = ("gt", "gte", "lt", "lte")
NIGHT_KEYS = ("from", "to")
MAX_KEYS = 40
MAX_LIST = 10_000
MAX_TEXT = 64
_SAFE_TEXT = re.compile(r"^[A-Za-z0-9_.:\-]+$")


# Synthetic demo alerts (fixtures' generator) carry their known truth; alerts from the survey never do.
DEMO_ALERTS = ~Q(demo_truth="")


class FilterError(ServiceError):
    """An invalid filter. ``field`` is the key at fault ("" for the filter as a whole)."""

    def __init__(self, field: str, message: str):
        super().__init__(message, field=field)


def _shown(name: Any) -> str:
    """A field name as it may appear in an error: short and printable, whatever was sent."""
    text = repr(name) if not isinstance(name, str) else name
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text[:40] + ("…" if len(text) > 40 else "")


def _number(field: str, value: Any, *, integer: bool = False) -> float | int:
    # bool is an int in Python; a JSON true is never meant as 1 here.
    if isinstance(value, bool) or not isinstance(value, int | float):
        kind = "an integer" if integer else "a number"
        raise FilterError(field, f"expected {kind}, got {type(value).__name__} {_shown(value)!s}")
    if isinstance(value, float) and not math.isfinite(value):
        raise FilterError(field, f"{value} is not a finite number")
    if integer:
        if isinstance(value, float):
            if not value.is_integer():
                raise FilterError(field, f"expected an integer, got {value}")
            value = int(value)
        if not -(2**63) <= value < 2**63:
            raise FilterError(field, "integer out of range")
        return value
    if abs(value) > 1e15:
        raise FilterError(field, f"{value} is out of any sensible range")
    return float(value)


def _range(field: str, value: Any, *, integer: bool = False) -> dict[str, float | int]:
    if not isinstance(value, dict) or not value:
        raise FilterError(field, 'expected a range such as {"gt": 0.2, "lt": 0.4}')
    unknown = [k for k in value if k not in RANGE_OPS]
    if unknown:
        raise FilterError(field, f"unknown range operator {_shown(unknown[0])}; use gt, gte, lt or lte")
    bounds = {op: _number(field, value[op], integer=integer) for op in RANGE_OPS if op in value}
    if "gt" in bounds and "gte" in bounds:
        raise FilterError(field, "give gt or gte, not both")
    if "lt" in bounds and "lte" in bounds:
        raise FilterError(field, "give lt or lte, not both")
    low_op = "gt" if "gt" in bounds else "gte" if "gte" in bounds else None
    high_op = "lt" if "lt" in bounds else "lte" if "lte" in bounds else None
    if low_op and high_op:
        low, high = bounds[low_op], bounds[high_op]
        strict = low_op == "gt" or high_op == "lt"
        if low > high or (strict and low == high):
            raise FilterError(field, f"the range is upside down: nothing is {_range_text(field, bounds)}")
    return bounds


def _range_text(label: str, bounds: dict[str, float | int]) -> str:
    symbols = {"gt": "<", "gte": "≤", "lt": "<", "lte": "≤"}
    low = next(((op, bounds[op]) for op in ("gt", "gte") if op in bounds), None)
    high = next(((op, bounds[op]) for op in ("lt", "lte") if op in bounds), None)
    if low and high:
        return f"{_fmt(low[1])} {symbols[low[0]]} {label} {symbols[high[0]]} {_fmt(high[1])}"
    if low:
        return f"{label} {'>' if low[0] == 'gt' else '≥'} {_fmt(low[1])}"
    return f"{label} {'<' if high[0] == 'lt' else '≤'} {_fmt(high[1])}"


def _fmt(value: float | int) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _range_q(column: str, bounds: dict[str, float | int]) -> Q:
    return Q(**{f"{column}__{op}": v for op, v in bounds.items()})


def _abs_range_q(bounds: dict[str, float]) -> Q:
    """|b| in a range, written on gal_b itself so the gal_b index still serves it."""
    lo_op = next((op for op in ("gt", "gte") if op in bounds), None)
    hi_op = next((op for op in ("lt", "lte") if op in bounds), None)
    mirror = {"gt": "lt", "gte": "lte", "lt": "gt", "lte": "gte"}
    north = Q()
    south = Q()
    if lo_op:
        north &= Q(**{f"gal_b__{lo_op}": bounds[lo_op]})
        south &= Q(**{f"gal_b__{mirror[lo_op]}": -bounds[lo_op]})
    if hi_op:
        north &= Q(**{f"gal_b__{hi_op}": bounds[hi_op]})
        south &= Q(**{f"gal_b__{mirror[hi_op]}": -bounds[hi_op]})
    if not lo_op:
        # |b| < x is one interval around the plane, not two.
        return Q(**{f"gal_b__{mirror[hi_op]}": -bounds[hi_op]}) & Q(**{f"gal_b__{hi_op}": bounds[hi_op]})
    return north | south


def _date(field: str, value: Any) -> dt.date:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise FilterError(field, f"expected a UTC date YYYY-MM-DD, got {_shown(value)}")
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise FilterError(field, f"{value} is not a valid date") from exc


def _text(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT or not _SAFE_TEXT.match(value):
        raise FilterError(field, f"expected a short name (letters, digits, _ - . :), got {_shown(value)}")
    return value


def _list(field: str, value: list) -> list:
    if not value:
        raise FilterError(field, "the list is empty: nothing would match")
    if len(value) > MAX_LIST:
        raise FilterError(field, f"at most {MAX_LIST} values")
    return value


@dataclass(frozen=True)
class CompiledFilter:
    spec: dict[str, Any]  # normalised: numbers as float/int, dates as strings, canonical key order
    q: Q
    summary: str


def compile_filter(spec: Any) -> CompiledFilter:
    """Validate ``spec`` and turn it into a Q over Alert, a normalised spec and a one-line summary."""
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise FilterError("", f"a filter is a JSON object of field: condition, got {type(spec).__name__}")
    if len(spec) > MAX_KEYS:
        raise FilterError("", f"at most {MAX_KEYS} conditions")
    for name in spec:
        if rubin.is_pixel_flag_name(name) and name not in ALL_FIELDS:
            raise FilterError(_shown(name), "unknown field: " + rubin.unknown_pixel_flag(_shown(name)))
        if not isinstance(name, str) or name not in ALL_FIELDS:
            raise FilterError(_shown(name), "unknown field; known fields: " + _KNOWN_TEXT)
    q = Q()
    normal: dict[str, Any] = {}
    parts: list[str] = []
    # The JSON's own order: the summary then reads as the scientist wrote the filter.
    for name, value in spec.items():
        if name in FLOAT_FIELDS:
            column, label = name, LABELS.get(name, name)
            bounds = _range(name, value)
            q &= _range_q(column, bounds)
            normal[name] = bounds
            parts.append(_range_text(label, bounds))
        elif name == "abs_gal_b":
            bounds = _range(name, value)
            if any(v < 0 for v in bounds.values()):
                raise FilterError(name, "bounds on |b| cannot be negative")
            q &= _abs_range_q(bounds)
            normal[name] = bounds
            parts.append(_range_text("|b|", bounds))
        elif name in INT_FIELDS:
            column, label = name, LABELS.get(name, name)
            if isinstance(value, dict):
                bounds = _range(name, value, integer=True)
                q &= _range_q(column, bounds)
                normal[name] = bounds
                parts.append(_range_text(label, bounds))
            elif isinstance(value, list):
                values = sorted({_number(name, v, integer=True) for v in _list(name, value)})
                q &= Q(**{f"{column}__in": values})
                normal[name] = values
                shown = [_int_label(name, v) for v in values[:5]]
                parts.append(f"{label} in {{{', '.join(shown)}{', …' if len(values) > 5 else ''}}}")
            else:
                number = _number(name, value, integer=True)
                q &= Q(**{column: number})
                normal[name] = number
                parts.append(f"{label} = {_int_label(name, number)}")
        elif name in BOOL_FIELDS:
            if not isinstance(value, bool):
                raise FilterError(name, f"expected true or false, got {_shown(value)}")
            normal[name] = value
            if name == "isdiffpos":
                q &= Q(isdiffpos=value)
                parts.append(f"isdiffpos = {'true' if value else 'false'}")
            elif name == "no_sso":
                q &= Q(ssdistnr__isnull=value)
                parts.append("no known solar-system object" if value else "near a known solar-system object")
            else:
                q &= DEMO_ALERTS if value else ~DEMO_ALERTS
                parts.append("demo alerts only" if value else "survey alerts only")
        elif name in TEXT_FIELDS:
            column, label = name, LABELS.get(name, name)
            if isinstance(value, list):
                values = sorted({_text(name, v) for v in _list(name, value)})
                q &= Q(**{f"{column}__in": values})
                normal[name] = values
                parts.append(f"{label} in {{{', '.join(values[:5])}{', …' if len(values) > 5 else ''}}}")
            else:
                text = _text(name, value)
                q &= Q(**{column: text})
                normal[name] = text
                parts.append(f"{label} = {text}")
        elif name in RUBIN_FIELDS:
            q &= _compile_rubin(name, value, normal, parts)
        elif name == "night":
            if isinstance(value, dict):
                unknown = [k for k in value if k not in NIGHT_KEYS]
                if unknown or not value:
                    raise FilterError(name, 'expected a date or {"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}')
                start = _date(name, value["from"]) if "from" in value else None
                end = _date(name, value["to"]) if "to" in value else None
                if start and end and start > end:
                    raise FilterError(name, f"the range is upside down: {start} is after {end}")
                if start:
                    q &= Q(night__gte=start)
                if end:
                    q &= Q(night__lte=end)
                normal[name] = {k: str(v) for k, v in (("from", start), ("to", end)) if v}
                parts.append(f"nights {start or '…'} to {end or '…'}")
            else:
                night = _date(name, value)
                q &= Q(night=night)
                normal[name] = str(night)
                parts.append(f"night {night}")
    q &= rubin.rubin_condition(normal)
    return CompiledFilter(spec=normal, q=q, summary=", ".join(parts) if parts else "all alerts")


def _compile_rubin(name: str, value: Any, normal: dict[str, Any], parts: list[str]) -> Q:
    """One survey or Rubin condition: its Q, with its normalised value and words added to ``normal``/``parts``."""
    if name == "survey":
        normal[name] = rubin.surveys_of(value, FilterError)
        parts.append(rubin.survey_text(normal[name]))
        return rubin.survey_q(normal[name])
    if name in ("reliability", "snr", *rubin.JSON_RANGE_FIELDS):
        bounds = normal[name] = _range(name, value)
        parts.append(_range_text(name, bounds))
        if name == "reliability":
            return rubin.reliability_q(bounds)
        return _range_q("snr", bounds) if name == "snr" else rubin.json_range_q(name, bounds)
    if not isinstance(value, bool):
        raise FilterError(name, f"expected true or false, got {_shown(value)}")
    normal[name] = value
    parts.append(f"{name} = {'true' if value else 'false'}")
    return rubin.json_bool_q(name, value)


def _int_label(name: str, value: int) -> str:
    if name == "fid" and value in FILTER_NAMES:
        return f"{value} ({FILTER_NAMES[value]})"
    return str(value)


def filter_summary(spec: Any) -> str:
    """Human-readable one-liner, e.g. ``0.2 < rb < 0.4, |b| > 0.4, programid = 1``."""
    return compile_filter(spec).summary


def validate_sample(sample_size: Any, seed: Any) -> tuple[int | None, int]:
    if sample_size is not None and (
        isinstance(sample_size, bool) or not isinstance(sample_size, int) or not 1 <= sample_size <= 10_000_000
    ):
        raise FilterError("sample_size", "expected a whole number between 1 and 10,000,000 (or none)")
    if isinstance(seed, bool) or not isinstance(seed, int) or not -(2**31) <= seed < 2**31:
        raise FilterError("sample_seed", "expected a 32-bit whole number")
    return sample_size, seed


def sample_key_expression(seed: int):
    """md5(candid:seed): a per-alert key that orders a seeded sample identically on PostgreSQL and SQLite,
    and stays put when more alerts are ingested (unlike ORDER BY random())."""
    return MD5(Concat(Cast("candid", CharField()), Value(f":{int(seed)}"), output_field=CharField()))


def sample_key(candid: int, seed: int) -> str:
    """The same key computed in Python, for tests and for placing single alerts."""
    return hashlib.md5(f"{int(candid)}:{int(seed)}".encode()).hexdigest()


def random_unit(candid: int, seed: int) -> float:
    """A reproducible number in [0, 1) per (alert, seed): Subject.random_key."""
    return int(sample_key(candid, seed)[:13], 16) / float(16**13)


def select_alerts(
    spec: Any, *, sample_size: int | None = None, seed: int = 0, base: QuerySet | None = None
) -> QuerySet:
    """Alerts matching ``spec``; with ``sample_size``, a reproducible seeded sample of that many."""
    compiled = compile_filter(spec)
    sample_size, seed = validate_sample(sample_size, seed)
    qs = (base if base is not None else Alert.objects.all()).filter(compiled.q)
    if sample_size is None:
        return qs.order_by("candid")
    picked = qs.annotate(sample_key=sample_key_expression(seed)).order_by("sample_key", "candid")
    return picked[:sample_size]


def count_matching(spec: Any, *, sample_size: int | None = None, seed: int = 0) -> int:
    """The number a preview shows: matches, capped at the sample size."""
    compiled = compile_filter(spec)
    validate_sample(sample_size, seed)
    n = Alert.objects.filter(compiled.q).count()
    return min(n, sample_size) if sample_size is not None else n
