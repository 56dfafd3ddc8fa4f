"""Campaign filters and campaign creation refuse hostile field names, conditions, specs and settings with an error
naming the field, and create nothing."""

from __future__ import annotations

import pytest

from labeling.backups import table_fingerprints
from labeling.campaigns.services import campaign_create
from labeling.campaigns.validation import CampaignError
from labeling.filters import FilterError, count_matching, select_alerts
from labeling.models import Alert

pytestmark = pytest.mark.django_db


HOSTILE_FIELD_NAMES = [
    "rb; DROP TABLE labeling_alert;--",
    "rb__gt",
    "candidate__objectId",
    "stamps__science",
    "id",
    "__class__",
    "pk",
    "",
    "rb\x00",
    "r" * 10_000,
    "'; SELECT pg_sleep(10); --",
    "subjects__votes__volunteer__password",
    "\u202erb",
]
HOSTILE_CONDITIONS = [
    ({"rb": "0.2 OR 1=1"}, "rb"),
    ({"rb": {"gt": "0; DROP TABLE labeling_vote"}}, "rb"),
    ({"rb": {"$gt": 0.2}}, "rb"),
    ({"rb": {"gt": float("nan")}}, "rb"),
    ({"rb": {"lt": float("inf")}}, "rb"),
    ({"rb": {"gt": -float("inf")}}, "rb"),
    ({"magpsf": {"gt": 1e308}}, "magpsf"),
    ({"ndethist": {"gt": 10**400}}, "ndethist"),
    ({"ndethist": 2**64}, "ndethist"),
    ({"rb": {"gt": 0.4, "lt": 0.2}}, "rb"),
    ({"rb": {"gt": 0.3, "lt": 0.3}}, "rb"),
    ({"rb": {"gt": True}}, "rb"),
    ({"rb": {}}, "rb"),
    ({"rb": [0.1, 0.2]}, "rb"),
    ({"rb": {"gt": {"gt": {"gt": 1}}}}, "rb"),
    ({"abs_gal_b": {"gt": -5}}, "abs_gal_b"),
    ({"programid": list(range(20_000))}, "programid"),
    ({"programid": []}, "programid"),
    ({"isdiffpos": "false"}, "isdiffpos"),
    ({"isdiffpos": 0}, "isdiffpos"),
    ({"night": "2018-13-45"}, "night"),
    ({"night": "2018-11-15' OR '1'='1"}, "night"),
    ({"night": {"from": "2019-01-01", "to": "2018-01-01"}}, "night"),
    ({"night": {"from": "yesterday"}}, "night"),
    ({"night": {"from": "2018-01-01", "until": "2019-01-01"}}, "night"),
    ({"object_id": "ZTF%"}, "object_id"),
    ({"object_id": "ZTF\\8"}, "object_id"),
    ({"object_id": "' OR '1'='1"}, "object_id"),
    ({"object_id": "x" * 1000}, "object_id"),
    ({"object_id": ["ZTF18abc", {"$ne": 1}]}, "object_id"),
    ({"candid": "1 OR 1=1"}, "candid"),
    ({"demo_truth": None}, "demo_truth"),
]


def _deep(depth: int) -> dict:
    spec: dict = {"gt": 0.1}
    for _ in range(depth):
        spec = {"gt": spec}
    return {"rb": spec}


@pytest.mark.parametrize("name", HOSTILE_FIELD_NAMES, ids=[f"name{i}" for i in range(len(HOSTILE_FIELD_NAMES))])
def test_filters_refuse_hostile_field_names(stored, name):
    before = table_fingerprints()
    with pytest.raises(FilterError) as err:
        select_alerts({name: {"gt": 0.1}}).count()
    assert "unknown field" in err.value.message
    assert len(str(err.value)) < 1000  # echoes a bounded, printable excerpt, never the whole input
    assert "\x00" not in str(err.value)
    assert table_fingerprints() == before


