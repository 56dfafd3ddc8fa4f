"""The alert filter language, checked against selections counted by hand from ../shared/data's manifest.

Expected counts come straight from ``manifest.csv`` with the csv module (and astropy for |b|), never from the
compiler under test.
"""

from __future__ import annotations

import csv
import hashlib
import math

import numpy as np
import pytest

from labeling.filters import FilterError, compile_filter, count_matching, filter_summary, select_alerts
from labeling.models import Alert, LightCurvePoint


def _f(value: str) -> float | None:
    return float(value) if value not in ("", None) else None


def _sentinel(value: str) -> float | None:
    # ZTF's -999 means "no match"; Blink stores it as NULL and ranges never match NULL.
    v = _f(value)
    return None if v is None or v <= -998.5 else v


@pytest.fixture(scope="module")
def manifest(real_data) -> list[dict]:
    with open(real_data / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    coords = SkyCoord(
        ra=np.array([float(r["ra"]) for r in rows]) * u.deg,
        dec=np.array([float(r["dec"]) for r in rows]) * u.deg,
        frame="icrs",
    )
    for row, b in zip(rows, coords.galactic.b.deg, strict=True):
        row["b"] = float(b)
    return rows


@pytest.fixture(scope="module")
def real_alerts(django_db_setup, django_db_blocker, real_data):
    """The real packets ingested once for this module (committed, then removed at the end)."""
    from labeling.ingest import ingest_paths

    with django_db_blocker.unblock():
        Alert.objects.all().delete()
        report = ingest_paths([real_data / "avro", real_data / "parquet"])
        assert report.rejected == 0, report.errors
    yield Alert.objects
    with django_db_blocker.unblock():
        Alert.objects.all().delete()
        LightCurvePoint.objects.all().delete()


def count_where(rows, predicate) -> int:
    return sum(1 for r in rows if predicate(r))


def diffpos(r) -> bool:
    return r["isdiffpos"] in ("t", "1", "true")


CASES = {
    "rb range (the DOMAIN example)": (
        {"rb": {"gt": 0.2, "lt": 0.4}},
        lambda r: _f(r["rb"]) is not None and 0.2 < _f(r["rb"]) < 0.4,
    ),
    "low rb off the plane, public, positive": (
        {"rb": {"gt": 0.2, "lt": 0.6}, "abs_gal_b": {"gt": 10}, "programid": 1, "isdiffpos": True},
        lambda r: (
            _f(r["rb"]) is not None
            and 0.2 < _f(r["rb"]) < 0.6
            and abs(r["b"]) > 10
            and r["programid"] == "1"
            and diffpos(r)
        ),
    ),
    "one night": ({"night": "2021-11-22"}, lambda r: r["night_utc"] == "2021-11-22"),
    "a range of nights": (
        {"night": {"from": "2019-06-01", "to": "2019-09-30"}},
        lambda r: "2019-06-01" <= r["night_utc"] <= "2019-09-30",
    ),
    "negative subtractions": ({"isdiffpos": False}, lambda r: not diffpos(r)),
    "far from known solar-system objects": (
        {"ssdistnr": {"gt": 8}},
        lambda r: _sentinel(r["ssdistnr"]) is not None and _sentinel(r["ssdistnr"]) > 8,
    ),
    "near a known solar-system object": (
        {"ssdistnr": {"lte": 5}},
        lambda r: _sentinel(r["ssdistnr"]) is not None and _sentinel(r["ssdistnr"]) <= 5,
    ),
    "no known solar-system object": ({"no_sso": True}, lambda r: _sentinel(r["ssdistnr"]) is None),
    "bright g-band": (
        {"fid": 1, "magpsf": {"lt": 18.5}},
        lambda r: r["fid"] == "1" and _f(r["magpsf"]) < 18.5,
    ),
    "braai confident (drb only in schema >= 3.3)": (
        {"drb": {"gte": 0.9}},
        lambda r: _f(r["drb"]) is not None and _f(r["drb"]) >= 0.9,
    ),
    "point-like on a galaxy": (
        {"sgscore1": {"lt": 0.5}, "fwhm": {"lt": 3}, "elong": {"lte": 1.3}},
        lambda r: (
            _sentinel(r["sgscore1"]) is not None
            and _sentinel(r["sgscore1"]) < 0.5
            and _f(r["fwhm"]) < 3
            and _f(r["elong"]) <= 1.3
        ),
    ),
    "low latitude band": (
        {"abs_gal_b": {"lt": 15}},
        lambda r: abs(r["b"]) < 15,
    ),
    "|b| band with both bounds": (
        {"abs_gal_b": {"gte": 20, "lte": 40}},
        lambda r: 20 <= abs(r["b"]) <= 40,
    ),
    "filters as a list": ({"fid": [1, 2], "programid": 3}, lambda r: r["programid"] == "3"),
}


@pytest.mark.realdata
@pytest.mark.django_db
@pytest.mark.parametrize("name", list(CASES))
def test_it_selects_what_a_hand_count_of_the_manifest_selects(name, real_alerts, manifest):
    spec, predicate = CASES[name]
    expected = count_where(manifest, predicate)
    assert count_matching(spec) == expected
    chosen = set(select_alerts(spec).values_list("candid", flat=True))
    assert chosen == {int(r["candid"]) for r in manifest if predicate(r)}


@pytest.mark.realdata
@pytest.mark.django_db
def test_the_hand_counted_selections_are_not_trivial(real_alerts, manifest):
    # Guards the cases above against passing vacuously: the manifest says what these should be.
    assert len(manifest) == 691 == real_alerts.count()
    assert count_matching({"night": "2021-11-22"}) == 154
    assert count_matching({"isdiffpos": False}) == 233
    assert 0 < count_matching({"rb": {"gt": 0.2, "lt": 0.4}}) < 691


@pytest.mark.realdata
@pytest.mark.django_db
def test_a_seeded_sample_is_reproducible_and_ordered_by_a_hash_of_candid_and_seed(real_alerts, manifest):
    spec = {"isdiffpos": True}
    matching = [int(r["candid"]) for r in manifest if diffpos(r)]
    expected = sorted(matching, key=lambda c: (hashlib.md5(f"{c}:42".encode()).hexdigest(), c))[:50]
    first = list(select_alerts(spec, sample_size=50, seed=42).values_list("candid", flat=True))
    again = list(select_alerts(spec, sample_size=50, seed=42).values_list("candid", flat=True))
    other = list(select_alerts(spec, sample_size=50, seed=43).values_list("candid", flat=True))
    assert first == expected == again
    assert set(other) != set(first)
    assert count_matching(spec, sample_size=50, seed=42) == 50
    assert count_matching(spec, sample_size=5000, seed=42) == len(matching)


# --------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("spec", "field", "fragment"),
    [
        ({"rbb": {"gt": 0.2}}, "rbb", "unknown field"),
        ({"rb; DROP TABLE labeling_alert; --": 1}, "rb; DROP TABLE labeling_alert; --", "unknown field"),
        ({"candid__in": [1]}, "candid__in", "unknown field"),
        ({"rb": {"gt": 0.4, "lt": 0.2}}, "rb", "upside down"),
        ({"rb": {"gt": 0.3, "lt": 0.3}}, "rb", "upside down"),
        ({"magpsf": {"gte": 20, "lte": 19}}, "magpsf", "upside down"),
        ({"rb": {"gt": "0.2"}}, "rb", "expected a number"),
        ({"rb": {"gt": True}}, "rb", "expected a number"),
        ({"rb": 0.3}, "rb", "expected a range"),
        ({"rb": {"gt": float("nan")}}, "rb", "not a finite number"),
        ({"rb": {"lt": float("inf")}}, "rb", "not a finite number"),
        ({"rb": {"between": [0, 1]}}, "rb", "unknown range operator"),
        ({"rb": {"gt": 0.1, "gte": 0.2}}, "rb", "not both"),
        ({"programid": "1"}, "programid", "expected an integer"),
        ({"programid": 1.5}, "programid", "expected an integer"),
        ({"programid": []}, "programid", "empty"),
        ({"isdiffpos": "t"}, "isdiffpos", "true or false"),
        ({"isdiffpos": 1}, "isdiffpos", "true or false"),
        ({"no_sso": "yes"}, "no_sso", "true or false"),
        ({"night": "15/11/2018"}, "night", "YYYY-MM-DD"),
        ({"night": "2018-02-30"}, "night", "not a valid date"),
        ({"night": {"from": "2018-11-20", "to": "2018-11-15"}}, "night", "upside down"),
        ({"night": {"since": "2018-11-20"}}, "night", "expected a date"),
        ({"abs_gal_b": {"gt": -5}}, "abs_gal_b", "negative"),
        ({"object_id": "ZTF18' OR 1=1 --"}, "object_id", "short name"),
        ({"ndethist": {"gt": 1.5}}, "ndethist", "expected an integer"),
    ],
)
def test_an_invalid_filter_gets_a_clear_error_naming_the_field(spec, field, fragment):
    with pytest.raises(FilterError) as caught:
        compile_filter(spec)
    assert caught.value.field == field[:40] + ("…" if len(field) > 40 else "")
    assert fragment in caught.value.message


