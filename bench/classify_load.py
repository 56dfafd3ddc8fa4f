"""Classify-page load: N simulated volunteers against daphne + PostgreSQL on loopback, and against SQLite as
``make run`` serves it, printed as JSON lines.

    python bench/classify_load.py [--volunteers 10,50,200] [--seconds 20] [--think-ms 1000] [--workers CORES]
                                  [--subjects 20000] [--db both|postgresql|sqlite] [--sqlite-volunteers 10]
                                  [--db-name blink_bench_classify] [--keep-db]

1. Creates a throwaway PostgreSQL database (``blink_bench_classify`` on the server of DATABASE_URL, default
   postgres://postgres@127.0.0.1:5432/), migrates it and seeds it: demo alerts through the real ingest path
   (``fixtures.demo_alerts`` + ``labeling.ingest``), bulked up with synthetic alert rows to --subjects, in one
   live real/bogus campaign (retire after 5 votes, 10 % gold share, 20 % exploration, priorities as a scored
   queue would have them).
2. Starts --workers daphne processes (``config.asgi:application``, DEBUG off, a pool of 8 database connections
   each, ``DB_POOL_MAX_SIZE``: under ASGI every request in flight has a thread and would otherwise hold a
   connection of its own) on free loopback ports. Python serves one
   request at a time per process (the GIL), so more processes is how one machine serves more volunteers; the
   clients are spread over them as a load balancer would. The default is one process per core, as a deployment
   on this machine would run them.
3. For each N: N fresh volunteers, each with a session (created server-side, as a login would; one volunteer
   also logs in through the real form as a check), loop for --seconds: GET ``next/?n=1``, think for
   --think-ms (uniform 0.5x-1.5x; 0 = no pause, a saturation test), POST the vote with an idempotency key,
   retrying a network failure with the same key as the page's outbox does. The volunteers' HTTP clients are
   made before the clock starts and each volunteer arrives at a random moment of the first think time.
4. Prints ``{"bench": "classify", "metric": ..., "value": ..., "n": N, "db": ..., ...}`` for
   ``next_subject_p95_ms``, ``vote_p95_ms``, ``votes_per_s``, ``votes_lost`` (votes acknowledged with 200/201
   minus those found in the database: must be 0) and ``votes_refused`` (vote requests answered 5xx, such as
   SQLite's "database is locked" turned 503, which the page's outbox must retry: must be 0), plus context
   (think time, workers, request counts, p50/p99, errors, background tasks that failed).
5. With ``--db both`` (the default) or ``sqlite``: the same for ``--sqlite-volunteers`` on a fresh SQLite file
   configured as ``make run`` configures it (``config.settings`` from a ``sqlite:///`` DATABASE_URL, no Redis,
   DEBUG as make run leaves it), served by one daphne with one ``manage.py db_worker`` beside it, in a child
   process (Django is set up once per process).
   ``BLINK_BENCH_DUMP=FILE`` also writes every request as ``[start, "next"|"vote", ms]`` to FILE, to see when
   slow requests happened (stalls show as runs of them).

Target at N = 50 on 2 cores: next subject p95 < 50 ms and vote p95 < 50 ms; no vote refused on either database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from functools import partial
from pathlib import Path

import blinkbench as bb  # bench/ is the running script's folder, so on sys.path

emit = partial(bb.emit, "classify")
BENCH_DB = "blink_bench_classify"
DEMO_ALERTS = 200


# ------------------------------------------------------------------------------------------------ server


def server_env(db_url: str) -> dict:
    if db_url.startswith("sqlite"):
        return make_run_env(db_url)
    return {
        **os.environ,
        "DATABASE_URL": db_url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DB_POOL_MAX_SIZE": os.environ.get("BLINK_BENCH_POOL_SIZE", "8"),
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "BLINK_LOG_LEVEL": "WARNING",
        "BLINK_CHANNEL_PREFIX": f"bench{os.getpid()}",
    }


def make_run_env(db_url: str) -> dict:
    """The environment ``make run`` gives daphne and its worker: SQLite, no Redis (so the in-process channel layer
    and the database cache), no pool, DEBUG left at its default."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DB_POOL_MAX_SIZE", "DJANGO_DEBUG")}
    return {
        **env,
        "DATABASE_URL": db_url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "BLINK_LOG_LEVEL": "WARNING",
    }


