"""Shared machinery of bench/load.py and bench/faults.py: a throwaway database (or a private PostgreSQL
cluster and Redis server that may be restarted at will), daphne servers, simulated volunteers that behave
like the classify page's outbox, and the checks that every acknowledged vote is stored exactly once.

Not a benchmark itself; nothing here runs on import.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SLUG = "load-real-bogus"


def emit(bench: str, metric: str, value, **context) -> None:
    if isinstance(value, float):
        value = round(value, 2)
    print(json.dumps({"bench": bench, "metric": metric, "value": value, **context}), flush=True)


def note(text: str) -> None:
    print(f"# {text}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, *, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for port {port} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on port {port} after {timeout:.0f} s") from None
            time.sleep(0.2)


# ------------------------------------------------------------------------------------------ databases


def shared_server_url() -> str:
    url = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        sys.exit(f"this bench measures PostgreSQL; DATABASE_URL is {parts.scheme}:// (set a postgres:// URL)")
    return urlunsplit(parts._replace(path="/postgres"))


def recreate_database(admin_url: str, name: str, *, drop_only: bool = False) -> str:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))


class PrivatePostgres:
    """A PostgreSQL cluster of our own in a temporary directory, so restarting it disturbs nobody else's
    databases. Runs as the ``postgres`` system user when we are root (PostgreSQL refuses root)."""

    def __init__(self):
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not bins:
            sys.exit("PostgreSQL server binaries not found under /usr/lib/postgresql")
        self.bin = bins[-1].parent
        self.dir = Path(tempfile.mkdtemp(prefix="blink-faults-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.log = self.dir / "postgres.log"
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.dir, "postgres", "postgres")

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([*self.as_user, *args], check=check, capture_output=True, text=True, timeout=120)

    def init(self) -> str:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.start()
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, action: str, *extra: str) -> None:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=on"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w", action, *extra)

    def start(self) -> None:
        self._ctl("start")

    def restart(self) -> None:
        # -m fast: disconnect every client and roll back what they had open, like a crash-restart would.
        self._ctl("restart", "-m", "fast")

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRedis:
    def __init__(self):
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, proc=self.proc)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None


# ------------------------------------------------------------------------------------------ Django side


def setup_django(db_url: str, redis_url: str = "") -> None:
    os.environ["DATABASE_URL"] = db_url
    if redis_url:
        os.environ["REDIS_URL"] = redis_url
    # Sessions made here must verify in the servers: the same key in both.
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(64))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("BLINK_LOG_LEVEL", "WARNING")
    os.environ.setdefault("BLINK_CHANNEL_PREFIX", f"bench{os.getpid()}")
    import django

    django.setup()


def migrate() -> None:
    from django.core.management import call_command

    t = time.monotonic()
    call_command("migrate", verbosity=0)
    note(f"migrated in {time.monotonic() - t:.0f} s")


def seed_campaign(*, n_subjects: int, retire_after: int) -> int:
    """A live real/bogus campaign over n_subjects alerts (synthetic rows: the load is on votes, not stamps)."""
    import datetime as dt

    from django.contrib.auth import get_user_model
    from django.db import connection

    from core.roles import SCIENTIST, grant_role
    from labeling.models import REAL_BOGUS_CLASSES, Alert, Campaign, Stamps, Subject

    base = 8_000_000_000_000_000
    blank = Stamps.pack(__import__("numpy").zeros((63, 63), dtype="float32"))
    for start in range(0, n_subjects, 5000):
        alerts = Alert.objects.bulk_create(
            [
                Alert(
                    candid=base + i, object_id=f"ZTF25load{i:06d}", jd=2460700.5 + i * 1e-4, night=dt.date(2025, 1, 20),
                    fid=1 + i % 2, ra=(i * 0.37) % 360, dec=-20 + (i % 80), gal_l=(i * 0.11) % 360,
                    gal_b=-60 + (i % 120), magpsf=16 + (i % 50) / 10, sigmapsf=0.08, isdiffpos=i % 3 != 0,
                    fwhm=2.5, elong=1.1, classtar=0.8, sgscore1=0.3, distpsnr1=4.0, ndethist=1 + i % 7,
                    jdstarthist=2460690.5, candidate={"candid": base + i},
                )
                for i in range(start, min(n_subjects, start + 5000))
            ]
        )  # fmt: skip
        Stamps.objects.bulk_create(
            [Stamps(alert=a, height=63, width=63, science=blank, template=blank, difference=blank) for a in alerts]
        )
    owner = get_user_model().objects.create_user("load-scientist", password=None)
    grant_role(owner, SCIENTIST)
    campaign = Campaign.objects.create(
        name="Load real/bogus", slug=SLUG, owner=owner, classes=[dict(c) for c in REAL_BOGUS_CLASSES],
        state=Campaign.State.LIVE, retire_after=retire_after, gold_share=0.0, exploration_share=0.2,
    )  # fmt: skip
    rng = random.Random(1)
    ids = list(Alert.objects.values_list("id", flat=True))
    Subject.objects.bulk_create(
        [Subject(campaign=campaign, alert_id=i, random_key=rng.random(), priority=rng.random()) for i in ids],
        batch_size=5000,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    note(f"live campaign with {len(ids)} subjects, retiring after {retire_after} votes")
    return campaign.pk


def sessions_for(prefix: str, n: int) -> list[dict]:
    """N volunteers, each with the session a form login would store (without N password hashes)."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore

    User = get_user_model()
    users = User.objects.bulk_create([User(username=f"{prefix}-{i}", password="!") for i in range(n)])
    out = []
    for user in users:
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[-1]
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        out.append({"user_id": user.pk, "session": session.session_key, "csrf": secrets.token_hex(16)})
    return out


