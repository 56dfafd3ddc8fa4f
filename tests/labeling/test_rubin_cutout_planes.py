"""A Rubin cutout's variance and PSF planes as PNG: read by every signed-in user like the cutouts, cached by ETag,
404 for an alert without planes (ZTF), 400 for a plane that does not exist; and the light-curve figure's scales."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from labeling.ingest import ingest_paths
from labeling.models import Alert, StampPlane
from tests.labeling.rubin_helpers import avro_files

pytestmark = pytest.mark.django_db


@pytest.fixture
def rubin_alert() -> Alert:
    assert ingest_paths(avro_files()[:1], workers=0).new == 1
    return Alert.objects.get(survey="rubin")


def ztf_alert(demo_alerts) -> Alert:
    return next(a for a in demo_alerts if a.survey == "ztf")


def plane_url(candid: int, kind: str = "science", plane: str = "psf") -> str:
    return f"/api/alerts/{candid}/cutouts/{kind}/{plane}.png"


def test_every_plane_is_a_png_at_its_own_size_for_every_signed_in_role(
    api_for, volunteer, scientist, mllead, rubin_alert
):
    planes = StampPlane.objects.filter(alert=rubin_alert)
    assert planes.count() == 6
    for user in (volunteer, scientist, mllead):
        api = api_for(user)
        for plane in planes:
            response = api.get(plane_url(rubin_alert.candid, plane.kind, plane.plane), HTTP_ACCEPT="image/*")
            assert response.status_code == 200, (user.username, plane.kind, plane.plane)
            assert response["Content-Type"] == "image/png"
            assert Image.open(io.BytesIO(response.content)).size == (plane.width, plane.height)
    anonymous = api_for(None).get(plane_url(rubin_alert.candid), HTTP_ACCEPT="image/png")
    assert anonymous.status_code == 401
    assert anonymous["Content-Type"].startswith("application/json")


def test_a_plane_is_cached_by_etag_and_enlarged_on_request(api_for, volunteer, rubin_alert):
    api = api_for(volunteer)
    psf = StampPlane.objects.get(alert=rubin_alert, kind="difference", plane="psf")
    url = plane_url(rubin_alert.candid, "difference", "psf")
    size = psf.width * 4
    first = api.get(url, {"size": size})
    assert first.status_code == 200
    assert "max-age=" in first["Cache-Control"]
    assert max(Image.open(io.BytesIO(first.content)).size) == size
    again = api.get(url, {"size": size}, HTTP_IF_NONE_MATCH=first["ETag"])
    assert (again.status_code, again.content, again["ETag"]) == (304, b"", first["ETag"])
    variance = api.get(plane_url(rubin_alert.candid, "difference", "variance"), HTTP_IF_NONE_MATCH=first["ETag"])
    assert variance.status_code == 200
    assert api.get(url, {"size": 99999}).status_code == 400


def test_a_ztf_alert_has_no_planes_404(api_for, volunteer, demo_alerts):
    response = api_for(volunteer).get(plane_url(ztf_alert(demo_alerts).candid, "science", "variance"))
    assert response.status_code == 404
    assert "no variance plane" in response.json()["detail"]
    assert api_for(volunteer).get(plane_url(1)).status_code == 404


def test_a_bad_plane_name_is_a_clear_400_and_a_bad_kind_404(api_for, volunteer, rubin_alert):
    api = api_for(volunteer)
    bad = api.get(plane_url(rubin_alert.candid, "science", "mask"))
    assert bad.status_code == 400
    assert bad.json()["field"] == "plane"
    assert "unknown plane 'mask'" in bad.json()["detail"]
    assert "variance, psf" in bad.json()["detail"]
    unknown_kind = api.get(plane_url(rubin_alert.candid, "reference", "psf"))
    assert unknown_kind.status_code == 404


def test_the_light_curve_figure_offers_flux_then_magnitude_for_rubin_and_magnitude_only_for_ztf(
    api_for, volunteer, rubin_alert, demo_alerts
):
    api = api_for(volunteer)
    base = f"/api/alerts/{rubin_alert.candid}/lightcurve/plot/"
    rubin = api.get(base).json()
    assert {"target_id", "root_id", "doc"} <= set(rubin)
    assert (rubin["scale"], rubin["survey"], rubin["pixel_scale_arcsec"]) == ("flux", "rubin", 0.2)
    assert [s["scale"] for s in rubin["scales"]] == ["flux", "mag"]
    assert "PSF flux (nJy)" in str(rubin["doc"])
    magnitude = api.get(rubin["scales"][1]["url"]).json()
    assert magnitude["scale"] == "mag"
    assert "PSF magnitude" in str(magnitude["doc"])
    ztf_base = f"/api/alerts/{ztf_alert(demo_alerts).candid}/lightcurve/plot/"
    ztf = api.get(ztf_base).json()
    assert (ztf["scale"], [s["scale"] for s in ztf["scales"]], ztf["pixel_scale_arcsec"]) == ("mag", ["mag"], 1.0)
    refused = api.get(ztf_base, {"scale": "flux"})
    assert refused.status_code == 400
    assert refused.json()["field"] == "scale"


def test_the_alert_api_says_the_survey_and_the_pixel_scale(api_for, volunteer, rubin_alert):
    data = api_for(volunteer).get(f"/api/alerts/{rubin_alert.candid}/").json()
    assert data["survey"] == "rubin"
    assert data["pixel_scale_arcsec"] == 0.2
    assert data["flux_njy"] == rubin_alert.flux_njy
    points = api_for(volunteer).get(f"/api/alerts/{rubin_alert.candid}/lightcurve/").json()["points"]
    assert any(p["flux_njy"] == rubin_alert.flux_njy for p in points)


def test_rubin_s_real_bogus_score_is_for_scientists_only(api_for, volunteer, scientist, rubin_alert):
    url = f"/api/alerts/{rubin_alert.candid}/"
    seen = api_for(volunteer).get(url).json()
    assert "drb" not in seen
    assert "reliability" not in seen["candidate"]
    assert "psfFlux" in seen["candidate"]
    assert api_for(scientist).get(url).json()["candidate"]["reliability"] == pytest.approx(rubin_alert.drb)


def test_the_alert_page_shows_rubin_s_score_to_scientists_as_the_model_s_opinion(
    client_for, volunteer, scientist, rubin_alert
):
    url = f"/alerts/{rubin_alert.candid}/"
    label = "Rubin&#x27;s real/bogus model score (0–1): a model&#x27;s opinion"
    assert label in client_for(scientist).get(url).content.decode()
    page = client_for(volunteer).get(url).content.decode()
    assert label not in page
    assert "Show variance and PSF planes" in page
