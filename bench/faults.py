"""Faults under load: what holds when PostgreSQL restarts, Redis stops, daphne is killed -9 and the
background worker is killed mid-training. Scripted scenarios that print what held, as JSON lines.

    python bench/faults.py [--scenario all|postgres_restart|redis_stop|daphne_kill|worker_kill]
                           [--volunteers 30] [--seconds 35] [--subjects 2000]

Everything runs on a PostgreSQL cluster and a Redis server of the bench's own (temporary directory, free
loopback ports), so restarting and stopping them disturbs no other database on the machine; both are removed
at the end. Two daphne processes serve a live campaign (retire after 3 votes); simulated volunteers behave like
the classify page's outbox: a vote that fails is retried with the same idempotency key until acknowledged.

Each scenario prints ``{"bench": "faults", "scenario": ..., "metric": "held", "value": true|false, ...}`` with
what was checked: votes lost (acknowledged, not stored) and doubled, counters and retirement exact, and the
scenario's own facts (recovery time, votes stored during a Redis outage, live messages after it, the active
model version and the retried run). Exits non-zero if anything did not hold.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import blinkbench as bb  # noqa: E402
import simulated_volunteers as sv  # noqa: E402

SCENARIOS = ("postgres_restart", "redis_stop", "daphne_kill", "worker_kill")
INVARIANTS = ("votes_lost", "votes_doubled", "counter_mismatches", "retirement_mismatches", "shown_twice")


def report(scenario: str, checks: dict, facts: dict, extra_ok: bool = True) -> bool:
    held = extra_ok and all(checks[k] == 0 for k in INVARIANTS)
    bb.emit("faults", "held", held, scenario=scenario, **{k: checks[k] for k in INVARIANTS},
            votes_acked=checks["votes_acked"], votes_stored=checks["votes_stored"], **facts)  # fmt: skip
    return held


def first_ack_after(tally: sv.Tally, moment: float) -> float | None:
    later = [t for t in tally.ack_times if t > moment]
    return round(min(later) - moment, 2) if later else None


# ------------------------------------------------------------------------------------------ scenarios


def postgres_restart(ctx, volunteers) -> bool:
    facts: dict = {}

    async def fault(tally, started):
        await asyncio.sleep(ctx.seconds / 3)
        t0 = time.monotonic()
        await asyncio.get_running_loop().run_in_executor(None, ctx.pg.restart)
        t1 = time.monotonic()
        facts["restart_s"] = round(t1 - t0, 2)
        facts["_back_at"] = t1

    tally, _ = asyncio.run(
        sv.run_volunteers(volunteers, ctx.servers.ports, ctx.seconds, 1000, retry_for=60, during=fault)
    )
    back = facts.pop("_back_at")
    facts["first_ack_after_restart_s"] = first_ack_after(tally, back)
    facts["failed_attempts_retried"] = sum(v for k, v in tally.errors.items() if k.startswith("vote:"))
    facts["errors"] = dict(tally.errors)
    checks = sv.verify(ctx.campaign_id, tally)
    recovered = facts["first_ack_after_restart_s"] is not None and facts["first_ack_after_restart_s"] < 10
    return report("postgres_restart", checks, facts, recovered and checks["gave_up"] == 0)


def redis_stop(ctx, volunteers) -> bool:
    from channels.layers import get_channel_layer

    facts: dict = {}
    group = f"campaign.{ctx.campaign_id}"

    async def listen(channel, into: list, until: float):
        layer = get_channel_layer()
        while time.monotonic() < until:
            try:
                message = await asyncio.wait_for(layer.receive(channel), timeout=1.0)
            except TimeoutError:
                continue
            except Exception:  # noqa: BLE001 - Redis is down on purpose: keep listening
                await asyncio.sleep(0.5)
                continue
            if message.get("type") == "campaign.count":
                into.append(time.monotonic())

    async def fault(tally, started):
        layer = get_channel_layer()
        end = started + ctx.seconds + 5
        before_channel = await layer.new_channel()
        await layer.group_add(group, before_channel)
        before_msgs: list[float] = []
        listener = asyncio.create_task(listen(before_channel, before_msgs, end))
        await asyncio.sleep(ctx.seconds / 4)
        stopped = time.monotonic()
        ctx.redis.stop()
        await asyncio.sleep(ctx.seconds / 3)
        ctx.redis.start()
        back = time.monotonic()
        facts["outage_s"] = round(back - stopped, 1)
        facts["votes_acked_during_outage"] = sum(stopped < t < back for t in tally.ack_times)
        facts["vote_failures_during_outage"] = sum(stopped < t < back for t in tally.failure_times)
        # A page that (re)connects after the outage: does it get live counts again?
        after_channel = await layer.new_channel()
        await layer.group_add(group, after_channel)
        after_msgs: list[float] = []
        await listen(after_channel, after_msgs, min(end, back + 15))
        await listener
        facts["live_count_messages_before_outage"] = sum(t < stopped for t in before_msgs)
        facts["live_counts_resume_after_s"] = round(min(after_msgs) - back, 2) if after_msgs else None
        # A raw layer subscription made before the outage: Redis kept no state, so it is gone (classify-page
        # sockets join their groups again every blink_setting("LIVE_REJOIN_SECONDS"); tests/frontend/test_classify_live.py).
        facts["old_subscription_resumed"] = any(t > back for t in before_msgs)

    tally, _ = asyncio.run(
        sv.run_volunteers(volunteers, ctx.servers.ports, ctx.seconds, 1000, retry_for=60, during=fault)
    )
    facts["errors"] = dict(tally.errors)
    checks = sv.verify(ctx.campaign_id, tally)
    ok = facts["votes_acked_during_outage"] > 0 and facts["live_counts_resume_after_s"] is not None
    return report("redis_stop", checks, facts, ok)


def daphne_kill(ctx, volunteers) -> bool:
    facts: dict = {}

    async def fault(tally, started):
        await asyncio.sleep(ctx.seconds / 3)
        killed = time.monotonic()
        ctx.servers.kill9(0)
        await asyncio.sleep(2)
        await asyncio.get_running_loop().run_in_executor(None, ctx.servers.respawn, 0)
        facts["_killed"] = killed
        facts["down_s"] = round(time.monotonic() - killed, 1)

    tally, _ = asyncio.run(
        sv.run_volunteers(volunteers, ctx.servers.ports, ctx.seconds, 1000, retry_for=60, during=fault)
    )
    facts.pop("_killed")
    facts["errors"] = dict(tally.errors)
    checks = sv.verify(ctx.campaign_id, tally)
    # No transaction of the killed process was left open (PostgreSQL rolled back what it had begun).
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%%'")
        facts["transactions_left_open"] = cur.fetchone()[0]
    return report("daphne_kill", checks, facts, facts["transactions_left_open"] == 0 and checks["gave_up"] == 0)


def worker_kill(ctx, volunteers) -> bool:
    """A retraining runs in db_worker while volunteers vote; the worker is killed -9 after its first epoch."""
    from activelearning.policy import request_retraining
    from classifiers.models import ModelVersion, TrainingRun
    from classifiers.runs.worker import reap_stale_runs

    campaign = prepare_training_campaign()
    from tests.conftest import register_untrained_braai

    active = register_untrained_braai(seed=0, promote=True)
    n_versions = ModelVersion.objects.count()
    run, _ = request_retraining(
        task="real_bogus", campaign=campaign, user=None, options={"epochs": 40, "patience": 40, "batch_size": 4}
    )
    facts: dict = {"active_before": active.label}
    worker = start_worker(ctx)

    async def fault(tally, started):
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            progress = await loop.run_in_executor(None, lambda: TrainingRun.objects.get(pk=run.pk).progress)
            if any(e.get("step") == "epoch" for e in progress):
                break
            await asyncio.sleep(0.5)
        facts["reached_first_epoch"] = time.monotonic() < deadline
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        facts["killed_at_epoch"] = True

    tally, _ = asyncio.run(
        sv.run_volunteers(volunteers, ctx.servers.ports, max(ctx.seconds, 60), 1000, retry_for=60, during=fault)
    )
    active.refresh_from_db()
    run.refresh_from_db()
    facts["active_after_kill"] = active.label if active.status == "active" else None
    facts["versions_added_by_killed_run"] = ModelVersion.objects.count() - n_versions
    facts["run_status_after_kill"] = run.status
    # The reaper (at the next trigger or task start, after TRAINING_STALE_SECONDS) fails the run and queues one
    # retry; called here at once instead of waiting two minutes.
    reaped = reap_stale_runs(stale_after=0)
    run.refresh_from_db()
    retry = TrainingRun.objects.filter(options__retry_of=run.pk).first()
    facts["reaped"] = [r.pk for r in reaped] == [run.pk]
    facts["run_status_after_reap"] = run.status
    if retry is not None:
        TrainingRun.objects.filter(pk=retry.pk).update(options={**retry.options, "epochs": 1})
        worker = start_worker(ctx)
        try:
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                retry.refresh_from_db()
                if retry.status in ("succeeded", "failed", "diverged"):
                    break
                time.sleep(1)
        finally:
            worker.kill()
            worker.wait(timeout=30)
        facts["retry_status"] = retry.status
        facts["retry_attempts"] = retry.attempts
    facts["errors"] = dict(tally.errors)
    checks = sv.verify(ctx.campaign_id, tally)
    ok = (
        facts["active_after_kill"] == facts["active_before"]
        and facts["versions_added_by_killed_run"] == 0
        and facts["reaped"]
        and facts.get("retry_status") == "succeeded"
    )
    return report("worker_kill", checks, facts, ok)


def prepare_training_campaign():
    """Demo alerts through the real ingest, in a campaign whose subjects are settled to their truth."""
    from django.contrib.auth import get_user_model

    from fixtures.demo_alerts import write_demo_alerts
    from labeling.ingest import ingest_paths
    from labeling.models import REAL_BOGUS_CLASSES, Alert, Campaign, Subject
    from tests.activelearning.helpers import settle_with_truth

    with tempfile.TemporaryDirectory() as tmp:
        report = ingest_paths(write_demo_alerts(Path(tmp), n=60, seed=7))
    owner = get_user_model().objects.get(username="bench-scientist")
    campaign = Campaign.objects.create(
        name="Training", slug="training", owner=owner, classes=REAL_BOGUS_CLASSES, state=Campaign.State.LIVE
    )
    alerts = Alert.objects.filter(pk__in=report.new_alert_ids).order_by("candid")
    Subject.objects.bulk_create([Subject(campaign=campaign, alert=a) for a in alerts])
    settle_with_truth(list(campaign.subjects.select_related("alert").order_by("pk"))[10:])
    return campaign


def start_worker(ctx) -> subprocess.Popen:
    log = open(ctx.servers.log_dir / "worker.log", "ab")  # noqa: SIM115 - lives as long as the worker
    return subprocess.Popen(
        [sys.executable, "manage.py", "db_worker", "--queue-name", "*", "--no-reload", "--no-startup-delay",
         "--interval", "0.2"],
        cwd=bb.ROOT, env={**ctx.servers.env, "BLINK_TF_THREADS": "1"}, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


# ------------------------------------------------------------------------------------------ main


class Context:
    pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="all", choices=("all", *SCENARIOS))
    parser.add_argument("--volunteers", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=35.0)
    parser.add_argument("--subjects", type=int, default=2000)
    args = parser.parse_args()
    scenarios = SCENARIOS if args.scenario == "all" else (args.scenario,)

    ctx = Context()
    ctx.seconds = args.seconds
    ctx.pg = bb.PrivatePostgres()
    ctx.redis = bb.PrivateRedis()
    results = {}
    try:
        admin = ctx.pg.init()
        ctx.redis.start()
        db_url = bb.recreate_database(admin, "blink_faults")
        bb.note(f"private PostgreSQL on port {ctx.pg.port}, Redis on port {ctx.redis.port}")
        bb.setup_django(db_url, ctx.redis.url)
        bb.migrate()
        ctx.campaign_id = bb.seed_campaign(n_subjects=args.subjects, retire_after=3)
        warm = bb.sessions_for("warm", 1)[0]
        ctx.servers = bb.Servers(bb.server_env(db_url, ctx.redis.url), Path(tempfile.mkdtemp(prefix="blink-faults-")))
        from django.db import connection

        connection.close()
        ctx.servers.start(2)
        bb.note(f"daphne on {ctx.servers.ports}; logs in {ctx.servers.log_dir}")
        sv.warm_up(ctx.servers.ports, warm)
        for name in scenarios:
            bb.note(f"scenario {name}")
            volunteers = bb.sessions_for(name, args.volunteers)
            connection.close()
            results[name] = globals()[name](ctx, volunteers)
            connection.close()
    finally:
        if getattr(ctx, "servers", None) is not None:
            ctx.servers.stop()
        from django.db import connections

        connections.close_all()
        ctx.redis.stop()
        ctx.pg.destroy()
    bb.emit("faults", "all_held", all(results.values()), scenarios=list(results))
    if not all(results.values()):
        sys.exit("a fault scenario did not hold: see the JSON lines above")


if __name__ == "__main__":
    main()
