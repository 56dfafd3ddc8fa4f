"""The alert page as served (no browser): guarded, and shows what a volunteer needs."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_anonymous_visitors_are_sent_to_log_in(client, demo_alerts):
    response = client.get(f"/alerts/{demo_alerts[0].candid}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_page_shows_the_triptych_light_curve_and_fields(client_for, volunteer, demo_alerts):
    alert = demo_alerts[0]
    response = client_for(volunteer).get(f"/alerts/{alert.candid}/")
    html = response.content.decode()
    assert response.status_code == 200
    for kind in ("science", "template", "difference"):
        assert f"/api/alerts/{alert.candid}/cutouts/{kind}.png" in html
    assert "Science − Reference = Difference" in html
    assert "ZScale, north up, east left" in html
    assert f"/api/alerts/{alert.candid}/lightcurve/plot/" in html
    assert "/static/bokeh/bokeh.min.js" in html
    assert 'id="model-panel"' in html
    assert alert.object_id in html
    # No inline script: the CSP forbids it.
    assert "<script>" not in html


def test_an_unknown_alert_is_404(client_for, volunteer):
    assert client_for(volunteer).get("/alerts/1/").status_code == 404
