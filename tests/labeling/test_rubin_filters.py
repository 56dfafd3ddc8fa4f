"""The filter language's survey and Rubin fields, on the shared real Rubin alerts beside real ZTF ones.

Expected counts come from the raw records (Rubin's diaSource read with fastavro and pyarrow, ZTF's candidate with
fastavro), never from the compiler under test; the same filters then run on SQLite, as ``make run`` stores them.
"""

from __future__ import annotations

import math
from pathlib import Path

import fastavro
import pytest
from django.db import connections

from labeling.campaigns.preview import preview_count
from labeling.filters import FilterError, compile_filter, count_matching, filter_summary, select_alerts
from labeling.filters_rubin import pixel_flag_fields
from labeling.models import Alert, Campaign, LightCurvePoint
from tests.labeling.rubin_helpers import RUBIN_ALERTS, avro_files, parquet_rows, read_container, rubin_dir
from tests.labeling.test_sqlite_locked_database import make_run_database_settings

# Real ZTF alerts from two brokers' test data: small, and holding drb values inside the reliability ranges below,
# so a filter that read drb for ZTF alerts too would be caught.
ZTF_FOLDERS = ("alerce-pipeline", "kowalski")


def _value(x):
    """A raw value as Blink stores it: NaN becomes null (and null matches no range)."""
    return None if isinstance(x, float) and math.isnan(x) else x


def _between(x, low=None, high=None, *, low_inclusive=False, high_inclusive=False) -> bool:
    x = _value(x)
    if x is None:
        return False
    if low is not None and not (x >= low if low_inclusive else x > low):
        return False
    return high is None or (x <= high if high_inclusive else x < high)


@pytest.fixture(scope="module")
def raw_rubin() -> list[dict]:
    """Every shared Rubin alert's diaSource, as the files hold it."""
    sources = [read_container(path)[0]["diaSource"] for path in avro_files()]
    sources += [row["diaSource"] for row in parquet_rows()]
    assert len(sources) == RUBIN_ALERTS
    return sources


def ztf_files(real_data: Path) -> list[Path]:
    return sorted(p for folder in ZTF_FOLDERS for p in (real_data / "avro" / folder).rglob("*.avro"))


@pytest.fixture(scope="module")
def raw_ztf(real_data) -> list[dict]:
    candidates = []
    for path in ztf_files(real_data):
        with open(path, "rb") as fh:
            candidates += [record["candidate"] for record in fastavro.reader(fh)]
    return candidates


@pytest.fixture(scope="module")
def both_surveys(django_db_setup, django_db_blocker, real_data, raw_rubin, raw_ztf):
    """The Rubin alerts and the ZTF ones ingested once for this module (committed, removed at the end)."""
    from labeling.ingest import ingest_paths

    with django_db_blocker.unblock():
        Alert.objects.all().delete()
        report = ingest_paths([rubin_dir(), *ztf_files(real_data)], workers=0)
        assert report.rejected == 0, report.errors
        assert Alert.objects.filter(survey="rubin").count() == len(raw_rubin)
        assert Alert.objects.filter(survey="ztf").count() == len(raw_ztf)
    yield
    with django_db_blocker.unblock():
        Alert.objects.all().delete()
        LightCurvePoint.objects.all().delete()


def rubin_cases() -> dict:
    """name: (filter, predicate on a raw diaSource). Every one of them matches no ZTF alert."""
    return {
        "reliability range": (
            {"reliability": {"gt": 0.2, "lt": 0.6}},
            lambda s: _between(s["reliability"], 0.2, 0.6),
        ),
        "reliability at least": (
            {"reliability": {"gte": 0.5}},
            lambda s: _between(s["reliability"], 0.5, low_inclusive=True),
        ),
        "snr": ({"snr": {"gt": 6}}, lambda s: _between(s["snr"], 6)),
        "snr at most": ({"snr": {"lte": 5.5}}, lambda s: _between(s["snr"], high=5.5, high_inclusive=True)),
        # An upper bound must not let NaN (stored as JSON null) in: a jsonb comparison would sort null below 0.5.
        "extendedness below": ({"extendedness": {"lt": 0.5}}, lambda s: _between(s["extendedness"], high=0.5)),
        "extendedness above": ({"extendedness": {"gt": 0.5}}, lambda s: _between(s["extendedness"], 0.5)),
        "trailLength": (
            {"trailLength": {"gt": 2, "lte": 4}},
            lambda s: _between(s["trailLength"], 2, 4, high_inclusive=True),
        ),
        "trailLength short": ({"trailLength": {"lt": 1.5}}, lambda s: _between(s["trailLength"], high=1.5)),
        "isDipole true": ({"isDipole": True}, lambda s: s["isDipole"] is True),
        "isDipole false": ({"isDipole": False}, lambda s: s["isDipole"] is False),
        "glint_trail false": ({"glint_trail": False}, lambda s: s["glint_trail"] is False),
        "glint_trail true": ({"glint_trail": True}, lambda s: s["glint_trail"] is True),
        "cosmic ray": ({"pixelFlags_cr": True}, lambda s: s["pixelFlags_cr"] is True),
        "no cosmic ray": ({"pixelFlags_cr": False}, lambda s: s["pixelFlags_cr"] is False),
        "no data pixels": ({"pixelFlags_nodata": True}, lambda s: s["pixelFlags_nodata"] is True),
        "clean, non-dipole, mid reliability": (
            {
                "survey": "rubin",
                "reliability": {"gt": 0.2, "lt": 0.6},
                "isDipole": False,
                "pixelFlags_cr": False,
                "pixelFlags_interpolated": False,
            },
            lambda s: (
                _between(s["reliability"], 0.2, 0.6)
                and s["isDipole"] is False
                and s["pixelFlags_cr"] is False
                and s["pixelFlags_interpolated"] is False
            ),
        ),
    }


