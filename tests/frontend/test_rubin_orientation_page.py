"""The alert page says how the stamps lie (no browser): ZTF's north up, east left; a Rubin alert's detector
orientation from its cutout's WCS, with a compass; an older Rubin row without one says it is not rotated."""

from __future__ import annotations

import re

import pytest

from frontend.views.alerts import orientation_text
from labeling.ingest import ingest_paths
from labeling.models import Alert
from tests.labeling.rubin_helpers import avro_files

pytestmark = pytest.mark.django_db


@pytest.fixture
def rubin_alert():
    assert ingest_paths(avro_files()[:1], workers=0).new == 1
    return Alert.objects.get(survey="rubin")


def test_a_rubin_page_states_the_detector_orientation_and_draws_a_compass(client_for, volunteer, rubin_alert):
    north = rubin_alert.survey_extra["cutout_orientation"]["north_deg"]
    html = client_for(volunteer).get(f"/alerts/{rubin_alert.candid}/").content.decode()
    words = f"detector orientation: north {round(abs(north))}° {'anticlockwise' if north > 0 else 'clockwise'} from up"
    assert f"ZScale, {words}, east left" in html
    assert "north up" not in html.split('id="stamp-orientation"')[1].split("</span>")[0]
    compass = re.search(r'<span class="compass[^"]*"[^>]*role="img"[^>]*aria-label="([^"]*)"', html)
    assert compass
    assert compass[1] == f"Compass: {words}, east left"
    assert f"--turn: {-north:.1f}deg" in html


def test_an_older_rubin_row_says_it_is_not_rotated_and_has_no_compass(client_for, volunteer, rubin_alert):
    rubin_alert.survey_extra.pop("cutout_orientation")
    rubin_alert.save(update_fields=["survey_extra"])
    html = client_for(volunteer).get(f"/alerts/{rubin_alert.candid}/").content.decode()
    assert "ZScale, detector orientation (not rotated to north)" in html
    assert "north up, east left" not in html.split("<footer")[0]
    assert 'class="compass' not in html


def test_a_ztf_page_still_says_north_up_east_left_without_a_compass(client_for, volunteer, demo_alerts):
    ztf = next(a for a in demo_alerts if a.survey == "ztf")
    html = client_for(volunteer).get(f"/alerts/{ztf.candid}/").content.decode()
    assert "ZScale, north up, east left" in html
    assert "detector orientation" not in html
    assert 'class="compass' not in html


@pytest.mark.parametrize(
    ("orientation", "words"),
    [
        ({"north_deg": 0.3, "east_left": True}, "detector orientation: north up, east left"),
        ({"north_deg": -51.4, "east_left": True}, "detector orientation: north 51° clockwise from up, east left"),
        ({"north_deg": 179.8, "east_left": False}, "detector orientation: north down, east right"),
        ({"north_deg": "28"}, "detector orientation (not rotated to north)"),
    ],
)
def test_the_words_for_each_orientation(orientation, words):
    alert = Alert(survey="rubin", survey_extra={"cutout_orientation": orientation})
    assert orientation_text(alert) == words
    assert orientation_text(Alert(survey="ztf")) == "north up, east left"
