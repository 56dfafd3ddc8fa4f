"""Faults under load: what holds when PostgreSQL restarts, Redis stops, daphne is killed -9, the background
worker is killed mid-training and the worker's model cache sits on a full disk. Scripted scenarios that print
what held, as JSON lines.

    python bench/faults.py [--scenario all|postgres_restart|redis_stop|daphne_kill|worker_kill|cache_full]
                           [--volunteers 30] [--seconds 35] [--subjects 2000]

Everything runs on a PostgreSQL cluster and a Redis server of the bench's own (temporary directory, free
loopback ports), so restarting and stopping them disturbs no other database on the machine; both are removed
at the end. Two daphne processes serve a live campaign (retire after 3 votes); simulated volunteers behave like
the classify page's outbox: a vote that fails is retried with the same idempotency key until acknowledged.

Each scenario prints ``{"bench": "faults", "scenario": ..., "metric": "held", "value": true|false, ...}`` with
what was checked: votes lost (acknowledged, not stored) and doubled, counters and retirement exact, the votes
acknowledged and stored, its ``recovery_s`` (how long after the fault ended volunteers' votes went through again;
for the worker's faults, which votes never pass through, the longest pause between acknowledged votes from the
fault on, with the training's own recovery in ``training_resumed_s`` / ``retrain_after_freed_s``) and the
scenario's own facts (votes stored during a Redis outage, live counts reaching a classify page left open through
it, the active model version, the retried run, the disk). Exits non-zero if anything did not hold.

The full disk is a tmpfs of a few MiB, filled, mounted for the worker's ``BLINK_MODEL_CACHE_DIR`` when the bench
runs as root; otherwise the worker runs with RLIMIT_FSIZE below a model file's size, so its cache writes fail
(EFBIG rather than ENOSPC). The ``disk`` fact says which.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import blinkbench as bb  # noqa: E402
import live_pages  # noqa: E402
import simulated_volunteers as sv  # noqa: E402
import worker_faults  # noqa: E402

SCENARIOS = ("postgres_restart", "redis_stop", "daphne_kill", "worker_kill", "cache_full")
# Open classify pages join their groups again this often (blink_setting("LIVE_REJOIN_SECONDS"), 30 s by default):
# shorter here so a page left open through the Redis outage shows its live counts coming back within the run.
REJOIN_S = 5
INVARIANTS = ("votes_lost", "votes_doubled", "counter_mismatches", "retirement_mismatches", "shown_twice")


def report(scenario: str, checks: dict, facts: dict, extra_ok: bool = True) -> bool:
    """The scenario's line; ``facts["recovery_s"]`` is None when it never recovered (which does not hold)."""
    held = extra_ok and all(checks[k] == 0 for k in INVARIANTS) and facts.get("recovery_s") is not None
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
    facts["first_ack_after_restart_s"] = facts["recovery_s"] = first_ack_after(tally, back)
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

    page = live_pages.Listener("page left open")

    async def fault(tally, started):
        layer = get_channel_layer()
        end = started + ctx.seconds + 5
        # A classify page open through the outage (its socket reconnects as the page's script does; no reload).
        socket = asyncio.create_task(live_pages.page_socket(page, lambda: ctx.servers.ports[1], ctx.page_session, end))
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
        await socket
        facts["_back"] = back
        facts["live_count_messages_before_outage"] = sum(t < stopped for t in before_msgs)
        facts["live_counts_resume_after_s"] = round(min(after_msgs) - back, 2) if after_msgs else None
        # A raw layer subscription made before the outage: Redis kept no state, so it is gone (classify-page
        # sockets join their groups again every blink_setting("LIVE_REJOIN_SECONDS"); tests/frontend/test_classify_live.py).
        facts["old_subscription_resumed"] = any(t > back for t in before_msgs)

    tally, _ = asyncio.run(
        sv.run_volunteers(volunteers, ctx.servers.ports, ctx.seconds, 1000, retry_for=60, during=fault)
    )
    back = facts.pop("_back")
    # Live counts on the open page after Redis is back (not the fresh count a reconnect starts with).
    firsts = {start for start, _ in page.windows}
    later = [t for t, _ in page.received if t > back and not any(0 <= t - s < 0.3 for s in firsts)]
    facts["open_page_counts_resume_after_s"] = facts["recovery_s"] = round(min(later) - back, 2) if later else None
    facts["open_page_reconnects"] = max(0, len(page.windows) - 1)
    facts["rejoin_s"] = REJOIN_S
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
        facts["_killed"], facts["_respawned"] = killed, time.monotonic()
        facts["down_s"] = round(time.monotonic() - killed, 1)

    tally, _ = asyncio.run(
        sv.run_volunteers(volunteers, ctx.servers.ports, ctx.seconds, 1000, retry_for=60, during=fault)
    )
    killed, respawned = facts.pop("_killed"), facts.pop("_respawned")
    after = first_ack_after(tally, respawned)
    facts["recovery_s"] = round(respawned - killed + after, 2) if after is not None else None
    facts["errors"] = dict(tally.errors)
    checks = sv.verify(ctx.campaign_id, tally)
    # No transaction of the killed process was left open (PostgreSQL rolled back what it had begun).
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%%'")
        facts["transactions_left_open"] = cur.fetchone()[0]
    return report("daphne_kill", checks, facts, facts["transactions_left_open"] == 0 and checks["gave_up"] == 0)


# ------------------------------------------------------------------------------------------ main


class Context:
    pass


SCENARIO_RUNS = {
    "postgres_restart": postgres_restart,
    "redis_stop": redis_stop,
    "daphne_kill": daphne_kill,
    "worker_kill": partial(worker_faults.worker_kill, report=report),
    "cache_full": partial(worker_faults.cache_full, report=report),
}


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
        env = {**bb.server_env(db_url, ctx.redis.url), "BLINK_LIVE_REJOIN_SECONDS": str(REJOIN_S)}
        ctx.servers = bb.Servers(env, Path(tempfile.mkdtemp(prefix="blink-faults-")))
        ctx.page_session = bb.sessions_for("page", 1)[0]["session"]
        from django.db import connection

        connection.close()
        ctx.servers.start(2)
        bb.note(f"daphne on {ctx.servers.ports}; logs in {ctx.servers.log_dir}")
        sv.warm_up(ctx.servers.ports, warm)
        for name in scenarios:
            bb.note(f"scenario {name}")
            volunteers = bb.sessions_for(name, args.volunteers)
            connection.close()
            results[name] = SCENARIO_RUNS[name](ctx, volunteers)
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