CASES = rubin_cases()


@pytest.mark.django_db
@pytest.mark.parametrize("name", list(CASES))
def test_each_rubin_field_selects_what_the_raw_diasources_say(name, both_surveys, raw_rubin):
    spec, predicate = CASES[name]
    expected = sum(1 for s in raw_rubin if predicate(s))
    assert count_matching(spec) == expected
    assert set(select_alerts(spec).values_list("candid", flat=True)) == {
        s["diaSourceId"] for s in raw_rubin if predicate(s)
    }
    assert preview_count(spec).by_survey == {"ztf": 0, "rubin": expected}


@pytest.mark.django_db
def test_the_rubin_cases_are_not_trivial(both_surveys, raw_rubin, raw_ztf):
    # Each range or flag keeps some Rubin alerts and leaves others out (glint_trail is false in all of them).
    for name, (_, predicate) in CASES.items():
        n = sum(1 for s in raw_rubin if predicate(s))
        if name == "glint_trail true":
            assert n == 0
        elif name == "glint_trail false":
            assert n == len(raw_rubin)
        else:
            assert 0 < n < len(raw_rubin), name
    # ZTF alerts whose drb lies in the reliability range exist: the reliability filter must leave them out.
    assert any(_between(c.get("drb"), 0.2, 0.6) for c in raw_ztf)
    assert count_matching({"drb": {"gt": 0.2, "lt": 0.6}}) > count_matching({"reliability": {"gt": 0.2, "lt": 0.6}})


@pytest.mark.django_db
def test_the_survey_field_and_the_per_survey_counts(both_surveys, raw_rubin, raw_ztf):
    n_rubin, n_ztf = len(raw_rubin), len(raw_ztf)
    assert count_matching({"survey": "rubin"}) == n_rubin
    assert count_matching({"survey": "ztf"}) == n_ztf
    assert count_matching({"survey": ["ztf", "rubin"]}) == n_rubin + n_ztf
    assert preview_count({}).by_survey == {"ztf": n_ztf, "rubin": n_rubin}
    assert preview_count({"survey": "ztf"}).by_survey == {"ztf": n_ztf, "rubin": 0}
    # ZTF's fid 2 is r; every shared Rubin alert is in band i (fid 3).
    r_band = sum(1 for c in raw_ztf if c["fid"] == 2)
    assert preview_count({"fid": 2}).by_survey == {"ztf": r_band, "rubin": 0}
    assert preview_count({"fid": 3}).by_survey == {
        "ztf": sum(1 for c in raw_ztf if c["fid"] == 3),
        "rubin": n_rubin,
    }
    # A seeded sample splits by survey as the sample itself does.
    sampled = preview_count({}, sample_size=20, seed=5)
    members = list(select_alerts({}, sample_size=20, seed=5).values_list("survey", flat=True))
    assert sampled.by_survey == {"ztf": members.count("ztf"), "rubin": members.count("rubin")}
    assert sum(sampled.by_survey.values()) == 20
    # Nothing matched: both surveys still named.
    assert preview_count({"survey": "ztf", "reliability": {"gt": 0}}).by_survey == {"ztf": 0, "rubin": 0}


@pytest.mark.django_db
def test_a_rubin_field_never_matches_a_ztf_alert_even_with_the_same_key():
    from tests.labeling.campaign_helpers import bare_alerts

    # A ZTF alert whose candidate happened to carry Rubin's key names, and whose drb is in range.
    (alert,) = bare_alerts(
        1,
        drb=0.5,
        candidate={"isDipole": True, "extendedness": 0.9, "trailLength": 3.0, "pixelFlags_cr": True},
    )
    for spec in (
        {"reliability": {"gt": 0.2}},
        {"isDipole": True},
        {"extendedness": {"gt": 0.5}},
        {"trailLength": {"gt": 1}},
        {"pixelFlags_cr": True},
    ):
        assert count_matching({"candid": alert.candid, **spec}) == 0, spec
    assert count_matching({"candid": alert.candid, "drb": {"gt": 0.2}}) == 1


