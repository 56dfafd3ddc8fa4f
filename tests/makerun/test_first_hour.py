"""A real user's first hour, on Blink served exactly as ``make run`` serves it (see ``conftest.py``): SQLite, no
Redis, daphne and one db_worker in processes of their own.

1. One person trying Blink alone casts 100 votes with the keyboard on the expert demo campaign, as the README's
   first steps say (signed in as ``mllead``: every account is a volunteer, and a newcomer's vote weighs half, so
   the demo ``volunteer`` alone retires nothing even where one vote retires a subject), as fast as the page takes
   them: no vote is refused, none waits in the outbox, and the campaign's live counter equals the stored count
   after each vote. The votes become the consensus labels the loop retrains on.
2. The demo ML lead retrains on that campaign from the loop page. With no shared channel layer the page must not
   claim "live": it follows the run's stored events, and at least three epoch updates reach the page while the
   worker trains (counted on the page itself, not in the database).
3. The compare page shows figures for the new version beside the one it replaced.

Screenshots (looked at): var/screens/makerun_classify.png, makerun_loop_training.png, makerun_loop_done.png,
makerun_compare.png. The module takes a few minutes: ``setup_demo`` (a starter model is trained) about a
minute, then the votes and one short training.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.frontend.helpers import log_in, wait_for_new_candidate

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SCREENS = ROOT / "var" / "screens"
VOTES = 100
# Who classifies: the README's "trying the active-learning loop alone" path.
VOTER = "mllead"
# The loop page's fine-tuning epochs: early stopping (patience 5) may end a run after 6.
EPOCHS = 8
EXPERT_SLUG = "demo-expert-real-bogus"
COUNTER_WAIT_S = 10.0


def shot(page, name: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True)


def wait_until(page, condition, timeout: float):
    """Poll ``condition`` while the browser runs (Playwright's sync API only moves when called); its last value."""
    end = time.monotonic() + timeout
    value = condition()
    while not value and time.monotonic() < end:
        page.wait_for_timeout(25)
        value = condition()
    return value


def campaign_id(make_run) -> int:
    rows = make_run.query("SELECT id FROM labeling_campaign WHERE slug = ?", (EXPERT_SLUG,))
    assert rows, f"setup_demo made no campaign {EXPERT_SLUG!r} (the one one person's votes can label)"
    return rows[0][0]


def stored_votes(make_run, campaign: int) -> int:
    return make_run.query("SELECT count(*) FROM labeling_vote WHERE campaign_id = ?", (campaign,))[0][0]


def truth_of(make_run, candid: str) -> str:
    rows = make_run.query("SELECT demo_truth FROM labeling_alert WHERE candid = ?", (int(candid),))
    return rows[0][0] if rows else ""


def live_count(page) -> int:
    return int(re.sub(r"\D", "", page.locator("#live-count").inner_text()) or 0)


def test_make_run_recipe_is_the_one_these_tests_start():
    """The server of this module is started as the Makefile's run target starts Blink: if the recipe changes,
    the fixture must follow."""
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^run:.*?\n((?:\t.*\n|\s*\n)+)", makefile, re.M)
    assert recipe, "the Makefile has no run target"
    lines = recipe.group(1)
    for expected in (
        "manage.py migrate --noinput",
        "manage.py createcachetable",
        "manage.py setup_demo --alerts-dir",
        "manage.py db_worker --queue-name '*' --no-reload",
        "daphne -b $(HOST) -p $(PORT) config.asgi:application",
    ):
        assert expected in lines, f"make run no longer runs {expected!r}: update tests/makerun/conftest.py"
    assert "REDIS_URL" not in lines
    # DEBUG off with a generated secret key, unless the person sets them.
    assert 'DJANGO_DEBUG="$${DJANGO_DEBUG:-0}"' in makefile


def test_100_votes_by_keyboard_are_all_stored_and_counted_live(make_run, chromium):
    campaign = campaign_id(make_run)
    context = chromium.new_context(viewport={"width": 1366, "height": 800})
    page = context.new_page()
    refused: list[str] = []
    answered: list[int] = []
    page.on("pageerror", lambda exc: refused.append(f"page error: {exc}"))

    def on_response(r):
        if r.request.method == "POST" and "/votes" in r.url:
            answered.append(r.status)
            if not 200 <= r.status < 300:
                refused.append(f"{r.status} {r.url}: {r.text()[:300]}")

    page.on("response", on_response)
    log_in(page, make_run.url, VOTER, f"/classify/{EXPERT_SLUG}/")
    tutorial = page.locator("#tutorial")
    if wait_until(page, tutorial.is_visible, 3):
        for _ in range(int(page.locator("#tutorial-total").inner_text())):
            page.keyboard.press("Enter")
        tutorial.wait_for(state="hidden")

    current = wait_for_new_candidate(page, "", timeout_ms=15_000)
    lags = []
    started = time.monotonic()
    for i in range(1, VOTES + 1):
        key = "r" if truth_of(make_run, current) == "real" else "b"
        page.keyboard.press(key)
        page.keyboard.press("Enter")
        if i == 5:
            shot(page, "makerun_classify")
        if i < VOTES:
            current = wait_for_new_candidate(page, current, timeout_ms=15_000)
        # The campaign's live counter catches up with what is stored (no vote lost, none counted twice).
        t0 = time.monotonic()
        agreed = wait_until(
            page, lambda n=i: stored_votes(make_run, campaign) == n and live_count(page) == n, COUNTER_WAIT_S
        )
        lags.append(time.monotonic() - t0)
        assert agreed, (
            f"after vote {i} the page's live counter says {live_count(page)} and the database holds "
            f"{stored_votes(make_run, campaign)} (refused: {refused})\n{make_run.logs()}"
        )
        assert refused == [], refused
        assert page.locator("#outbox-status").inner_text() == "", page.locator("#outbox-status").inner_text()
    elapsed = time.monotonic() - started
    print(f"{VOTES} votes in {elapsed:.1f} s; counter caught up within {max(lags):.2f} s at worst")
    assert len(answered) == VOTES, answered
    assert all(200 <= s < 300 for s in answered), answered
    assert stored_votes(make_run, campaign) == VOTES
    context.close()


def test_the_ml_lead_watches_epochs_arrive_while_the_worker_trains(make_run, chromium):
    campaign = campaign_id(make_run)
    retired = make_run.query("SELECT count(*) FROM labeling_subject WHERE campaign_id = ? AND retired", (campaign,))[0][
        0
    ]
    assert retired >= 20, f"only {retired} labelled subjects in {EXPERT_SLUG}: the votes' test must run first"
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, make_run.url, "mllead", "/ml/loop/")

    # No shared channel layer under make run: the page says it follows the stored events and never "live".
    badge = page.locator("#live-state")
    assert badge.get_attribute("data-state") == "following"
    assert "live" not in badge.inner_text().lower()
    assert "every second" in badge.inner_text()

    # Every text the epoch line takes, with when the page took it.
    page.evaluate(
        """() => { window.epochLines = []; const line = document.querySelector('#run-epoch');
        new MutationObserver(() => { const t = line.textContent, seen = window.epochLines;
          if (t && (!seen.length || seen[seen.length - 1].text !== t)) seen.push({text: t, at: performance.now(),
            status: document.querySelector('#run-detail').dataset.status}); })
          .observe(line, {childList: true, characterData: true, subtree: true}); }"""
    )
    page.select_option("#retrain-campaign", EXPERT_SLUG)
    page.fill("#retrain-epochs", str(EPOCHS))
    page.click("#retrain-button")
    page.wait_for_selector("#retrain-message.ok", timeout=30_000)
    run_id = int(re.search(r"#(\d+)", page.inner_text("#retrain-message")).group(1))

    page.wait_for_function(
        "() => /^Epoch [0-9]+ of /.test(document.querySelector('#run-epoch').textContent)", timeout=300_000
    )
    shot(page, "makerun_loop_training")
    page.wait_for_function(
        "() => document.querySelectorAll('#run-steps li.done').length >= 4", timeout=300_000, polling=200
    )
    shot(page, "makerun_loop_done")
    lines = page.evaluate("window.epochLines")
    epochs = [x for x in lines if re.match(r"Epoch \d+ of \d+", x["text"])]
    status, error = make_run.query("SELECT status, error FROM classifiers_trainingrun WHERE id = ?", (run_id,))[0]
    assert status == "succeeded", f"run #{run_id} {status}: {error}\n{make_run.logs()}"
    assert len(epochs) >= 3, f"the page showed {len(epochs)} epoch update(s) while training: {lines}"
    gaps = [round(b["at"] - a["at"]) for a, b in zip(epochs, epochs[1:], strict=False)]
    print(f"the page showed {len(epochs)} epoch updates, {gaps} ms apart")
    assert all(x["status"] == "running" for x in epochs[:3]), epochs
    # They arrived one after another as the worker stored them, not all at the end.
    numbers = [int(re.match(r"Epoch (\d+)", x["text"]).group(1)) for x in epochs]
    assert numbers == sorted(numbers), numbers
    assert len(set(numbers)) == len(numbers), numbers
    assert "live" not in badge.inner_text().lower()
    assert errors == [], errors
    context.close()


