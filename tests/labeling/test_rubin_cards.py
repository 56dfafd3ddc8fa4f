"""The classify API's cards say each candidate's survey, pixel scale and how its stamps lie on screen, and give a
Rubin candidate its own fields (flux in nJy, magnitude, S/N, band) instead of ZTF's; no card shows a volunteer
a model's score (rb, drb, Rubin's reliability)."""

from __future__ import annotations

import pytest

from classifiers.api.classify import SUBJECT_CARD_FIELDS
from labeling.ingest import ingest_paths
from labeling.models import Alert
from tests.labeling.classify_helpers import make_alerts, make_campaign
from tests.labeling.rubin_helpers import avro_files

pytestmark = pytest.mark.django_db

ZTF_ONLY = ("fwhm", "elong", "classtar", "sgscore1", "distpsnr1", "ssdistnr")
SCORES = ("rb", "drb", "reliability")


@pytest.fixture
def mixed(scientist):
    assert ingest_paths(avro_files()[:2], workers=0).new == 2
    rubin = list(Alert.objects.filter(survey="rubin").order_by("candid"))
    # One stored before orientations were measured: its card says it is unknown.
    old = rubin[1]
    old.survey_extra = {k: v for k, v in old.survey_extra.items() if k != "cutout_orientation"}
    old.save(update_fields=["survey_extra"])
    ztf = make_alerts(1)
    return make_campaign(scientist, [*rubin, *ztf], slug="mixed"), rubin, ztf[0]


def test_cards_carry_survey_scale_orientation_and_the_surveys_own_fields(mixed, volunteer, api_for):
    campaign, rubin, ztf = mixed
    r = api_for(volunteer).get(f"/api/campaigns/{campaign.slug}/next/?n=5")
    assert r.status_code == 200
    cards = {c["candid"]: c for c in r.json()["subjects"]}
    assert len(cards) == 3
    for card in cards.values():
        assert set(card) <= set(SUBJECT_CARD_FIELDS), set(card) - set(SUBJECT_CARD_FIELDS)
        for score in SCORES:
            assert score not in card["fields"]

    measured, unknown = cards[str(rubin[0].candid)], cards[str(rubin[1].candid)]
    stored = rubin[0].survey_extra["cutout_orientation"]
    assert measured["survey"] == "rubin"
    assert measured["pixel_scale_arcsec"] == 0.2
    assert measured["cutout_orientation"] == stored
    assert measured["cutout_orientation"]["north_deg"] != 0  # a detector's angle, not north up
    assert unknown["cutout_orientation"] is None

    fields = measured["fields"]
    alert = rubin[0]
    assert fields["flux_njy"] == pytest.approx(alert.flux_njy, abs=0.05)
    assert fields["flux_err_njy"] == pytest.approx(alert.flux_err_njy, abs=0.05)
    assert fields["magpsf"] == pytest.approx(alert.magpsf, abs=1e-3)
    assert fields["snr"] == pytest.approx(alert.snr, abs=0.05)
    assert fields["band"] == "i"
    for ztf_only in ZTF_ONLY:
        assert ztf_only not in fields
    assert alert.drb is not None  # Rubin's reliability, stored as drb
    assert alert.drb not in fields.values()

    ztf_card = cards[str(ztf.candid)]
    assert ztf_card["survey"] == "ztf"
    assert ztf_card["pixel_scale_arcsec"] == 1.0
    assert ztf_card["cutout_orientation"] == {"north_deg": 0.0, "east_left": True, "pixel_scale_arcsec": 1.0}
    for ztf_field in ZTF_ONLY:
        assert ztf_field in ztf_card["fields"]
    for rubin_only in ("flux_njy", "flux_err_njy", "snr", "band"):
        assert rubin_only not in ztf_card["fields"]


def test_the_openapi_schema_declares_the_new_card_fields(api_for, volunteer):
    r = api_for(volunteer).get("/api/schema/", HTTP_ACCEPT="application/json")
    if r.status_code != 200:
        pytest.skip(f"no OpenAPI schema at /api/schema/ ({r.status_code})")
    schema = r.json() if r["Content-Type"].startswith("application/json") else None
    if schema is None:
        import yaml

        schema = yaml.safe_load(r.content)
    card = schema["components"]["schemas"]["SubjectCard"]["properties"]
    assert {"survey", "pixel_scale_arcsec", "cutout_orientation"} <= set(card)
    orientation = schema["components"]["schemas"]["CutoutOrientation"]["properties"]
    assert set(orientation) == {"north_deg", "east_left", "pixel_scale_arcsec"}
