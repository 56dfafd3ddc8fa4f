"""Browser test of the active-learning loop as production runs it: daphne (ASGI, websockets) and a
``manage.py db_worker`` in their own processes over the test database, Redis between them when REDIS_URL is set.

The demo ML lead opens /ml/loop/, presses "Retrain now" and watches the run go through training, held-out
evaluation, promotion, rescoring and queue reordering on the page; then the demo volunteer's next subjects
(``/api/campaigns/<slug>/next/``) come in the new order.

Screenshots (looked at): test-artifacts/screenshots/loop_before.png, loop_training.png, loop_done.png.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

from tests.conftest import child_database_url
from tests.frontend.helpers import SCREENSHOTS, log_in

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env() -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=child_database_url(),
        DJANGO_SETTINGS_MODULE="config.settings",
        # The 60 demo alerts hold few objects: this salt gives the held-out set both classes (as in the
        # active-learning tests), and the margin lets the first retrained candidate be promoted.
        BLINK_HELDOUT_SALT="c",
        BLINK_PROMOTE_MARGIN="1.0",
        BLINK_TF_THREADS="1",
        BLINK_CHANNEL_PREFIX=f"blinktest{uuid.uuid4().hex[:8]}",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture
def servers(tmp_path):
    """daphne serving config.asgi and a db_worker, both on the test database; stopped at the end."""
    if connection.vendor != "postgresql":
        pytest.skip("the server and worker processes need the PostgreSQL test database")
    env = child_env()
    port = free_port()
    logs = {name: open(tmp_path / f"{name}.log", "wb") for name in ("daphne", "worker")}  # noqa: SIM115
    procs = {
        "daphne": subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
            cwd=ROOT, env=env, stdout=logs["daphne"], stderr=subprocess.STDOUT,
        ),
        "worker": subprocess.Popen(
            [sys.executable, "manage.py", "db_worker", "--queue-name", "*", "--no-reload", "--no-startup-delay",
             "--interval", "0.3"],
            cwd=ROOT, env=env, stdout=logs["worker"], stderr=subprocess.STDOUT,
        ),
    }  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert procs["daphne"].poll() is None, (tmp_path / "daphne.log").read_text()
        time.sleep(0.2)
    try:
        yield f"http://127.0.0.1:{port}", tmp_path
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in logs.values():
            log.close()
        _end_other_sessions()


def _end_other_sessions(timeout: float = 5.0) -> None:
    """The test database can only be dropped once the children (daphne, the worker) are gone: wait for their
    sessions to end, then end any left over. This process's own sessions are spared: Playwright's greenlets can
    hold a second one, which a later test reuses."""
    own_ports = ", ".join(str(port) for port in _own_local_ports()) or "0"
    query = (
        "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
        f"AND coalesce(client_port, -1) NOT IN ({own_ports})"
    )
    end = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < end:
            cursor.execute(f"SELECT count(*) {query}")
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.5)
        cursor.execute(f"SELECT pg_terminate_backend(pid) {query}")


def _own_local_ports() -> set[int]:
    """Local TCP ports of this process's sockets (what PostgreSQL sees as their ``client_port``)."""
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