@pytest.mark.django_db
def test_the_preview_api_counts_each_survey_and_names_each_alerts(both_surveys, api_for, scientist, raw_rubin):
    from django.urls import reverse

    answer = api_for(scientist).post(
        reverse("api-campaign-preview"), {"selection": {"survey": "rubin", "isDipole": True}, "n": 5}, format="json"
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    dipoles = sum(1 for s in raw_rubin if s["isDipole"] is True)
    assert (body["count"], body["count_by_survey"]) == (dipoles, {"ztf": 0, "rubin": dipoles})
    assert body["summary"] == "Rubin alerts only, isDipole = true"
    assert [a["survey"] for a in body["alerts"]] == ["rubin"] * min(5, dipoles)
    everything = api_for(scientist).post(reverse("api-campaign-preview"), {"selection": {}}, format="json").json()
    assert everything["count_by_survey"]["rubin"] == len(raw_rubin)
    assert everything["count_by_survey"]["ztf"] == everything["count"] - len(raw_rubin) > 0


@pytest.fixture
def sqlite_alerts(monkeypatch, tmp_path, both_surveys, django_db_blocker):
    """The same alerts copied into a SQLite file configured as ``make run`` configures it."""
    alias = "rubin_filters_sqlite"
    entry = make_run_database_settings(monkeypatch, tmp_path / "blink.sqlite3")
    assert entry["ENGINE"] == "django.db.backends.sqlite3"
    configured = connections.configure_settings({"default": connections.settings["default"], alias: entry})
    connections.settings[alias] = configured[alias]
    with django_db_blocker.unblock():
        try:
            with connections[alias].schema_editor() as editor:
                editor.create_model(Alert)
            Alert.objects.using(alias).bulk_create(Alert.objects.order_by("pk"))
            yield alias
        finally:
            connections[alias].close()
            del connections.settings[alias]
            if hasattr(connections._connections, alias):
                delattr(connections._connections, alias)


def test_the_rubin_fields_select_the_same_alerts_on_sqlite(sqlite_alerts, raw_rubin, raw_ztf):
    on_sqlite = Alert.objects.using(sqlite_alerts)
    assert on_sqlite.filter(survey="rubin").count() == len(raw_rubin)
    for name, (spec, predicate) in CASES.items():
        expected = {s["diaSourceId"] for s in raw_rubin if predicate(s)}
        got = set(on_sqlite.filter(compile_filter(spec).q).values_list("candid", flat=True))
        assert got == expected, name
    assert on_sqlite.filter(compile_filter({"survey": "ztf"}).q).count() == len(raw_ztf)


@pytest.mark.parametrize(
    ("spec", "field", "fragment"),
    [
        ({"survey": "hsc"}, "survey", "unknown survey"),
        ({"survey": []}, "survey", "empty"),
        ({"survey": ["ztf", 3]}, "survey", "unknown survey"),
        ({"reliability": 0.5}, "reliability", "expected a range"),
        ({"reliability": {"gt": 0.7, "lt": 0.2}}, "reliability", "upside down"),
        ({"snr": {"gt": "5"}}, "snr", "expected a number"),
        ({"extendedness": {"between": [0, 1]}}, "extendedness", "unknown range operator"),
        ({"trailLength": {"gt": float("nan")}}, "trailLength", "not a finite number"),
        ({"isDipole": "yes"}, "isDipole", "true or false"),
        ({"glint_trail": 0}, "glint_trail", "true or false"),
        ({"pixelFlags_cr": 1}, "pixelFlags_cr", "true or false"),
        ({"pixelFlags_sparkle": True}, "pixelFlags_sparkle", "not a pixel flag"),
        (
            {"pixelFlags_cr'; DROP TABLE labeling_alert; --": True},
            "pixelFlags_cr'; DROP TABLE labeling_alert; --",
            "not",
        ),
    ],
)
def test_a_bad_rubin_condition_is_refused_naming_the_field(spec, field, fragment):
    with pytest.raises(FilterError) as caught:
        compile_filter(spec)
    assert caught.value.field == field[:40] + ("…" if len(field) > 40 else "")
    assert fragment in caught.value.message


def test_the_pixel_flags_are_those_of_the_shipped_schemas():
    import json

    from labeling.filters_rubin import SCHEMA_DIR

    flags = pixel_flag_fields()
    schema = json.loads((SCHEMA_DIR / "lsst.v10_0.avsc").read_text())
    source = next(f for f in schema["fields"] if f["name"] == "diaSource")["type"]
    source = next(t for t in source if isinstance(t, dict)) if isinstance(source, list) else source
    in_schema = [f["name"] for f in source["fields"] if f["name"].startswith("pixelFlags")]
    assert list(flags) == in_schema
    assert {"pixelFlags_cr", "pixelFlags_streak", "pixelFlags_saturated", "pixelFlags_edge"} <= set(flags)
    for flag in flags:
        assert compile_filter({flag: False}).spec == {flag: False}
    with pytest.raises(FilterError) as caught:
        compile_filter({"pixelFlags_sparkle": True})
    assert "pixelFlags_streak" in caught.value.message  # the error lists the known flags


def test_the_summary_reads_right_for_the_rubin_fields():
    assert filter_summary({"survey": "rubin", "reliability": {"gt": 0.2, "lt": 0.6}}) == (
        "Rubin alerts only, 0.2 < reliability < 0.6"
    )
    assert filter_summary({"survey": "ztf", "rb": {"gt": 0.5}}) == "ZTF alerts only, rb > 0.5"
    assert filter_summary({"survey": ["rubin", "ztf"]}) == "surveys Rubin and ZTF"
    assert filter_summary({"snr": {"gte": 5}, "extendedness": {"lt": 0.5}, "trailLength": {"lte": 2}}) == (
        "snr ≥ 5, extendedness < 0.5, trailLength ≤ 2"
    )
    assert filter_summary({"isDipole": False, "glint_trail": False, "pixelFlags_cr": True}) == (
        "isDipole = false, glint_trail = false, pixelFlags_cr = true"
    )
    # A one-survey list is that survey; lists come back sorted and without repeats.
    assert compile_filter({"survey": ["rubin", "rubin"]}).spec == {"survey": "rubin"}
    assert compile_filter({"survey": ["rubin", "ztf", "ztf"]}).spec == {"survey": ["rubin", "ztf"]}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("question_type", "selection", "task"),
    [
        ("real_bogus", {"survey": "rubin"}, "rubin_real_bogus"),
        ("real_bogus", {"reliability": {"gt": 0.2, "lt": 0.6}}, "rubin_real_bogus"),
        ("real_bogus", {"pixelFlags_cr": False, "magpsf": {"lt": 21}}, "rubin_real_bogus"),
        ("real_bogus", {"snr": {"gt": 5}}, "rubin_real_bogus"),
        ("real_bogus", {"survey": "ztf"}, "real_bogus"),
        ("real_bogus", {"survey": ["rubin", "ztf"]}, "real_bogus"),
        ("real_bogus", {"rb": {"gt": 0.5}}, "real_bogus"),
        ("real_bogus", {}, "real_bogus"),
        ("streak", {"survey": "rubin"}, "streaks"),
    ],
)
def test_a_rubin_real_bogus_campaign_is_ordered_by_rubins_model(scientist, question_type, selection, task):
    from labeling.campaigns.services import campaign_create

    campaign = campaign_create(actor=scientist, name="c", question_type=question_type, selection=selection)
    assert campaign.model_task == task
    campaign.refresh_from_db()
    assert campaign.model_task == task