def test_a_filter_that_is_not_an_object_is_refused():
    for bad in ([], "rb > 0.2", 3):
        with pytest.raises(FilterError, match="JSON object"):
            compile_filter(bad)


def test_a_field_name_that_is_not_text_is_named_in_the_error():
    with pytest.raises(FilterError, match="unknown field"):
        compile_filter({1: 2})


@pytest.mark.django_db
def test_an_injection_attempt_leaves_the_alerts_table_alone():
    before = Alert.objects.count()
    with pytest.raises(FilterError):
        count_matching({"rb) OR 1=1; DELETE FROM labeling_alert; --": {"gt": 0}})
    with pytest.raises(FilterError):
        count_matching({"object_id": "x'; DELETE FROM labeling_alert; --"})
    assert Alert.objects.count() == before


def test_the_summary_reads_as_a_scientist_writes_it():
    assert (
        filter_summary({"rb": {"gt": 0.2, "lt": 0.4}, "abs_gal_b": {"gt": 0.4}, "programid": 1})
        == "0.2 < rb < 0.4, |b| > 0.4, programid = 1"
    )
    assert filter_summary({}) == "all alerts"
    assert filter_summary({"ssdistnr": {"gt": 8}, "ndethist": {"gt": 1}, "night": "2018-11-15"}) == (
        "ssdistnr > 8, ndethist > 1, night 2018-11-15"
    )
    assert filter_summary({"no_sso": True, "fid": 2, "isdiffpos": True}) == (
        "no known solar-system object, fid = 2 (r), isdiffpos = true"
    )