@pytest.fixture
def loop_world(demo_alerts, tmp_path_factory):
    """Demo accounts and campaigns over the demo alerts (the 60 of the fixture and more, so the unretired pool is
    well over the classify queue's priority window); an active braai version whose stored scores ordered the
    queue; 40 subjects settled by consensus; exploration and gold shares off, so volunteers are served from the
    priority order alone."""
    from activelearning.queue import reorder_campaign
    from classifiers.models import Score
    from fixtures.demo_alerts import write_demo_alerts
    from fixtures.demo_campaigns import DEMO_REAL_BOGUS_SLUG, create_demo_campaigns
    from fixtures.demo_users import create_demo_users
    from labeling.ingest import ingest_paths
    from labeling.models import Campaign
    from labeling.queue import PRIORITY_WINDOW
    from tests.activelearning.helpers import settle_with_truth
    from tests.conftest import register_untrained_braai

    n_labelled = 40
    n_pool = 2 * PRIORITY_WINDOW + 20
    extra = n_labelled + n_pool - len(demo_alerts)
    if extra > 0:
        report = ingest_paths(write_demo_alerts(tmp_path_factory.mktemp("more"), n=extra, seed=8))
        assert report.rejected == 0, report.errors
    users = {u.username: u for u in create_demo_users()}
    create_demo_campaigns(owner=users["scientist"])
    Campaign.objects.exclude(slug=DEMO_REAL_BOGUS_SLUG).update(state=Campaign.State.FINISHED)
    campaign = Campaign.objects.get(slug=DEMO_REAL_BOGUS_SLUG)
    Campaign.objects.filter(pk=campaign.pk).update(exploration_share=0.0, gold_share=0.0)
    subjects = list(campaign.subjects.select_related("alert").order_by("pk"))
    settle_with_truth(subjects[n_pool:])
    v1 = register_untrained_braai(seed=0, promote=True)
    # v1's stored scores, as a model trained elsewhere would have left them (an untrained network scores every
    # alert near 0.5, and a retraining warm-started from it would keep nearly the same order).
    rng = random.Random(3)
    Score.objects.bulk_create([Score(alert_id=s.alert_id, version=v1, score=rng.random()) for s in subjects[:n_pool]])
    reorder_campaign(campaign)
    campaign.refresh_from_db()
    return users, campaign, v1, n_pool


def queue_order(campaign) -> list[int]:
    from labeling.models import Subject

    return list(
        Subject.objects.filter(campaign=campaign, retired=False)
        .order_by("-priority", "pk")
        .values_list("pk", flat=True)
    )


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_the_ml_lead_retrains_watches_it_finish_and_volunteers_get_the_new_order(servers, browser, loop_world):
    from activelearning.models import QueueOrdering
    from classifiers.models import ModelVersion, Score, TrainingRun
    from labeling.queue import PRIORITY_WINDOW

    base, logdir = servers
    users, campaign, v1, n_pool = loop_world
    before = queue_order(campaign)

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    log_in(page, base, "mllead")
    page.goto(f"{base}/ml/loop/")
    assert page.get_by_role("heading", name="Active-learning loop").is_visible()
    # Live over the websocket with Redis between daphne and the worker; else the page follows the stored events.
    feed = "live" if os.environ.get("REDIS_URL") else "following"
    page.wait_for_selector(f"#live-state[data-state={feed}]", timeout=20_000)
    shot(page, "loop_before")

    page.select_option("#retrain-campaign", campaign.slug)
    page.fill("#retrain-epochs", "3")
    page.click("#retrain-button")
    page.wait_for_selector("#retrain-message.ok", timeout=20_000)
    assert "Queued run #" in page.inner_text("#retrain-message")
    run = TrainingRun.objects.get()
    assert run.triggered_by == users["mllead"]

    # Epochs arrive over the websocket as the worker trains.
    page.wait_for_function(
        "() => /Epoch [0-9]+ of 3/.test(document.querySelector('#run-epoch').textContent)", timeout=240_000
    )
    shot(page, "loop_training")
    page.wait_for_function(
        "() => document.querySelectorAll('#run-steps li.done').length === 6", timeout=300_000, polling=500
    )
    shot(page, "loop_done")
    detail = page.inner_text("#run-detail")
    assert "Promoted real_bogus v2" in detail
    # Alerts the new version already scored when it was evaluated (the held-out ones) are not scored again; every
    # pool alert has its v2 score (checked below).
    assert re.search(r"Rescored [0-9]+ alerts with v2", detail), detail
    assert page.inner_text("#run-reordered").startswith(campaign.slug)
    assert not [e for e in errors if "WebSocket" not in e], errors

    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED, (logdir / "worker.log").read_text()[-3000:]
    v2 = run.version
    assert v2.status == ModelVersion.Status.ACTIVE
    v1.refresh_from_db()
    assert v1.status == ModelVersion.Status.RETIRED
    latest = QueueOrdering.objects.filter(campaign=campaign).first()
    assert latest.version_id == v2.pk

    after = queue_order(campaign)
    assert sorted(after) == sorted(before)
    assert after != before
    # The new order is v2's uncertainty order: closest to 0.5 first.
    v2_scores = dict(Score.objects.filter(version=v2).values_list("alert_id", "score"))
    alert_of = dict(campaign.subjects.values_list("pk", "alert_id"))
    distance = [round(abs(v2_scores[alert_of[pk]] - 0.5), 6) for pk in after]
    assert distance == sorted(distance)
    top = after[:PRIORITY_WINDOW]
    assert set(top) != set(before[:PRIORITY_WINDOW])
    # The volunteer's next subjects, as the classify page fetches them, come from the top of the new order
    # (labeling.queue spreads simultaneous volunteers over its PRIORITY_WINDOW best subjects, one alert per object,
    # so further alerts of an object already in the window make room for the next ones), best first.
    object_of = dict(campaign.subjects.values_list("pk", "alert__object_id"))
    window: list[int] = []
    for pk in after:
        if len(window) < PRIORITY_WINDOW and object_of[pk] not in {object_of[w] for w in window}:
            window.append(pk)
    volunteer = browser.new_context().new_page()
    log_in(volunteer, base, "volunteer")
    for _ in range(3):
        served = volunteer.request.get(f"{base}/api/campaigns/{campaign.slug}/next/?n=5")
        assert served.ok, served.text()
        ids = [card["id"] for card in served.json()["subjects"]]
        assert len(ids) == 5
        assert set(ids) <= set(window), (ids, window)
        assert ids == sorted(ids, key=after.index)
    context.close()