def start_worker(env: dict, log_dir: Path) -> subprocess.Popen:
    """One ``manage.py db_worker``, as ``make run`` starts it beside daphne."""
    log = open(log_dir / "db_worker.log", "ab")  # noqa: SIM115 - lives as long as the worker
    return subprocess.Popen(
        [sys.executable, str(bb.ROOT / "manage.py"), "db_worker", "--queue-name", "*", "--no-reload"],
        cwd=bb.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc), 0.0 where unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) CPU jiffies of the whole machine so far, from /proc/stat; (0, 0) where unreadable."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0, 0
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


def check_form_login(port: int) -> None:
    """One volunteer through the real login form, so the bench's sessions are the ones a login makes."""
    import re

    import httpx2
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user("bench-form-login", password="bench-form-login-pw-1")
    with httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        page = client.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        r = client.post(
            "/accounts/login/",
            data={"username": "bench-form-login", "password": "bench-form-login-pw-1", "csrfmiddlewaretoken": token},
            headers={"Referer": f"http://127.0.0.1:{port}/accounts/login/"},
        )
        if r.status_code != 302:
            sys.exit(f"form login failed: HTTP {r.status_code}")
        r = client.get(f"/api/campaigns/{bb.SLUG}/next/?n=1")
        if r.status_code != 200 or not r.json()["subjects"]:
            sys.exit(f"next subject after a form login failed: HTTP {r.status_code}")
    bb.note("form login + next subject: ok")


def warm_up(ports: list[int]) -> None:
    """A few requests to every server first: its first ones import the URL conf and every API module."""
    import httpx2

    volunteer = bb.sessions_for("bench-warmup", 1)[0]
    cookies = {"sessionid": volunteer["session"], "csrftoken": volunteer["csrf"]}
    for port in ports:
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}", cookies=cookies, timeout=120) as client:
            for _ in range(3):
                client.get(f"/api/campaigns/{bb.SLUG}/next/?n=1")
    bb.note(f"warmed up {len(ports)} server(s)")


# ------------------------------------------------------------------------------------------------ clients


class Tally:
    def __init__(self):
        self.next_ms: list[float] = []
        self.vote_ms: list[float] = []
        self.timeline: list[tuple[float, str, float]] = []  # (start, "next"|"vote", ms), for BLINK_BENCH_DUMP
        self.acked: list[str] = []
        self.sent: list[str] = []
        self.errors: dict[str, int] = {}
        self.refused = 0  # vote requests answered 5xx (each attempt)
        self.exhausted = 0
        self.retired = 0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


def client_for(volunteer: dict, port: int):
    import httpx2

    cookies = {"sessionid": volunteer["session"], "csrftoken": volunteer["csrf"]}
    headers = {"X-CSRFToken": volunteer["csrf"], "Accept": "application/json"}
    limits = httpx2.Limits(max_connections=1, max_keepalive_connections=1)
    return httpx2.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", cookies=cookies, headers=headers, timeout=30, limits=limits
    )


async def volunteer_loop(client, start_at: float, until: float, think_ms: float, tally: Tally) -> None:
    import httpx2

    async with client:
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        while time.monotonic() < until:
            t0 = time.perf_counter()
            try:
                r = await client.get(f"/api/campaigns/{bb.SLUG}/next/?n=1")
            except httpx2.HTTPError as exc:
                tally.error(f"next:{type(exc).__name__}")
                await asyncio.sleep(0.5)
                continue
            tally.next_ms.append((time.perf_counter() - t0) * 1000)
            tally.timeline.append((t0, "next", tally.next_ms[-1]))
            if r.status_code != 200:
                tally.error(f"next:{r.status_code}")
                await asyncio.sleep(0.5)
                continue
            subjects = r.json()["subjects"]
            if not subjects:
                tally.exhausted += 1
                await asyncio.sleep(1.0)
                continue
            if think_ms:
                await asyncio.sleep(think_ms * random.uniform(0.5, 1.5) / 1000)
            key = str(uuid.uuid4())
            body = {
                "subject": subjects[0]["id"],
                "answer": random.choice(("real", "bogus", "real", "skip")),
                "idempotency_key": key,
                "duration_ms": int(think_ms),
                "served": subjects[0]["served"],  # the card's token: a vote counts only on a served subject
            }
            tally.sent.append(key)
            for attempt in range(4):  # the page's outbox retries with the same key
                t0 = time.perf_counter()
                try:
                    r = await client.post(f"/api/campaigns/{bb.SLUG}/votes/", json=body)
                except httpx2.HTTPError as exc:
                    tally.error(f"vote:{type(exc).__name__}")
                    await asyncio.sleep(0.2 * 2**attempt)
                    continue
                if attempt == 0:
                    tally.vote_ms.append((time.perf_counter() - t0) * 1000)
                    tally.timeline.append((t0, "vote", tally.vote_ms[-1]))
                if r.status_code in (200, 201):
                    tally.acked.append(key)
                elif r.status_code == 409 and r.json().get("code") == "retired":
                    tally.retired += 1
                elif r.status_code >= 500:
                    tally.refused += 1
                    tally.error(f"vote:{r.status_code}")
                    await asyncio.sleep(0.2 * 2**attempt)
                    continue
                else:
                    tally.error(f"vote:{r.status_code}:{r.json().get('code')}")
                break


