"""Explanations of Rubin alerts: computed by the Rubin real/bogus version (never the ZTF model) with its centre fit,
and cut back to the cutout's own size, 30x30 or 71x71, so the overlay lies over the stamp the page draws.

Uses the shared real Rubin alerts (../shared/data/lsst); skips when they are absent."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image

from classifiers.explanations import (
    GAP,
    PANEL_SCALE,
    ExplanationRefused,
    explain_alerts,
    explained_model,
    explainer_for,
    explaining_version,
    explanation_png,
)
from classifiers.models import Explanation
from classifiers.preprocessing import load_stamp_batch, preprocess
from classifiers.registry import recipe_of
from tests.classifiers.rubin_console_helpers import ingest_rubin_alerts, register_rubin_version


@pytest.fixture
def rubin_alerts(db):
    return ingest_rubin_alerts()


@pytest.fixture
def rubin_version(db):
    return register_rubin_version(seed=5, promote=True)


def of_size(alerts, size: int):
    found = [a for a in alerts if (a.stamps.height, a.stamps.width) == (size, size)]
    if not found:
        pytest.skip(f"no {size}x{size} Rubin alert in the shared data")
    return found[0]


def direct_map(version, alert, kind: str) -> np.ndarray:
    """The 63x63 map the network gives for this alert's input, computed here without the cache."""
    x = preprocess(load_stamp_batch([alert.pk]), recipe_of(version))
    return explainer_for(explained_model(version)).compute(kind, x)[0]


def normalised(amap: np.ndarray) -> np.ndarray:
    peak = np.abs(amap).max()
    return amap / peak if peak > 0 else amap


@pytest.mark.parametrize("kind", ["gradcam", "saliency"])
def test_a_30x30_rubin_alert_gets_maps_of_its_own_size_cut_from_the_centre_of_the_input(
    rubin_alerts, rubin_version, kind
):
    alert = of_size(rubin_alerts, 30)
    amap = explain_alerts([alert.pk], rubin_version, kind)[alert.pk]
    assert amap.shape[:2] == (30, 30)
    assert amap.shape == ((30, 30, 3) if kind == "saliency" else (30, 30))
    # The centre fit pads a 30x30 cutout with 16 pixels above and left: the map is the input's window there.
    full = direct_map(rubin_version, alert, kind)
    expected = normalised(full[16:46, 16:46])
    np.testing.assert_allclose(amap, expected, atol=2e-3)
    stored = Explanation.objects.get(alert=alert, version=rubin_version, kind=kind)
    assert stored.shape[:2] == [30, 30]


def test_a_71x71_rubin_alert_gets_a_71x71_map_zero_where_the_network_never_looked(rubin_alerts, rubin_version):
    alert = of_size(rubin_alerts, 71)
    gradcam = explain_alerts([alert.pk], rubin_version, "gradcam")[alert.pk]
    saliency = explain_alerts([alert.pk], rubin_version, "saliency")[alert.pk]
    assert gradcam.shape == (71, 71)
    assert saliency.shape == (71, 71, 3)
    # Cropped about the centre: rows and columns 4..66 were the input, the 4-pixel border was never seen.
    border = np.ones((71, 71), dtype=bool)
    border[4:67, 4:67] = False
    assert np.all(gradcam[border] == 0)
    assert np.all(saliency[border] == 0)
    np.testing.assert_allclose(
        saliency[4:67, 4:67], normalised(direct_map(rubin_version, alert, "saliency")), atol=2e-3
    )
    assert np.abs(saliency[4:67, 4:67]).max() == pytest.approx(1.0, abs=1e-3)


def test_a_rubin_alert_is_explained_by_the_active_rubin_version_never_the_ztf_one(
    rubin_alerts, rubin_version, braai_version
):
    alert = of_size(rubin_alerts, 30)
    assert explaining_version(alert) == rubin_version
    png = Image.open(BytesIO(explanation_png(alert, None, "gradcam")))
    side = 30 * PANEL_SCALE
    assert png.size == (3 * side + 2 * GAP, side)  # three panels at the stamp's own size
    assert Explanation.objects.filter(alert=alert, version=rubin_version).count() == 1
    assert not Explanation.objects.filter(version=braai_version).exists()
    with pytest.raises(ExplanationRefused, match="rubin_real_bogus"):
        explanation_png(alert, braai_version, "gradcam")
    assert not Explanation.objects.filter(version=braai_version).exists()


def test_without_an_active_rubin_version_a_rubin_alert_is_not_explained_at_all(rubin_alerts, braai_version):
    alert = rubin_alerts[0]
    with pytest.raises(ExplanationRefused) as refused:
        explaining_version(alert)
    assert refused.value.status == 404
    assert not Explanation.objects.exists()


def test_a_ztf_alert_is_still_explained_by_the_ztf_model_at_63x63(demo_alerts, braai_version, rubin_version):
    alert = demo_alerts[0]
    assert explaining_version(alert) == braai_version
    png = Image.open(BytesIO(explanation_png(alert, None, "gradcam")))
    assert png.size == (3 * 252 + 2 * GAP, 252)
    assert Explanation.objects.get(alert=alert).version == braai_version
    assert explain_alerts([alert.pk], braai_version, "saliency")[alert.pk].shape == (63, 63, 3)
    with pytest.raises(ExplanationRefused):
        explaining_version(alert, rubin_version)


def test_the_explanation_api_serves_a_rubin_overlay_at_the_stamp_s_size_and_refuses_the_ztf_model(
    client, mllead, rubin_alerts, rubin_version, braai_version
):
    alert = of_size(rubin_alerts, 71)
    client.force_login(mllead)
    url = reverse("api-alert-explanation", kwargs={"candid": alert.candid, "kind": "saliency"})
    response = client.get(url, {"version": rubin_version.pk})
    assert response.status_code == 200, response.content[:300]
    image = Image.open(BytesIO(response.content))
    assert image.size == (3 * 71 * PANEL_SCALE + 2 * GAP, 71 * PANEL_SCALE)
    # No version named: the active Rubin version explains it, never the active ZTF one.
    default = client.get(url)
    assert default.status_code == 200, default.content[:300]
    assert Image.open(BytesIO(default.content)).size == image.size
    assert set(Explanation.objects.values_list("version_id", flat=True)) == {rubin_version.pk}
    refused = client.get(url, {"version": braai_version.pk})
    assert refused.status_code == 400
    assert "rubin_real_bogus" in refused.json()["detail"]
