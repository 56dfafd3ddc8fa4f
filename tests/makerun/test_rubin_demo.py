"""The Rubin demo under ``make run`` conditions (see ``conftest.py``: SQLite, no Redis, daphne and one db_worker):
``setup_demo`` has ingested the real Rubin alerts of ../shared/data/lsst, made d6_m7 (without fine-tuning) Rubin's
active real/bogus version with a score for each, and opened the Rubin campaign; a volunteer is served Rubin
alerts there and their vote is stored for the alert shown.

Shares the site of ``test_first_hour.py`` (one ``setup_demo`` for the directory). Screenshot (looked at):
var/screens/makerun_rubin_classify.png.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.frontend.helpers import log_in, wait_for_images, wait_for_new_candidate
from tests.labeling.rubin_helpers import RUBIN_ALERTS, rubin_dir

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RUBIN_SLUG = "demo-rubin-real-bogus"
SCREENS = Path(__file__).resolve().parents[2] / "var" / "screens"


def wait_until(page, condition, timeout: float):
    """Poll ``condition`` while the browser runs (Playwright's sync API only moves when called); its last value."""
    end = time.monotonic() + timeout
    value = condition()
    while not value and time.monotonic() < end:
        page.wait_for_timeout(25)
        value = condition()
    return value


@pytest.fixture(scope="module")
def rubin_data():
    """Skips, saying why, before the site is started when ../shared/data/lsst is not there."""
    return rubin_dir()


def survey_of(make_run, candid: str) -> str:
    rows = make_run.query("SELECT survey FROM labeling_alert WHERE candid = ?", (int(candid),))
    return rows[0][0] if rows else ""


def test_the_rubin_campaign_serves_rubin_alerts_scored_by_rubins_own_version(rubin_data, make_run, chromium):
    rows = make_run.query("SELECT id, state, model_task FROM labeling_campaign WHERE slug = ?", (RUBIN_SLUG,))
    assert rows, f"setup_demo made no campaign {RUBIN_SLUG!r}"
    campaign, state, model_task = rows[0]
    assert (state, model_task) == ("live", "rubin_real_bogus")
    subjects = make_run.query(
        "SELECT a.survey, count(*) FROM labeling_subject s JOIN labeling_alert a ON a.id = s.alert_id "
        "WHERE s.campaign_id = ? GROUP BY a.survey",
        (campaign,),
    )
    assert subjects == [("rubin", RUBIN_ALERTS)]
    scored = make_run.query(
        "SELECT count(*) FROM classifiers_score sc JOIN classifiers_modelversion v ON v.id = sc.version_id "
        "JOIN labeling_alert a ON a.id = sc.alert_id "
        "WHERE v.task = 'rubin_real_bogus' AND v.status = 'active' AND a.survey = 'rubin'"
    )
    assert scored == [(RUBIN_ALERTS,)]

    page = chromium.new_context(viewport={"width": 1366, "height": 800}).new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    log_in(page, make_run.url, "volunteer", f"/classify/{RUBIN_SLUG}/")
    tutorial = page.locator("#tutorial")
    if wait_until(page, tutorial.is_visible, 3):
        for _ in range(int(page.locator("#tutorial-total").inner_text())):
            page.keyboard.press("Enter")
        tutorial.wait_for(state="hidden")

    shown = []
    current = wait_for_new_candidate(page, "", timeout_ms=15_000)
    for key in ("r", "b"):
        assert survey_of(make_run, current) == "rubin", current
        shown.append(current)
        if len(shown) == 1:
            wait_for_images(page, "#triptych img.stamp", at_least=3, timeout=15_000)
            assert page.locator("#triptych img.stamp").count() == 3
            page.locator("#light-curve canvas").first.wait_for(state="attached", timeout=15_000)
            SCREENS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENS / "makerun_rubin_classify.png"), full_page=True)
        page.keyboard.press(key)
        page.keyboard.press("Enter")
        current = wait_for_new_candidate(page, current, timeout_ms=15_000)
    assert survey_of(make_run, current) == "rubin"

    def stored():
        return make_run.query(
            "SELECT a.candid, v.answer FROM labeling_vote v JOIN labeling_subject s ON s.id = v.subject_id "
            "JOIN labeling_alert a ON a.id = s.alert_id WHERE v.campaign_id = ? ORDER BY v.id",
            (campaign,),
        )

    assert wait_until(page, lambda: len(stored()) == 2, 15), f"{stored()}\n{make_run.logs()}"
    assert stored() == [(int(shown[0]), "real"), (int(shown[1]), "bogus")]
    assert problems == []
    make_run.alive()