def test_the_normalised_spec_keeps_numbers_and_dates_canonical():
    spec = compile_filter({"ndethist": {"gt": 1.0}, "rb": {"gt": 1}, "night": {"from": "2018-11-15"}}).spec
    assert spec == {"ndethist": {"gt": 1}, "rb": {"gt": 1.0}, "night": {"from": "2018-11-15"}}
    assert isinstance(spec["ndethist"]["gt"], int)
    assert isinstance(spec["rb"]["gt"], float)
    assert not math.isnan(spec["rb"]["gt"])


@pytest.mark.django_db
def test_the_preview_count_is_exact_within_its_budget():
    from labeling.campaigns.preview import preview_count
    from tests.labeling.campaign_helpers import bare_alerts

    bare_alerts(30)
    # The candid range keeps the real packets (ingested for this module) out of the count.
    spec = {"candid": {"gte": 9_000_000_000_000, "lt": 9_000_000_000_030}, "fid": 1}
    assert (preview_count(spec).count, preview_count(spec).exact) == (15, True)
    assert (preview_count(spec, sample_size=4).count, preview_count(spec, sample_size=4).exact) == (4, True)


@pytest.mark.django_db
def test_the_preview_says_how_many_matches_are_synthetic_demo_alerts():
    from labeling.campaigns.preview import preview_count
    from labeling.filters import sample_key
    from tests.labeling.campaign_helpers import bare_alerts

    survey = bare_alerts(12)
    demo = bare_alerts(8, start=9_000_000_000_100, demo_truth="bogus_ring")
    spec = {"candid": {"gte": 9_000_000_000_000, "lt": 9_000_000_001_000}}
    counted = preview_count(spec)
    assert (counted.count, counted.demo, counted.survey) == (20, 8, 12)

    # With a sample, the split is that of the sample itself (the seeded md5 order picks its members).
    sampled = preview_count(spec, sample_size=6, seed=3)
    members = sorted(survey + demo, key=lambda a: (sample_key(a.candid, 3), a.candid))[:6]
    assert sampled.count == 6
    assert sampled.demo == sum(1 for a in members if a.demo_truth)

    # The builder's "real survey alerts only" and "synthetic demo alerts only" are the is_demo condition.
    assert preview_count({**spec, "is_demo": False}).count == 12
    assert preview_count({**spec, "is_demo": True}).demo == 8
    assert filter_summary({"is_demo": False}) == "survey alerts only"
    with pytest.raises(FilterError) as refused:
        compile_filter({"is_demo": "real"})
    assert refused.value.field == "is_demo"


@pytest.mark.django_db
def test_past_its_budget_the_preview_shows_the_planners_estimate_marked_as_such(monkeypatch):
    from django.db import OperationalError, connection
    from django.db.models.query import QuerySet

    from labeling.campaigns.preview import preview_count
    from tests.labeling.campaign_helpers import bare_alerts

    if connection.vendor != "postgresql":
        pytest.skip("the statement-timeout budget is PostgreSQL's")
    import psycopg

    bare_alerts(30)

    def timed_out(self):
        try:
            raise psycopg.errors.QueryCanceled("canceling statement due to statement timeout")
        except psycopg.errors.QueryCanceled as exc:
            raise OperationalError(str(exc)) from exc

    monkeypatch.setattr(QuerySet, "count", timed_out)
    estimated = preview_count({"fid": 1})
    assert estimated.exact is False
    assert estimated.count >= 1
    assert estimated.demo is None  # not counted: the split is shown only beside an exact count
    sampled = preview_count({"fid": 1}, sample_size=1)
    assert (sampled.count, sampled.exact) == (1, False)
