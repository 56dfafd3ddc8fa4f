"""The filter language's survey and Rubin conditions (``labeling.filters`` compiles them with the rest).

* ``survey``: ``"ztf"`` or ``"rubin"``, or a list of them;
* ``reliability``: a range on Rubin's real/bogus score. It is stored in the ``drb`` column (ZTF's deep real/bogus
  score shares it), so the condition also keeps only Rubin alerts: ``{"reliability": {"gt": 0.5}}`` never
  matches a ZTF alert whatever its drb;
* ``snr``: a range on the ``snr`` column (Rubin's diaSource.snr; ZTF rows leave it null, so it matches no ZTF
  alert today);
* diaSource fields read from the ``candidate`` JSON (a Rubin alert's whole diaSource record):
  ``extendedness`` and ``trailLength`` (ranges), ``isDipole``, ``glint_trail`` and every ``pixelFlags*`` boolean
  (true/false). The pixelFlags names come from the shipped schemas (``labeling/ingest/schemas/lsst/*.avsc``),
  so a new schema version brings its flags without a code change.

A JSON key a ZTF candidate lacks reads as NULL, and NULL matches no condition; a filter with any of these
conditions (``snr`` aside, a column of its own) also requires ``survey = "rubin"`` (``rubin_condition``), so no
ZTF candidate key of the same name, nor a ZTF drb, could ever match.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from django.db.models import FloatField, Q
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.db.models.lookups import GreaterThan, GreaterThanOrEqual, LessThan, LessThanOrEqual

from labeling.models.alerts import SURVEYS

SURVEY_NAMES = {key: label for key, label in SURVEYS}
# labeling.ingest.rubin_schemas.SCHEMA_DIR: read from here by path, because importing labeling.ingest would load
# the whole ingest pipeline into everything that compiles a filter.
SCHEMA_DIR = Path(__file__).resolve().parent / "ingest" / "schemas" / "lsst"
PIXEL_FLAGS_PREFIX = "pixelFlags"
# diaSource fields read from the candidate JSON: ranges and booleans (pixelFlags* come from the schemas).
JSON_RANGE_FIELDS = ("extendedness", "trailLength")
JSON_BOOL_FIELDS = ("isDipole", "glint_trail")
# Conditions that keep only Rubin alerts: a campaign filtered on any of them is a Rubin campaign.
RUBIN_COLUMN_FIELDS = ("reliability", "snr")
RUBIN = Q(survey="rubin")
_LOOKUPS = {"gt": GreaterThan, "gte": GreaterThanOrEqual, "lt": LessThan, "lte": LessThanOrEqual}


def _dia_source(schema: Any) -> dict | None:
    """The diaSource record schema inside an alert schema (a union, a record or a field's type)."""
    if isinstance(schema, list):
        return next((found for part in schema if (found := _dia_source(part))), None)
    if not isinstance(schema, dict):
        return None
    if schema.get("type") == "record":
        if schema.get("name", "").rsplit(".", 1)[-1] == "diaSource":
            return schema
        for field in schema.get("fields", ()):
            if field.get("name") == "diaSource":
                return _dia_source(field.get("type")) or None
        return None
    return None


def _is_boolean(avro_type: Any) -> bool:
    return avro_type == "boolean" or (isinstance(avro_type, list) and "boolean" in avro_type)


@functools.cache
def pixel_flag_fields() -> tuple[str, ...]:
    """Every boolean ``pixelFlags*`` field of diaSource in the shipped schemas, in schema order, read once."""
    names: dict[str, None] = {}
    for path in sorted(SCHEMA_DIR.glob("*.avsc")):
        record = _dia_source(json.loads(path.read_text()))
        for field in (record or {}).get("fields", ()):
            if field["name"].startswith(PIXEL_FLAGS_PREFIX) and _is_boolean(field.get("type")):
                names.setdefault(field["name"], None)
    return tuple(names)


@functools.cache
def rubin_fields() -> tuple[str, ...]:
    """The filter fields this module compiles, in the order a form shows them."""
    return ("survey", *RUBIN_COLUMN_FIELDS, *JSON_RANGE_FIELDS, *JSON_BOOL_FIELDS, *pixel_flag_fields())


@functools.cache
def rubin_only_fields() -> frozenset[str]:
    return frozenset(rubin_fields()) - {"survey"}


def is_pixel_flag_name(name: Any) -> bool:
    """A name that looks like a pixel flag, known or not (an unknown one gets its own error)."""
    return isinstance(name, str) and name.startswith(PIXEL_FLAGS_PREFIX)


def unknown_pixel_flag(name: str) -> str:
    return f"{name} is not a pixel flag of Rubin's diaSource; known flags: " + ", ".join(pixel_flag_fields())


def surveys_of(value: Any, error) -> str | list[str]:
    """A normalised ``survey`` value: one name, or a sorted list of distinct names."""
    if isinstance(value, list):
        if not value:
            raise error("survey", "the list is empty: nothing would match")
        names = sorted({_survey(v, error) for v in value})
        return names[0] if len(names) == 1 else names
    return _survey(value, error)


def _survey(value: Any, error) -> str:
    if not isinstance(value, str) or value not in SURVEY_NAMES:
        shown = value if isinstance(value, str) else type(value).__name__
        raise error("survey", f"unknown survey {str(shown)[:40]!r}; use " + " or ".join(SURVEY_NAMES))
    return value


def survey_q(value: str | list[str]) -> Q:
    return Q(survey__in=value) if isinstance(value, list) else Q(survey=value)


def survey_text(value: str | list[str]) -> str:
    if isinstance(value, list):
        return "surveys " + " and ".join(SURVEY_NAMES[v] for v in value)
    return f"{SURVEY_NAMES[value]} alerts only"


def json_range_q(name: str, bounds: dict[str, float]) -> Q:
    """A range on a numeric diaSource key, its text cast to a float: an absent key is NULL and matches nothing.
    A JSON null (NaN as sent) is left out by name: SQLite reads it as the text 'null', which casts to 0.0, and a
    jsonb comparison on PostgreSQL would sort it below every number."""
    value = Cast(KT(f"candidate__{name}"), FloatField())
    q = ~Q(**{f"candidate__{name}": None})
    for op, bound in bounds.items():
        q &= Q(_LOOKUPS[op](value, bound))
    return q


def json_bool_q(name: str, value: bool) -> Q:
    # JSON true/false compared as JSON on PostgreSQL and SQLite alike (Django's key-transform exact lookup).
    return Q(**{f"candidate__{name}": value})


def reliability_q(bounds: dict[str, float]) -> Q:
    return Q(**{f"drb__{op}": v for op, v in bounds.items()})


def rubin_condition(spec: dict[str, Any]) -> Q:
    """``survey = "rubin"`` once for a filter that reads Rubin's reliability or its diaSource, else nothing."""
    bound = rubin_only_fields() - {"snr"}
    return RUBIN if any(name in bound for name in spec) else Q()


def keeps_only_rubin(spec: dict[str, Any]) -> bool:
    """Whether a (compiled, normalised) filter can only ever match Rubin alerts."""
    if spec.get("survey") == "rubin":
        return True
    return any(name in spec for name in rubin_only_fields())