def percentile(values: list[float], q: int) -> float | None:
    if len(values) < 20:
        return None
    return round(statistics.quantiles(values, n=100)[q - 1], 2)


async def run_load(volunteers: list[dict], ports: list[int], seconds: float, think_ms: float) -> tuple[Tally, float]:
    tally = Tally()
    # Clients first: making one costs CPU (httpx builds an SSL context), and made inside the loops they held the
    # arrivals back until the last was built, so the volunteers all arrived at nearly the same moment.
    clients = [client_for(v, ports[i % len(ports)]) for i, v in enumerate(volunteers)]
    started = time.monotonic()
    until = started + seconds
    # Volunteers do not arrive in lockstep: each starts at a random moment of the first think time.
    spread = min(1.0, think_ms / 1000 or 0.2)
    await asyncio.gather(
        *(volunteer_loop(c, started + random.random() * spread, until, think_ms, tally) for c in clients)
    )
    return tally, time.monotonic() - started


def votes_lost(acked: list[str]) -> tuple[int, int]:
    from labeling.models import Vote

    stored = 0
    for start in range(0, len(acked), 5000):
        stored += Vote.objects.filter(idempotency_key__in=acked[start : start + 5000]).count()
    return len(acked) - stored, stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--volunteers", default="10,50,200", help="comma-separated N values (default 10,50,200)")
    parser.add_argument("--seconds", type=float, default=20.0, help="load duration per N (default 20)")
    parser.add_argument(
        "--think-ms", type=float, default=1000.0, help="mean pause between seeing a subject and voting (0 = none)"
    )
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="daphne processes (default: one per core)"
    )
    parser.add_argument("--subjects", type=int, default=20000, help="subjects in the campaign (default 20000)")
    parser.add_argument(
        "--db", choices=("both", "postgresql", "sqlite"), default="both", help="which database(s) (default both)"
    )
    parser.add_argument("--sqlite-volunteers", default="10", help="N values against SQLite (default 10)")
    parser.add_argument("--db-name", default=BENCH_DB, help=f"the throwaway PostgreSQL database (default {BENCH_DB})")
    parser.add_argument("--keep-db", action="store_true", help="keep the bench database afterwards")
    args = parser.parse_args()

    if args.db == "both":
        # Django is set up once per process, on one database: SQLite gets a process of its own.
        child = [sys.executable, __file__, "--db", "sqlite", "--sqlite-volunteers", args.sqlite_volunteers]
        child += ["--seconds", str(args.seconds), "--think-ms", str(args.think_ms), "--subjects", str(args.subjects)]
        subprocess.run(child + (["--keep-db"] if args.keep_db else []), check=True)
    if args.db == "sqlite":
        run_sqlite(args)
    else:
        run_postgresql(args)


def run_postgresql(args) -> None:
    ns = [int(x) for x in args.volunteers.split(",") if x.strip()]
    with bb.bench_database(args.db_name, keep=args.keep_db) as db_url:
        bb.seed_campaign(n_subjects=args.subjects, retire_after=5, demo_alerts=DEMO_ALERTS, gold_share=0.1)
        log_dir = Path(tempfile.mkdtemp(prefix="blink-bench-classify-"))
        bb.note(f"server logs in {log_dir}")
        servers = bb.Servers(server_env(db_url), log_dir)
        try:
            servers.start(args.workers)
            check_form_login(servers.ports[0])
            warm_up(servers.ports)
            measure(ns, servers, args, db="postgresql", workers=args.workers)
        finally:
            servers.stop()