# ------------------------------------------------------------------------------------------ servers


@dataclass
class Servers:
    env: dict
    log_dir: Path
    ports: list[int] = field(default_factory=list)
    procs: list[subprocess.Popen] = field(default_factory=list)

    def start(self, n: int) -> None:
        for _ in range(n):
            self.ports.append(free_port())
            self.procs.append(self._spawn(self.ports[-1]))
        for proc, port in zip(self.procs, self.ports, strict=True):
            wait_for_port(port, proc=proc)

    def _spawn(self, port: int) -> subprocess.Popen:
        log = open(self.log_dir / f"daphne-{port}.log", "ab")  # noqa: SIM115 - lives as long as the server
        return subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "daphne"), "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def kill9(self, i: int) -> None:
        self.procs[i].send_signal(signal.SIGKILL)
        self.procs[i].wait(timeout=10)

    def respawn(self, i: int) -> None:
        self.procs[i] = self._spawn(self.ports[i])
        wait_for_port(self.ports[i], proc=self.procs[i])

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def server_env(db_url: str, redis_url: str) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        # Not persistent: under daphne every request runs in a thread of its own, and a connection kept open by
        # each of them leaks until PostgreSQL refuses new clients (Django's advice for ASGI: CONN_MAX_AGE = 0).
        "DB_CONN_MAX_AGE": "0",
        "DB_POOL_MAX_SIZE": os.environ.get("BENCH_DB_POOL", "10"),
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "BLINK_LOG_LEVEL": "WARNING",
    }


# ------------------------------------------------------------------------------------------ volunteers


@dataclass
class Tally:
    next_ms: list[float] = field(default_factory=list)
    vote_ms: list[float] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    acked: list[str] = field(default_factory=list)
    replays: int = 0  # acknowledged as already stored (a retry after a lost answer)
    gave_up: list[str] = field(default_factory=list)
    shown_twice: int = 0
    retired_refusals: int = 0
    duplicate_refusals: int = 0
    exhausted: int = 0
    errors: Counter = field(default_factory=Counter)
    ack_times: list[float] = field(default_factory=list)
    failure_times: list[float] = field(default_factory=list)
    volunteer_ids: set[int] = field(default_factory=set)


