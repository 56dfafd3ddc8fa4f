"""Browser test: the demo scientist builds a Rubin-only campaign on Rubin's reliability score, watches the live
preview count each survey, saves it and takes it live; its subjects are exactly the Rubin alerts in that range.
Screenshots go to test-artifacts/screenshots/rubin_campaign_*.png."""

from __future__ import annotations

import re

import pytest

from tests.frontend.helpers import DEMO_PASSWORD, SCREENSHOTS, log_in, record_errors, wait_for_images
from tests.labeling.rubin_helpers import RUBIN_ALERTS, rubin_dir

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def wait_for_count(page, n: int) -> None:
    page.wait_for_function("n => document.getElementById('preview-count').textContent === String(n)", arg=n)


def wait_for_surveys(page, text: str) -> None:
    page.wait_for_function(
        "t => document.getElementById('preview-surveys').textContent === t", arg=f"By survey: {text}"
    )


def test_a_scientist_builds_a_rubin_campaign_on_reliability(live_server, browser, demo_alerts):
    from fixtures.demo_users import create_demo_users
    from labeling.ingest import ingest_paths
    from labeling.models import Alert, Campaign

    report = ingest_paths([rubin_dir()], workers=0)
    assert (report.new, report.rejected) == (RUBIN_ALERTS, 0), report.errors
    n_ztf = len(demo_alerts)
    # The campaign's alerts, counted from the stored columns (Rubin's reliability is stored in drb).
    in_range = set(Alert.objects.filter(survey="rubin", drb__gt=0.2, drb__lt=0.6).values_list("candid", flat=True))
    assert 0 < len(in_range) < RUBIN_ALERTS
    # ZTF alerts with a drb in the same range exist: the reliability filter must leave them out.
    assert Alert.objects.filter(survey="ztf", drb__gt=0.2, drb__lt=0.6).exists()

    create_demo_users(DEMO_PASSWORD)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    record_errors(page, errors, from_status=500)
    log_in(page, live_server.url, "scientist", "/campaigns/manage/new/")

    # Before any filter: every alert, and where they come from.
    wait_for_count(page, n_ztf + RUBIN_ALERTS)
    wait_for_surveys(page, f"{n_ztf} ZTF, {RUBIN_ALERTS} Rubin")
    assert page.locator("#rubin-fields").is_visible()
    wait_for_images(page, "#preview-grid img", at_least=24, timeout=20_000)
    page.locator("#preview").screenshot(path=str(SCREENSHOTS / "rubin_campaign_builder_both_surveys.png"))

    # "ZTF only" hides Rubin's own boxes; "Rubin only" brings them back.
    page.select_option("#f-survey", "ztf")
    wait_for_surveys(page, f"{n_ztf} ZTF, 0 Rubin")
    assert page.locator("#rubin-fields").is_hidden()
    page.select_option("#f-survey", "rubin")
    wait_for_surveys(page, f"0 ZTF, {RUBIN_ALERTS} Rubin")
    assert page.locator("#rubin-fields").is_visible()

    page.fill("#f-name", "Rubin mid reliability")
    page.fill('[data-filter="reliability"][data-op="gt"]', "0.2")
    page.fill('[data-filter="reliability"][data-op="lt"]', "0.6")
    wait_for_count(page, len(in_range))
    wait_for_surveys(page, f"0 ZTF, {len(in_range)} Rubin")
    assert page.locator("#preview-summary").text_content() == "Rubin alerts only, 0.2 < reliability < 0.6"
    wait_for_images(page, "#preview-grid img", at_least=min(len(in_range), 24), timeout=20_000)
    shown = page.locator("#preview-grid .preview-item")
    assert shown.count() == min(len(in_range), 24)
    assert {int(c) for c in shown.evaluate_all("els => els.map(e => e.dataset.candid)")} <= in_range
    assert set(shown.evaluate_all("els => els.map(e => e.dataset.survey)")) == {"rubin"}
    # Every stamp fills the same square cell, whatever the size of its cutout.
    sizes = shown.locator("img").evaluate_all("els => els.map(e => [e.clientWidth, e.clientHeight])")
    assert len({tuple(s) for s in sizes}) == 1
    assert sizes[0][0] == sizes[0][1] > 40

    # The pixel flags: one box per flag of the shipped schemas, folded until opened.
    page.click("#pixel-flags summary")
    assert page.locator('#pixel-flags select[data-filter="pixelFlags_cr"]').is_visible()
    page.screenshot(path=str(SCREENSHOTS / "rubin_campaign_builder_preview.png"), full_page=True)
    page.click("#pixel-flags summary")

    page.click("#save-campaign")
    page.wait_for_url(re.compile(r".*/campaigns/manage/rubin-mid-reliability/edit/(\?created=1)?$"))
    campaign = Campaign.objects.get(slug="rubin-mid-reliability")
    assert campaign.selection == {"survey": "rubin", "reliability": {"gt": 0.2, "lt": 0.6}}
    assert campaign.model_task == "rubin_real_bogus"

    # The saved draft's page shows the same filter and the same per-survey count.
    wait_for_count(page, len(in_range))
    wait_for_surveys(page, f"0 ZTF, {len(in_range)} Rubin")
    assert page.input_value("#f-survey") == "rubin"
    assert page.input_value('[data-filter="reliability"][data-op="gt"]') == "0.2"

    page.click("#go-live")
    page.wait_for_function("() => document.getElementById('state-badge').textContent === 'Live'")
    page.locator("#state-status").filter(has_text=f"Live with {len(in_range)} subjects").wait_for()
    page.screenshot(path=str(SCREENSHOTS / "rubin_campaign_builder_live.png"), full_page=True)

    campaign.refresh_from_db()
    assert campaign.state == "live"
    assert set(campaign.subjects.values_list("alert__candid", flat=True)) == in_range
    assert errors == []
