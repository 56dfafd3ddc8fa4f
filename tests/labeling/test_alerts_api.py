"""The alerts API: who may read it, what it returns, and how cutouts are cached."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from rest_framework.authtoken.models import Token

from labeling.models import Alert

pytestmark = pytest.mark.django_db


@pytest.fixture
def alert(demo_alerts) -> Alert:
    return next(a for a in demo_alerts if a.demo_truth == "real")


def endpoints(candid: int) -> list[str]:
    return [
        "/api/alerts/",
        f"/api/alerts/{candid}/",
        f"/api/alerts/{candid}/lightcurve/",
        f"/api/alerts/{candid}/lightcurve/plot/",
        f"/api/alerts/{candid}/cutouts/science.png",
    ]


def test_anonymous_requests_get_a_401_in_json(api_for, alert):
    for url in endpoints(alert.candid):
        response = api_for(None).get(url, HTTP_ACCEPT="image/png,*/*")
        assert response.status_code == 401, url
        assert response["Content-Type"].startswith("application/json")
        assert "credentials" in response.json()["detail"]


def test_a_volunteer_reads_every_endpoint(api_for, volunteer, alert):
    api = api_for(volunteer)
    for url in endpoints(alert.candid):
        assert api.get(url).status_code == 200, url


def test_token_authentication_works(client, volunteer, alert):
    token = Token.objects.create(user=volunteer)
    response = client.get(f"/api/alerts/{alert.candid}/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200
    assert response.json()["object_id"] == alert.object_id


def test_the_list_is_paginated_and_filtered_by_object_and_night(api_for, volunteer, demo_alerts, alert):
    api = api_for(volunteer)
    page = api.get("/api/alerts/").json()
    assert page["count"] == len(demo_alerts)
    by_object = api.get("/api/alerts/", {"object_id": alert.object_id}).json()
    assert {r["object_id"] for r in by_object["results"]} == {alert.object_id}
    by_night = api.get("/api/alerts/", {"night": alert.night.isoformat()}).json()
    assert by_night["count"] == sum(a.night == alert.night for a in demo_alerts)
    bad = api.get("/api/alerts/", {"night": "yesterday"})
    assert bad.status_code == 400
    assert bad.json()["field"] == "night"


def test_the_detail_has_fields_days_since_first_detection_and_galactic_latitude(api_for, volunteer, alert):
    data = api_for(volunteer).get(f"/api/alerts/{alert.candid}/").json()
    assert data["candid"] == alert.candid
    assert data["gal_b"] == pytest.approx(alert.gal_b)
    assert data["days_since_first_detection"] == pytest.approx(alert.jd - alert.jdstarthist)
    assert data["stamps"] == {"height": 63, "width": 63, "nan_fraction": alert.stamps.nan_fraction}
    assert "demo_truth" not in data


def test_machine_scores_are_for_scientists_not_volunteers(api_for, volunteer, scientist, alert):
    as_volunteer = api_for(volunteer).get(f"/api/alerts/{alert.candid}/").json()
    as_scientist = api_for(scientist).get(f"/api/alerts/{alert.candid}/").json()
    assert "rb" not in as_volunteer
    assert "drb" not in as_volunteer["candidate"]
    assert as_scientist["rb"] == pytest.approx(alert.rb)


def test_an_unknown_candid_is_404(api_for, volunteer):
    assert api_for(volunteer).get("/api/alerts/1/").status_code == 404
    assert api_for(volunteer).get("/api/alerts/1/cutouts/science.png").status_code == 404


def test_a_cutout_is_a_png_with_etag_and_cache_control(api_for, volunteer, alert):
    response = api_for(volunteer).get(f"/api/alerts/{alert.candid}/cutouts/difference.png", {"stretch": "asinh"})
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["ETag"].startswith('"')
    assert "max-age=" in response["Cache-Control"]
    image = Image.open(io.BytesIO(response.content))
    assert image.size == (63, 63)


def test_a_repeated_cutout_request_with_its_etag_gets_304(api_for, volunteer, alert):
    api = api_for(volunteer)
    url = f"/api/alerts/{alert.candid}/cutouts/science.png?stretch=log&size=252"
    first = api.get(url)
    again = api.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == first["ETag"]
    other_stretch = api.get(
        f"/api/alerts/{alert.candid}/cutouts/science.png?stretch=linear", HTTP_IF_NONE_MATCH=first["ETag"]
    )
    assert other_stretch.status_code == 200


def test_bad_cutout_parameters_are_clear_errors(api_for, volunteer, alert):
    api = api_for(volunteer)
    bad_stretch = api.get(f"/api/alerts/{alert.candid}/cutouts/science.png?stretch=sqrt")
    assert bad_stretch.status_code == 400
    assert bad_stretch.json()["field"] == "stretch"
    assert "unknown stretch 'sqrt'" in bad_stretch.json()["detail"]
    assert api.get(f"/api/alerts/{alert.candid}/cutouts/science.png?size=99999").status_code == 400
    unknown_kind = api.get(f"/api/alerts/{alert.candid}/cutouts/reference.png")
    assert unknown_kind.status_code == 404
    assert "expected one of science, template, difference" in unknown_kind.json()["detail"]


def test_the_light_curve_endpoints(api_for, volunteer, alert):
    api = api_for(volunteer)
    data = api.get(f"/api/alerts/{alert.candid}/lightcurve/").json()
    assert data["object_id"] == alert.object_id
    assert any(p["jd"] == pytest.approx(alert.jd) and p["is_detection"] for p in data["points"])
    plot = api.get(f"/api/alerts/{alert.candid}/lightcurve/plot/").json()
    assert {"target_id", "root_id", "doc"} <= set(plot)


def test_the_schema_documents_the_alert_endpoints_and_docs_are_served(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/alerts/{candid}/cutouts/{kind}.png" in paths
    cutout = paths["/api/alerts/{candid}/cutouts/{kind}.png"]["get"]
    assert "image/png" in cutout["responses"]["200"]["content"]
    assert "/api/alerts/{candid}/lightcurve/" in paths
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()


def test_the_schema_generates_without_warnings_and_every_operation_id_is_unique(tmp_path):
    # Two routes with one operationId make generated clients overwrite one method with the other; drf-spectacular
    # only warns, so the command is asked to fail on warnings.
    import json

    from django.core.management import call_command

    out = tmp_path / "schema.json"
    call_command("spectacular", "--fail-on-warn", "--format", "openapi-json", "--file", str(out))
    operations = [op["operationId"] for path in json.loads(out.read_text())["paths"].values() for op in path.values()]
    assert len(operations) == len(set(operations))
    assert "api_alerts_cutouts_plane_retrieve" in operations