def percentile(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) < 20:
        return max(values)
    return statistics.quantiles(values, n=100)[q - 1]


async def volunteer(
    v: dict, ports: list[int], until: float, think_ms: float, tally: Tally, *, retry_for: float
) -> None:
    """One volunteer as the classify page behaves: next subject, a pause, the vote; a vote that fails (network,
    5xx) is retried with the same idempotency key, with backoff, for up to ``retry_for`` seconds."""
    import httpx2

    cookies = {"sessionid": v["session"], "csrftoken": v["csrf"]}
    headers = {"X-CSRFToken": v["csrf"], "Accept": "application/json"}
    rng = random.Random(v["user_id"])
    tally.volunteer_ids.add(v["user_id"])
    seen: set[int] = set()
    port_index = v["user_id"] % len(ports)
    await asyncio.sleep(rng.random() * max(0.2, think_ms / 1000))

    def client():
        return httpx2.AsyncClient(
            base_url=f"http://127.0.0.1:{ports[port_index]}", cookies=cookies, headers=headers, timeout=15,
            limits=httpx2.Limits(max_connections=1, max_keepalive_connections=1),
        )  # fmt: skip

    c = client()
    try:
        while time.monotonic() < until:
            t0 = time.perf_counter()
            try:
                r = await c.get(f"/api/campaigns/{SLUG}/next/?n=1")
            except httpx2.HTTPError as exc:
                tally.errors[f"next:{type(exc).__name__}"] += 1
                await asyncio.sleep(0.5)
                continue
            if r.status_code != 200:
                tally.errors[f"next:{r.status_code}"] += 1
                await asyncio.sleep(0.5)
                continue
            tally.next_ms.append((time.perf_counter() - t0) * 1000)
            subjects = r.json()["subjects"]
            if not subjects:
                tally.exhausted += 1
                await asyncio.sleep(1.0)
                continue
            subject = subjects[0]["id"]
            if subject in seen:
                tally.shown_twice += 1
            seen.add(subject)
            if think_ms:
                await asyncio.sleep(think_ms * rng.uniform(0.5, 1.5) / 1000)
            key = str(uuid.uuid4())
            body = {"subject": subject, "answer": rng.choice(("real", "bogus", "real", "skip")), "idempotency_key": key}
            tally.sent.append(key)
            give_up_at = time.monotonic() + retry_for
            attempt = 0
            while True:
                t0 = time.perf_counter()
                try:
                    r = await c.post(f"/api/campaigns/{SLUG}/votes/", json=body)
                    status = r.status_code
                except httpx2.HTTPError as exc:
                    status, r = None, exc
                if status in (200, 201):
                    if attempt == 0:
                        tally.vote_ms.append((time.perf_counter() - t0) * 1000)
                    tally.acked.append(key)
                    tally.ack_times.append(time.monotonic())
                    tally.replays += status == 200
                    break
                if status == 409 and r.json().get("code") == "retired":
                    tally.retired_refusals += 1
                    break
                if status == 409 and r.json().get("code") == "duplicate":
                    tally.duplicate_refusals += 1
                    break
                if status is not None and status < 500:
                    tally.errors[f"vote:{status}:{r.json().get('code')}"] += 1
                    break
                tally.errors[f"vote:{status or type(r).__name__}"] += 1
                tally.failure_times.append(time.monotonic())
                if time.monotonic() > give_up_at:
                    tally.gave_up.append(key)
                    break
                attempt += 1
                await asyncio.sleep(min(2.0, 0.1 * 2**attempt) * rng.uniform(0.5, 1.5))
                if isinstance(r, httpx2.HTTPError):
                    # The server may have gone away: a new connection (as a browser would open).
                    await c.aclose()
                    c = client()
            await asyncio.sleep(0)
    finally:
        await c.aclose()