@pytest.mark.django_db
def test_changing_a_drafts_selection_or_question_follows_the_survey(scientist):
    from labeling.campaigns.services import campaign_create, campaign_update

    campaign = campaign_create(actor=scientist, name="c", selection={"rb": {"gt": 0.5}})
    assert campaign.model_task == "real_bogus"
    campaign = campaign_update(actor=scientist, campaign=campaign, selection={"survey": "rubin"})
    assert campaign.model_task == "rubin_real_bogus"
    campaign = campaign_update(actor=scientist, campaign=campaign, question_type=Campaign.QuestionType.STREAK)
    assert campaign.model_task == "streaks"
    campaign = campaign_update(actor=scientist, campaign=campaign, question_type=Campaign.QuestionType.REAL_BOGUS)
    assert campaign.model_task == "rubin_real_bogus"
    campaign = campaign_update(actor=scientist, campaign=campaign, selection={})
    assert campaign.model_task == "real_bogus"


def test_an_unknown_field_lists_the_known_ones_with_the_pixel_flags_as_one_entry():
    with pytest.raises(FilterError) as caught:
        compile_filter({"reliabilty": {"gt": 0.5}})
    assert caught.value.field == "reliabilty"
    for known in ("survey", "reliability", "snr", "extendedness", "trailLength", "isDipole", "glint_trail"):
        assert known in caught.value.message
    assert "pixelFlags_*" in caught.value.message
    assert "pixelFlags_crCenter" not in caught.value.message
