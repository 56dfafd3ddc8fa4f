"""Browser test of the ML console for Rubin: the ML lead opens the Rubin task's versions, compares two Rubin versions
on Rubin alerts against Rubin's reliability (with their Grad-CAM at the stamps' own size), and opens Rubin drift.
Saves screenshots under test-artifacts/screenshots/ (console_rubin_*.png).

Uses the shared real Rubin alerts (../shared/data/lsst); skips when they are absent."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import PASSWORD
from tests.frontend.helpers import SCREENSHOTS, log_in_when_asked
from tests.frontend.test_console import is_compare, wait_for_images, wait_for_plots

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
RUBIN = "rubin_real_bogus"


@pytest.fixture
def rubin_world(demo_alerts):
    """ZTF: one active braai version scoring the demo alerts. Rubin: the shared alerts, v1 (guesses) and v2 (active,
    follows Rubin's reliability), both one untrained VGG6 with the centre fit (Grad-CAM needs a real network), and
    drift recomputed for both tasks."""
    from classifiers.architectures import braai_vgg6
    from classifiers.drift.config import DriftConfig
    from classifiers.drift.recompute import recompute_drift
    from classifiers.models import ModelVersion
    from classifiers.registry import keras_bytes, sha256_of
    from tests.classifiers.console_helpers import add_scores, make_version
    from tests.classifiers.rubin_console_helpers import (
        RUBIN_RECIPE,
        ingest_rubin_alerts,
        reliability_of,
        score_by_hand,
    )

    rubin_alerts = ingest_rubin_alerts()
    weights = keras_bytes(braai_vgg6())
    files = {"weights": weights, "sha256": sha256_of(weights), "size_bytes": len(weights)}
    rng = np.random.default_rng(3)
    ztf = make_version(version=1, status="active")
    add_scores(ztf, demo_alerts, rng.uniform(0, 1, len(demo_alerts)))
    hp = {"input_recipe": RUBIN_RECIPE}
    v1 = make_version(task=RUBIN, version=1, status="retired", architecture="braai_vgg6", hyperparameters=hp)
    v2 = make_version(task=RUBIN, version=2, status="active", architecture="braai_vgg6", hyperparameters=hp, parent=v1)
    ModelVersion.objects.filter(pk__in=[ztf.pk, v1.pk, v2.pk]).update(**files)
    reliability = reliability_of(rubin_alerts)
    score_by_hand(v1, rubin_alerts, rng.uniform(0, 1, len(rubin_alerts)))
    score_by_hand(v2, rubin_alerts, np.clip(reliability + rng.normal(0, 0.08, reliability.size), 0, 1))
    recompute_drift(config=DriftConfig(reference_nights=1))
    return {"ztf": ztf, "v1": v1, "v2": v2, "rubin_alerts": rubin_alerts}


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOTS / f"console_rubin_{name}.png"), full_page=True)


def test_an_ml_lead_compares_rubin_versions_and_reads_rubin_drift(live_server, browser_page, mllead, rubin_world):
    page = browser_page
    v1, v2 = rubin_world["v1"], rubin_world["v2"]
    log_in_when_asked(page, live_server.url, "/ml/versions/", mllead.username, PASSWORD)

    page.click(f"nav.task-tabs a[data-task={RUBIN}]")
    page.wait_for_url(f"**/ml/versions/?task={RUBIN}")
    assert page.locator(f"#versions-{RUBIN}").is_visible()
    assert page.locator("#versions-real_bogus").count() == 0
    rows = page.locator(f"form.compare-form[data-task={RUBIN}] tbody tr")
    assert rows.count() == 2
    assert (
        page.locator(f"#reliability-{RUBIN}")
        .inner_text()
        .startswith("Against Rubin reliability (a model's opinion, not human labels)")
    )
    assert page.locator(f"table.reliability-table[data-task={RUBIN}] tbody tr").count() == 2
    page.check(f"input[name=a][value='{v1.pk}']")
    page.check(f"input[name=b][value='{v2.pk}']")
    shot(page, "versions")

    page.click(f"form.compare-form[data-task={RUBIN}] button[type=submit]")
    page.wait_for_url(lambda url: is_compare(url, v1.pk, v2.pk), wait_until="domcontentloaded")
    wait_for_plots(page, "#plot-reliability-roc, #plot-reliability-pr", 2)
    heading = page.locator("#reliability h2").inner_text()
    assert heading == "Against Rubin reliability (a model's opinion, not human labels)"
    auc_b = float(page.locator("#reliability-table tbody tr:nth-child(2) td:nth-child(3)").inner_text())
    auc_a = float(page.locator("#reliability-table tbody tr:nth-child(2) td:nth-child(2)").inner_text())
    assert auc_b > auc_a
    wait_for_images(page, "#changed img")
    # Each Grad-CAM overlay is three panels at its stamp's own size (4x): a 30x30 stamp gives 3*120+12 by 120.
    sizes = page.eval_on_selector_all(
        "#changed img.gradcam", "imgs => imgs.map(i => [i.naturalWidth, i.naturalHeight])"
    )
    assert sizes
    assert all(w == 3 * h + 12 for w, h in sizes)
    assert {h // 4 for _, h in sizes} <= {a.stamps.height for a in rubin_world["rubin_alerts"]}
    shot(page, "compare")

    page.click("nav.console-nav >> text=Drift")
    page.wait_for_url("**/ml/drift/")
    page.click(f"nav.task-tabs a[data-task={RUBIN}]")
    page.wait_for_url(f"**/ml/drift/?task={RUBIN}")
    assert page.locator("#drift-snr").count() == 1
    assert page.locator("#drift-fwhm").count() == 0
    n_plots = page.locator("#drift-plots .plot").count()
    wait_for_plots(page, "#drift-plots .plot", n_plots)
    assert v2.label in page.locator(".howto").inner_text()
    shot(page, "drift")

    assert page.js_errors == []