def warm_up(ports: list[int], v: dict) -> None:
    """One next-subject request per server before the clock starts: the first request of a process imports
    the scoring code (TensorFlow) and would otherwise be counted as the volunteers' wait."""
    import httpx2

    t = time.monotonic()
    for port in ports:
        with httpx2.Client(
            base_url=f"http://127.0.0.1:{port}", cookies={"sessionid": v["session"]}, timeout=300
        ) as client:
            r = client.get(f"/api/campaigns/{SLUG}/next/?n=1")
            if r.status_code != 200:
                raise RuntimeError(f"warm-up on port {port}: HTTP {r.status_code}")
    note(f"servers warmed up in {time.monotonic() - t:.1f} s")


async def run_volunteers(vs: list[dict], ports: list[int], seconds: float, think_ms: float, *, retry_for: float,
                         during=None) -> tuple[Tally, float]:  # fmt: skip
    """Run the volunteers for ``seconds``; ``during(tally, started)``, if given, runs alongside (a fault)."""
    tally = Tally()
    started = time.monotonic()
    until = started + seconds
    tasks = [volunteer(v, ports, until, think_ms, tally, retry_for=retry_for) for v in vs]
    if during is not None:
        tasks.append(during(tally, started))
    await asyncio.gather(*tasks)
    return tally, time.monotonic() - started


# ------------------------------------------------------------------------------------------ checks


def verify(campaign_id: int, tally: Tally) -> dict:
    """What must hold after any run, read from the database."""
    from django.db.models import Count

    from labeling.models import SKIP, Campaign, Subject, Vote
    from labeling.votes import retirement_reason

    campaign = Campaign.objects.get(pk=campaign_id)
    acked = set(tally.acked)
    sent = set(tally.sent)
    stored_keys = set()
    for start in range(0, len(tally.sent), 5000):
        chunk = tally.sent[start : start + 5000]
        stored_keys |= {
            str(k) for k in Vote.objects.filter(idempotency_key__in=chunk).values_list("idempotency_key", flat=True)
        }
    # This run's volunteers' votes (earlier runs on the same campaign had volunteers of their own).
    votes = Vote.objects.filter(campaign=campaign, volunteer_id__in=tally.volunteer_ids)
    n_votes = votes.count()
    distinct_pairs = votes.values("subject", "volunteer").distinct().count()
    per_key = votes.values("idempotency_key").annotate(n=Count("id")).filter(n__gt=1).count()
    ghosts = n_votes - len(stored_keys)  # stored votes whose key no client sent

    by_subject: dict[int, list[str]] = {}
    everyone = Vote.objects.filter(campaign=campaign)
    for subject_id, answer in everyone.order_by("created_at", "id").values_list("subject_id", "answer"):
        by_subject.setdefault(subject_id, []).append(answer)
    counter_mismatches = retirement_mismatches = 0
    for s in Subject.objects.filter(campaign=campaign).values("id", "n_classifications", "n_votes", "retired"):
        answers = by_subject.get(s["id"], [])
        if s["n_classifications"] != len(answers) or s["n_votes"] != sum(a != SKIP for a in answers):
            counter_mismatches += 1
        should = bool(retirement_reason(campaign=campaign, answers=answers))
        # Retired exactly when the rule was met, and by the last vote (no vote after retirement got in).
        exact = should == s["retired"] and (
            not should or not retirement_reason(campaign=campaign, answers=answers[:-1])
        )
        retirement_mismatches += not exact
    return {
        "votes_sent": len(sent),
        "votes_acked": len(acked),
        "votes_stored": n_votes,
        "votes_lost": len(acked - stored_keys),
        "votes_doubled": (n_votes - distinct_pairs) + per_key + max(0, ghosts),
        "stored_not_acked": len(stored_keys - acked),
        "gave_up": len(tally.gave_up),
        "shown_twice": tally.shown_twice,
        "counter_mismatches": counter_mismatches,
        "retirement_mismatches": retirement_mismatches,
        "retired_subjects": Subject.objects.filter(campaign=campaign, retired=True).count(),
    }