def test_the_compare_page_shows_figures_for_the_new_version(make_run, chromium):
    rows = make_run.query(
        "SELECT r.id, r.version_id, r.progress FROM classifiers_trainingrun r WHERE r.status = 'succeeded' "
        "AND r.version_id IS NOT NULL ORDER BY r.id DESC LIMIT 1"
    )
    assert rows, "no training run succeeded: the ML lead's test must run first"
    _, new_pk, _ = rows[0]
    new_version, task = make_run.query("SELECT version, task FROM classifiers_modelversion WHERE id = ?", (new_pk,))[0]
    # The version it was weighed against: the one active before it (the run's evaluation names it).
    old_pk = make_run.query(
        "SELECT id FROM classifiers_modelversion WHERE task = ? AND id <> ? AND status IN ('active', 'retired') "
        "ORDER BY (status = 'active') DESC, created_at DESC LIMIT 1",
        (task, new_pk),
    )[0][0]
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, make_run.url, "mllead", "/ml/loop/")
    started = time.monotonic()
    page.goto(f"{make_run.url}/ml/compare/?a={old_pk}&b={new_pk}")
    assert page.get_by_role("heading", name=re.compile(rf"Compare .* with {task} v{new_version} \(B\)")).is_visible()
    # The figures: both versions' ROC curves drawn, and a B column of numbers in the metric differences.
    page.wait_for_selector("#plot-roc canvas, #plot-roc .bk-Canvas, #plot-roc div.bk", timeout=30_000)
    cells = page.locator("#deltas tbody tr td:nth-child(3)").all_inner_texts()
    assert cells, "no metric differences on the compare page"
    assert all(re.search(r"\d", c) for c in cells), cells
    print(f"compare page with figures in {time.monotonic() - started:.1f} s")
    page.wait_for_timeout(500)
    shot(page, "makerun_compare")
    assert errors == [], errors
    context.close()