@pytest.fixture
def process_local_layer(settings):
    """The channel layer of ``make run`` without REDIS_URL: in memory, one per process."""
    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def test_without_a_shared_channel_layer_the_page_follows_the_stored_events_and_never_says_live(
    live_server, browser, process_local_layer
):
    """The worker's events cannot reach a websocket through an in-memory layer: the page reads them from the
    run as they are stored, each epoch within about a second, and its badge says so."""
    from classifiers.models import TrainingRun
    from classifiers.runs import events
    from classifiers.runs.requests import request_run
    from fixtures.demo_users import create_demo_users
    from tests.conftest import labels_to_train_on

    create_demo_users()
    labels_to_train_on()
    run, _ = request_run(task="real_bogus", trigger="api", options={"epochs": 3}, enqueue=False)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, live_server.url, "mllead", "/ml/loop/")
    badge = page.locator("#live-state")
    assert badge.get_attribute("data-state") == "following"
    assert badge.inner_text() == "following the runs, updated every second"
    page.wait_for_selector(f"#runs-body tr[data-run='{run.pk}'].selected")

    # The test plays the worker: it marks the run running and stores its epochs one by one.
    TrainingRun.objects.filter(pk=run.pk).update(status=TrainingRun.Status.RUNNING)
    events.record(run, "running", step="started", attempt=1)
    for epoch in (1, 2, 3):
        stored = time.monotonic()
        events.record(run, "running", step="epoch", epoch=epoch, epochs=3, loss=0.5 / epoch, val_loss=0.6 / epoch)
        page.wait_for_function(
            "n => document.querySelector('#run-epoch').textContent.startsWith('Epoch ' + n + ' of 3')",
            arg=epoch,
            timeout=5_000,
            polling=50,
        )
        assert time.monotonic() - stored < 2.5, f"epoch {epoch} took {time.monotonic() - stored:.1f} s to show"
    assert page.locator("#loss-chart circle.dot").count() == 3
    assert page.inner_text(f"#runs-body tr[data-run='{run.pk}']").count("running") == 1
    shot(page, "loop_following")
    assert "live" not in badge.inner_text().lower()
    assert errors == [], errors
