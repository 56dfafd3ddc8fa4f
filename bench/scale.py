"""Two of everything: two daphne processes and two ``db_worker``s on one PostgreSQL and one Redis, volunteers
spread over both daphnes, a retrain asked for twice (once through each daphne), and one daphne killed -9 midway.

    python bench/scale.py [--volunteers 40] [--seconds 40] [--think-ms 1000] [--subjects 2000]
                          [--retire-after 3] [--epochs 1] [--respawn-after 5] [--train-wait 300]
                          [--db-name blink_bench_scale] [--private] [--keep-db]

A throwaway database (``--db-name`` on the server of DATABASE_URL, Redis of REDIS_URL; or, with --private, a
PostgreSQL cluster and Redis of the bench's own) holds the live campaign of bench/load.py and a small training
campaign of demo alerts. Even-numbered volunteers use daphne A, odd ones daphne B, and behave as the classify
page's outbox does (bench/simulated_volunteers.py). One open classify-page socket listens on each daphne, and
the bench itself listens to the campaign's channel-layer group: every live count sent there must reach both
sockets. A fifth of the way in, an ML lead asks for a retrain through A and through B at the same moment; at
half-time A gets ``kill -9``: its volunteers are routed to B (as a proxy's health check would), and A is started
again ``--respawn-after`` seconds later, its socket reconnecting. Afterwards the books are checked.

Prints ``{"bench": "scale", "metric": ..., "value": ...}`` for:

- ``votes_lost`` (acknowledged, not stored), ``votes_doubled``, ``subjects_shown_twice`` (one volunteer, one
  subject): all must be 0;
- ``runs_started``: training attempts started for the double request: must be 1;
- ``events_missed``: live counts sent to the campaign's group while a socket was open that it never got: 0;
- ``recovery_s``: from the kill until every volunteer of the killed daphne has voted again: at most 10;

and exits non-zero if one of them is off target.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import fields
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import blinkbench as bb  # noqa: E402
import simulated_volunteers as sv  # noqa: E402
import worker_faults  # noqa: E402
from live_pages import Listener, events_missed, layer_listener, page_socket  # noqa: E402

emit = partial(bb.emit, "scale")

TRAINING_SLUG = "training"  # worker_faults.prepare_training_campaign's campaign
RECOVERY_TARGET_S = 10.0


# ------------------------------------------------------------------------------------------ the scenario


def merge(tallies: list[sv.Tally]) -> sv.Tally:
    total = sv.Tally()
    for tally in tallies:
        for f in fields(sv.Tally):
            mine, theirs = getattr(total, f.name), getattr(tally, f.name)
            if isinstance(mine, set):
                mine |= theirs
            elif isinstance(mine, list | Counter):
                mine += theirs
            else:
                setattr(total, f.name, mine + theirs)
    return total


async def ask_retrain(port: int, lead: dict, epochs: int) -> dict:
    import httpx2

    async with httpx2.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", timeout=60,
        cookies={"sessionid": lead["session"], "csrftoken": lead["csrf"]},
        headers={"X-CSRFToken": lead["csrf"], "Accept": "application/json"},
    ) as client:  # fmt: skip
        body = {"task": "real_bogus", "campaign": TRAINING_SLUG, "epochs": epochs, "auto_promote": False}
        r = await client.post("/api/loop/retrain/", json=body)
    answer = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
    return {"port": port, "status": r.status_code, "created": answer.get("created"),
            "run": (answer.get("run") or {}).get("id")}  # fmt: skip


async def scenario(args, servers: bb.Servers, campaign_id: int, volunteers, lead, watchers) -> dict:
    a, b = servers.ports
    # Each volunteer's own port, in a list a proxy (this scenario) may re-point when a daphne dies.
    routes = {v["user_id"]: [a if i % 2 == 0 else b] for i, v in enumerate(volunteers)}
    tallies = {v["user_id"]: sv.Tally() for v in volunteers}
    on_a = [v["user_id"] for i, v in enumerate(volunteers) if i % 2 == 0]
    started = time.monotonic()
    until = started + args.seconds
    facts: dict = {"sent": [], "listeners": [Listener("A"), Listener("B")]}
    port_of_a = lambda: servers.ports[0]  # noqa: E731 - the same port after a respawn

    async def faults_and_retrains():
        await asyncio.sleep(args.seconds / 5)
        facts["retrain"] = await asyncio.gather(ask_retrain(a, lead, args.epochs), ask_retrain(b, lead, args.epochs))
        await asyncio.sleep(max(0.0, started + args.seconds / 2 - time.monotonic()))
        facts["killed_at"] = time.monotonic()
        servers.kill9(0)
        for user_id in on_a:
            routes[user_id][0] = b
        await asyncio.sleep(args.respawn_after)
        try:
            await asyncio.get_running_loop().run_in_executor(None, servers.respawn, 0)
            facts["respawned_after_s"] = round(time.monotonic() - facts["killed_at"], 1)
        except RuntimeError as exc:  # a loaded machine starts daphne slowly; its volunteers are on B meanwhile
            facts["respawned_after_s"] = None
            bb.note(f"daphne A not back yet: {exc}")

    # Listeners outlive the volunteers by a few seconds, so the last counts can arrive.
    listen_until = until + 3
    await asyncio.gather(
        *(sv.volunteer(v, routes[v["user_id"]], until, args.think_ms, tallies[v["user_id"]], retry_for=60)
          for v in volunteers),
        faults_and_retrains(),
        layer_listener(campaign_id, facts["sent"], listen_until),
        page_socket(facts["listeners"][0], port_of_a, watchers[0]["session"], listen_until),
        page_socket(facts["listeners"][1], lambda: b, watchers[1]["session"], listen_until),
    )  # fmt: skip
    killed = facts["killed_at"]
    back = [min((t for t in tallies[u].ack_times if t > killed), default=None) for u in on_a]
    facts["recovery_s"] = round(max(t - killed for t in back), 2) if back and None not in back else None
    facts["not_back"] = sum(t is None for t in back)
    facts["tally"] = merge(list(tallies.values()))
    facts["elapsed"] = time.monotonic() - started
    return facts


def wait_for_training(run_ids: set, timeout: float) -> dict:
    """The retrain's runs once one has finished (or ``timeout``): how many attempts started, how they ended."""
    from classifiers.models import TrainingRun

    deadline = time.monotonic() + timeout
    while True:
        runs = list(TrainingRun.objects.filter(pk__in=run_ids))
        done = runs and all(r.status not in ("queued", "running") for r in runs)
        if done or time.monotonic() > deadline:
            break
        time.sleep(1)
    # Runs of the task created since (a retry, or a second run the double request should not have made).
    all_runs = list(TrainingRun.objects.filter(task="real_bogus").order_by("pk"))
    return {
        "runs_created": len(all_runs),
        "runs_started": sum(r.attempts for r in all_runs),
        "run_status": [r.status for r in all_runs],
        "finished": bool(done),
    }