@contextlib.contextmanager
def make_run_database(*, keep: bool = False):
    """Django set up, as ``make run`` sets it up, on a fresh SQLite file; yields its URL."""
    from django.core.management import call_command

    folder = Path(tempfile.mkdtemp(prefix="blink-bench-sqlite-"))
    db_url = f"sqlite:///{folder / 'blink.sqlite3'}"
    os.environ.pop("REDIS_URL", None)  # make run has none: in-process channel layer, database cache
    bb.setup_django(db_url)
    try:
        bb.migrate()
        call_command("createcachetable", verbosity=0)
        yield db_url
    finally:
        from django.db import connections

        connections.close_all()
        if keep:
            bb.note(f"SQLite database kept at {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def run_sqlite(args) -> None:
    ns = [int(x) for x in args.sqlite_volunteers.split(",") if x.strip()]
    with make_run_database(keep=args.keep_db) as db_url:
        bb.seed_campaign(n_subjects=args.subjects, retire_after=5, demo_alerts=DEMO_ALERTS, gold_share=0.1)
        log_dir = Path(tempfile.mkdtemp(prefix="blink-bench-classify-sqlite-"))
        bb.note(f"server and worker logs in {log_dir}")
        env = make_run_env(db_url)
        servers = bb.Servers(env, log_dir)
        worker = start_worker(env, log_dir)
        try:
            servers.start(1)  # make run serves with one daphne
            check_form_login(servers.ports[0])
            warm_up(servers.ports)
            measure(ns, servers, args, db="sqlite", workers=1)
        finally:
            servers.stop()
            worker.terminate()
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()


def failed_tasks() -> int:
    """Background tasks recorded as failed so far (a consensus recomputation that met a locked database...)."""
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.filter(status="FAILED").count()


def measure(ns: list[int], servers, args, *, db: str, workers: int) -> None:
    """For each N: N fresh volunteers load the servers for --seconds; their latencies and votes, as JSON lines."""
    procs, ports = servers.procs, servers.ports
    from django.db import connection

    for n in ns:
        volunteers = bb.sessions_for(f"bench-v{n}", n)
        tasks_failed_before = failed_tasks()
        connection.close()
        client_cpu, server_cpu = time.process_time(), sum(cpu_seconds(p.pid) for p in procs)
        machine = machine_jiffies()
        # The volunteers' clock: a full collection of this process's heap (Django, the seeded models) stalls
        # every simulated volunteer at once and would be counted as server latency.
        gc.collect()
        gc.freeze()
        tally, elapsed = asyncio.run(run_load(volunteers, ports, args.seconds, args.think_ms))
        # Where the 2 cores went: the simulated volunteers run on the same machine as the servers.
        client_cpu = time.process_time() - client_cpu
        server_cpu = sum(cpu_seconds(p.pid) for p in procs) - server_cpu
        busy, total = (b - a for a, b in zip(machine, machine_jiffies(), strict=True))
        lost, stored = votes_lost(tally.acked)
        context = {
            "n": n,
            "loadavg_1m": round(os.getloadavg()[0], 1),
            "think_ms": args.think_ms,
            "workers": workers,
            "seconds": round(elapsed, 1),
            "db": db,
            "server_cpu_s": round(server_cpu, 1),
            "client_cpu_s": round(client_cpu, 1),
            "machine_busy": round(busy / total, 2) if total else None,
        }
        for metric, values in (("next_subject_p95_ms", tally.next_ms), ("vote_p95_ms", tally.vote_ms)):
            spread = {"p50_ms": percentile(values, 50), "p99_ms": percentile(values, 99)}
            emit(metric, bb.percentile(values, 95), requests=len(values), **spread, **context)
        if os.environ.get("BLINK_BENCH_DUMP"):
            Path(os.environ["BLINK_BENCH_DUMP"]).write_text(json.dumps(sorted(tally.timeline)))
        emit("votes_per_s", len(tally.acked) / elapsed, acked=len(tally.acked), **context)
        emit(
            "votes_lost",
            lost,
            acked=len(tally.acked),
            stored=stored,
            retired_refusals=tally.retired,
            exhausted=tally.exhausted,
            errors=tally.errors,
            **context,
        )
        emit(
            "votes_refused",
            tally.refused,
            vote_requests=len(tally.vote_ms),
            tasks_failed=failed_tasks() - tasks_failed_before,
            errors=tally.errors,
            **context,
        )


if __name__ == "__main__":
    main()