@pytest.mark.parametrize(
    ("spec", "field"), HOSTILE_CONDITIONS, ids=[f"cond{i}" for i in range(len(HOSTILE_CONDITIONS))]
)
def test_filters_refuse_hostile_or_absurd_conditions_naming_the_field(stored, spec, field):
    before = table_fingerprints()
    with pytest.raises(FilterError) as err:
        count_matching(spec)
    assert err.value.field == field, err.value
    assert err.value.message
    assert table_fingerprints() == before


@pytest.mark.parametrize(
    "spec",
    [None, [], "rb > 0.2", 42, _deep(500), {str(i): 1 for i in range(1000)}],
    ids=["null", "list", "text", "number", "deeply-nested", "thousand-keys"],
)
def test_filters_refuse_specs_that_are_not_filters(stored, spec):
    if spec is None:
        assert count_matching(spec) == Alert.objects.count()  # no filter: everything, by design
        return
    with pytest.raises(FilterError):
        count_matching(spec)


@pytest.mark.parametrize(
    ("sample_size", "seed", "field"),
    [
        (-1, 0, "sample_size"),
        (0, 0, "sample_size"),
        (10**12, 0, "sample_size"),
        ("10", 0, "sample_size"),
        (5, "abc", "sample_seed"),
        (5, 2**80, "sample_seed"),
        (5, float("nan"), "sample_seed"),
    ],
)
def test_filters_refuse_absurd_samples(stored, sample_size, seed, field):
    with pytest.raises(FilterError) as err:
        select_alerts({"rb": {"gt": 0}}, sample_size=sample_size, seed=seed)
    assert err.value.field == field


def test_a_valid_filter_with_odd_but_legal_values_matches_exactly(stored):
    """Characters that mean something to SQL LIKE are refused above; legal values match exactly, never as
    patterns: an objectId that is a prefix of a stored one matches nothing."""
    some = Alert.objects.first()
    assert count_matching({"object_id": some.object_id}) == Alert.objects.filter(object_id=some.object_id).count()
    assert count_matching({"object_id": some.object_id[:-1]}) == 0
    assert count_matching({"object_id": some.object_id[:-2] + "__"}) == 0  # "_" is no wildcard here
    assert count_matching({"rb": {"gte": -1e15, "lte": 1e15}}) == Alert.objects.filter(rb__isnull=False).count()


@pytest.mark.parametrize(("spec", "field"), HOSTILE_CONDITIONS[:12], ids=[f"cond{i}" for i in range(12)])
def test_a_campaign_with_a_hostile_selection_is_not_created(stored, scientist, spec, field):
    before = table_fingerprints()
    with pytest.raises(CampaignError) as err:
        campaign_create(actor=scientist, name="Hostile", selection=spec)
    assert err.value.field == f"selection.{field}"
    assert table_fingerprints() == before


@pytest.mark.parametrize(
    "settings_",
    [
        {"retire_after": -1},
        {"retire_after": 10**12},
        {"retire_after": "5"},
        {"retire_agree_fraction": 1.5},
        {"retire_agree_fraction": float("nan")},
        {"gold_share": -0.1},
        {"gold_share": float("inf")},
        {"exploration_share": 2},
        {"question_type": "'; DROP"},
        {"access": "anyone"},
        {"strategy": "eval"},
        {"classes": [{"key": "<script>", "label": "x"}]},
        {"classes": "real,bogus"},
        {"volunteers": ["nobody-by-this-name"]},
        {"question": "x" * 100_000},
        {"description": 5},
        {"owner": 1},
        {"state": "live"},
    ],
    ids=lambda s: next(iter(s)),
)
def test_a_campaign_with_hostile_settings_is_not_created(stored, scientist, settings_):
    before = table_fingerprints()
    with pytest.raises(CampaignError) as err:
        campaign_create(actor=scientist, name="Hostile", **settings_)
    assert err.value.field
    assert table_fingerprints() == before