def run(args, db_url: str, redis_url: str) -> bool:
    from django.db import connection

    from core.roles import MLLEAD, grant_role

    log_dir = Path(tempfile.mkdtemp(prefix="blink-bench-scale-"))
    servers = bb.Servers(bb.server_env(db_url, redis_url), log_dir)
    workers = []
    try:
        campaign_id = bb.seed_campaign(n_subjects=args.subjects, retire_after=args.retire_after)
        worker_faults.prepare_training_campaign()
        worker_faults.active_braai()
        volunteers = bb.sessions_for("scale", args.volunteers)
        lead = bb.sessions_for("scale-lead", 1)[0]
        from django.contrib.auth import get_user_model

        grant_role(get_user_model().objects.get(pk=lead["user_id"]), MLLEAD)
        watchers = bb.sessions_for("scale-page", 2)
        warm = bb.sessions_for("warm", 1)[0]
        connection.close()
        servers.start(2)
        ctx = type("WorkerContext", (), {"servers": servers})()
        workers = [worker_faults.start_worker(ctx) for _ in range(2)]
        bb.note(f"daphne on {servers.ports}, 2 db_workers; logs in {log_dir}")
        sv.warm_up(servers.ports, warm)
        facts = asyncio.run(scenario(args, servers, campaign_id, volunteers, lead, watchers))
        tally = facts["tally"]
        run_ids = {r["run"] for r in facts["retrain"] if r["run"] is not None}
        training = wait_for_training(run_ids, args.train_wait)
        checks = sv.verify(campaign_id, tally)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(timeout=20)
            except Exception:  # noqa: BLE001 - a worker stuck in TensorFlow is killed
                worker.kill()
        servers.stop()
    context = {
        "n": args.volunteers, "seconds": round(facts["elapsed"], 1), "daphnes": 2, "db_workers": 2,
        "db": "postgresql", "redis": True, "private_servers": args.private, "load_1m": round(os.getloadavg()[0], 1),
    }  # fmt: skip
    missed = {lst.name: events_missed(facts["sent"], lst) for lst in facts["listeners"]}
    emit("votes_lost", checks["votes_lost"], acked=checks["votes_acked"], stored=checks["votes_stored"], **context)
    emit("votes_doubled", checks["votes_doubled"], stored_not_acked=checks["stored_not_acked"], **context)
    emit("subjects_shown_twice", checks["shown_twice"], **context)
    emit("runs_started", training["runs_started"], requests=facts["retrain"],
         **{k: v for k, v in training.items() if k != "runs_started"}, **context)  # fmt: skip
    emit("events_missed", sum(missed.values()), by_socket=missed, counts_sent=len(facts["sent"]),
         received={lst.name: len(lst.received) for lst in facts["listeners"]},
         socket_windows={lst.name: len(lst.windows) for lst in facts["listeners"]}, **context)  # fmt: skip
    emit("recovery_s", facts["recovery_s"], volunteers_on_killed=(args.volunteers + 1) // 2,
         not_back=facts["not_back"], respawned_after_s=facts["respawned_after_s"], target_s=RECOVERY_TARGET_S,
         **context)  # fmt: skip
    emit("books", checks["counter_mismatches"] + checks["retirement_mismatches"],
         counter_mismatches=checks["counter_mismatches"], retirement_mismatches=checks["retirement_mismatches"],
         gave_up=checks["gave_up"], errors=dict(tally.errors), refusals={"retired": tally.retired_refusals,
         "duplicate": tally.duplicate_refusals}, **context)  # fmt: skip
    return (
        checks["votes_acked"] > 0
        and all(
            checks[k] == 0
            for k in ("votes_lost", "votes_doubled", "shown_twice", "counter_mismatches", "retirement_mismatches")
        )  # fmt: skip
        and training["runs_started"] == 1
        and sum(missed.values()) == 0
        and facts["recovery_s"] is not None
        and facts["recovery_s"] <= RECOVERY_TARGET_S
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--volunteers", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--think-ms", type=float, default=1000.0, help="mean pause before each vote")
    parser.add_argument("--subjects", type=int, default=2000)
    parser.add_argument("--retire-after", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1, help="epochs of the retrain asked for twice")
    parser.add_argument("--respawn-after", type=float, default=5.0, help="seconds before the killed daphne restarts")
    parser.add_argument("--train-wait", type=float, default=300.0, help="seconds to wait for the retrain to end")
    parser.add_argument("--db-name", default="blink_bench_scale")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--private", action="store_true", help="a PostgreSQL cluster and Redis of the bench's own")
    args = parser.parse_args()

    ok = False
    with (
        bb.bench_servers(args.private) as (admin, redis_url),
        bb.bench_database(args.db_name, keep=args.keep_db, admin_url=admin, redis_url=redis_url) as db_url,
    ):
        ok = run(args, db_url, redis_url)
    if not ok:
        sys.exit("a target was missed: see the JSON lines above")


if __name__ == "__main__":
    main()
