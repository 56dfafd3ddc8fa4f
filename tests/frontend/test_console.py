"""Browser test of the ML lead console: the demo ML lead opens the versions, compares two, rolls back with a
reason, and opens the drift page and its flagged night. Saves screenshots under test-artifacts/screenshots/
(console_*.png)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from tests.conftest import PASSWORD, settled_campaign
from tests.frontend.helpers import SCREENSHOTS, log_in_when_asked

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def console_world(demo_alerts, scientist):
    """Three braai versions sharing one untrained VGG6 file (Grad-CAM needs a real network, not a good one),
    scores by v2 and v3 from the demo truth plus noise, retired subjects whose consensus is the truth, and
    drift over the demo nights plus five more: three for the reference, one unshifted, one with broader seeing
    and a degraded template."""
    from classifiers.architectures import braai_vgg6
    from classifiers.drift.config import DriftConfig
    from classifiers.drift.recompute import recompute_drift
    from classifiers.models import RegistryEvent
    from classifiers.registry import keras_bytes, sha256_of
    from tests.classifiers.console_helpers import add_scores, clone_night, make_version

    weights = keras_bytes(braai_vgg6())
    files = {"weights": weights, "sha256": sha256_of(weights), "size_bytes": len(weights)}
    v1 = make_version(version=1, status="retired")
    v2 = make_version(
        version=2,
        status="active",
        parent=v1,
        metrics={"accuracy": 0.88, "precision": 0.9, "recall": 0.86, "fpr": 0.1, "fnr": 0.14, "roc_auc": 0.93},
    )
    v3 = make_version(
        version=3,
        parent=v2,
        metrics={"accuracy": 0.94, "precision": 0.95, "recall": 0.93, "fpr": 0.05, "fnr": 0.07, "roc_auc": 0.98},
    )
    for v in (v1, v2, v3):
        type(v).objects.filter(pk=v.pk).update(**files)
    RegistryEvent.objects.create(task="real_bogus", action="promote", version=v1, reason="starter model")
    RegistryEvent.objects.create(
        task="real_bogus", action="promote", version=v2, previous_active=v1, reason="retrained on 400 new labels"
    )
    rng = np.random.default_rng(8)
    days = [dt.date(2026, 7, d) for d in (1, 2, 3, 4, 5)]
    alerts = list(demo_alerts)
    for day in days[:4]:
        alerts += clone_night(demo_alerts, day, rng)
    alerts += clone_night(demo_alerts, days[4], rng, fwhm_factor=1.8, template_noise=4.0)
    y = np.array([a.demo_truth == "real" for a in alerts], dtype=float)
    add_scores(v2, alerts, np.clip(0.5 + 0.3 * (2 * y - 1) + rng.normal(0, 0.22, y.size), 0, 1))
    add_scores(v3, alerts, np.clip(0.5 + 0.4 * (2 * y - 1) + rng.normal(0, 0.12, y.size), 0, 1))
    campaign, subjects = settled_campaign(
        owner=scientist, alerts=demo_alerts, name="Demo real/bogus review", slug="demo-review"
    )
    # Five volunteers, four of whom agree with the truth on each subject.
    from django.contrib.auth import get_user_model

    from labeling.models import Vote

    crowd = [get_user_model().objects.create(username=f"crowd{i}") for i in range(5)]
    Vote.objects.bulk_create(
        [
            Vote(
                subject=s,
                campaign=campaign,
                volunteer=v,
                answer=s.majority_label if i else ("bogus" if s.majority_label == "real" else "real"),
            )
            for s in subjects
            for i, v in enumerate(crowd)
        ]
    )
    first = min(a.night for a in demo_alerts)
    recompute_drift(config=DriftConfig(reference_start=first, reference_end=days[2]))
    return {"v1": v1, "v2": v2, "v3": v3, "flagged": days[4]}


def is_compare(url: str, a: int, b: int) -> bool:
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    return parts.path == "/ml/compare/" and query.get("a") == [str(a)] and query.get("b") == [str(b)]


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")  # sticky table headers sit where they belong
    page.screenshot(path=str(SCREENSHOTS / f"console_{name}.png"), full_page=True)


def wait_for_plots(page, selector: str, count: int) -> None:
    page.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel + '[data-rendered=true]').length >= n",
        arg=[selector, count],
        timeout=30_000,
    )


def wait_for_images(page, selector: str) -> None:
    """Every image loaded (a broken one fails the test here, naming itself, instead of timing out). The
    images are lazy: scrolling through them makes the browser fetch them."""
    for image in page.locator(selector).all():
        image.scroll_into_view_if_needed()
    page.wait_for_function(
        "sel => [...document.querySelectorAll(sel)].every(img => img.complete)", arg=selector, timeout=120_000
    )
    broken = page.eval_on_selector_all(selector, "imgs => imgs.filter(i => i.naturalWidth === 0).map(i => i.src)")
    assert broken == [], (broken, page.js_errors)


def test_an_ml_lead_compares_rolls_back_and_finds_the_drifted_night(live_server, browser_page, mllead, console_world):
    from classifiers.models import ModelVersion, RegistryEvent

    page = browser_page
    log_in_when_asked(page, live_server.url, "/ml/", mllead.username, PASSWORD)
    assert page.get_by_role("heading", name="ML console").is_visible()
    assert page.locator("text=Latest drift flags").is_visible()
    shot(page, "overview")

    page.click("nav.console-nav >> text=Slices")
    page.wait_for_url("**/ml/slices/")
    shot(page, "slices")
    page.click("nav.console-nav >> text=Disagreements")
    page.wait_for_url("**/ml/disagreements/")
    wait_for_images(page, ".cand img")
    shot(page, "disagreements")

    page.click("nav.console-nav >> text=Versions & compare")
    page.wait_for_url("**/ml/versions/")
    v2, v3 = console_world["v2"], console_world["v3"]
    page.check(f"input[name=a][value='{v2.pk}']")
    page.check(f"input[name=b][value='{v3.pk}']")
    shot(page, "versions")
    page.click("form.compare-form[data-task=real_bogus] button[type=submit]")
    page.wait_for_url(lambda url: is_compare(url, v2.pk, v3.pk), wait_until="domcontentloaded")
    wait_for_plots(page, "#plot-roc, #plot-pr", 2)
    wait_for_images(page, "#changed img")
    assert "labelled candidates" in page.locator("#eval-note").inner_text()
    assert page.locator("#deltas tbody tr").count() == 6
    assert page.locator("#deltas").get_by_text("B better").count() >= 1
    shot(page, "compare")

    rollback = page.locator("form.rollback-form")
    rollback.locator("textarea[name=reason]").fill("v2 scores faint real candidates too low; back to v1 while we look")
    rollback.locator("button[type=submit]").click()
    page.wait_for_url(lambda url: is_compare(url, v2.pk, v3.pk), wait_until="domcontentloaded")
    assert page.locator(".messages").get_by_text("Rolled back").is_visible()
    assert page.locator("#audit-log").get_by_text("v2 scores faint real candidates too low").is_visible()
    assert ModelVersion.objects.get(status="active").pk == console_world["v1"].pk
    event = RegistryEvent.objects.get(action="rollback")
    assert event.actor == mllead
    shot(page, "after_rollback")

    page.click("nav.console-nav >> text=Drift")
    page.wait_for_url("**/ml/drift/")
    n_plots = page.locator("#drift-plots .plot").count()
    assert n_plots >= 8
    wait_for_plots(page, "#drift-plots .plot", n_plots)
    assert page.locator("#flag-summary").inner_text().startswith("1 night flagged")
    shot(page, "drift")
    flagged = console_world["flagged"].isoformat()
    page.click(f"#drift-nights a[href^='/ml/drift/{flagged}/']")
    page.wait_for_url(f"**/ml/drift/{flagged}/**")
    reasons = page.locator("#flag-reasons").inner_text()
    assert "Seeing FWHM" in reasons
    assert "Reference stamp robust spread" in reasons
    shot(page, "drift_night")

    assert page.js_errors == []
