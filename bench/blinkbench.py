"""Shared machinery of the benches: the JSON lines they print, a throwaway database (or a private PostgreSQL
cluster and Redis server that may be restarted at will), the seeded live campaign of the database-backed
benches, volunteers' sessions and daphne servers. The simulated volunteers and the checks of the books after a
run are in simulated_volunteers.py.

Not a benchmark itself; nothing here runs on import.
"""

from __future__ import annotations

import contextlib
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
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SLUG = "bench-real-bogus"


def emit(bench: str, metric: str, value, *, digits: int | None = 2, load_1m: bool = False, **context) -> None:
    """One JSON line, ``{"bench": ..., "metric": ..., "value": ..., **context}``, a float value rounded to
    ``digits`` (None: as it is). ``load_1m`` adds the 1-minute load average last: it says how much of the
    machine others were using while the value was measured."""
    if digits is not None and isinstance(value, float):
        value = round(value, digits)
    line = {"bench": bench, "metric": metric, "value": value, **context}
    if load_1m:
        line["load_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(line), flush=True)


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
    # Hundreds of simulated volunteers share 127.0.0.1, and a saturation run (--think-ms 0) votes far faster than
    # a person: the rate limits stay on (their cost is measured) but a hundred times wider (core/ratelimit.py).
    os.environ.setdefault("BLINK_RATE_LIMIT_SCALE", "100")
    import django

    django.setup()


def migrate() -> None:
    from django.core.management import call_command

    t = time.monotonic()
    call_command("migrate", verbosity=0)
    note(f"migrated in {time.monotonic() - t:.0f} s")


@contextlib.contextmanager
def bench_servers(private: bool):
    """``(admin_url, redis_url)``: a PostgreSQL cluster and a Redis of the bench's own, removed afterwards
    (``private``), or DATABASE_URL's server and REDIS_URL."""
    if not private:
        yield shared_server_url(), os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
        return
    pg, redis = PrivatePostgres(), PrivateRedis()
    try:
        admin = pg.init()
        redis.start()
        yield admin, redis.url
    finally:
        redis.stop()
        pg.destroy()


@contextlib.contextmanager
def bench_database(name: str, *, keep: bool = False, admin_url: str = "", redis_url: str = ""):
    """Django set up on a fresh, migrated database ``name`` (on DATABASE_URL's server, or ``admin_url``'s);
    yields its URL and drops it afterwards unless ``keep``."""
    admin = admin_url or shared_server_url()
    db_url = recreate_database(admin, name)
    setup_django(db_url, redis_url)
    try:
        migrate()
        yield db_url
    finally:
        from django.db import connections

        connections.close_all()
        if not keep:
            recreate_database(admin, name, drop_only=True)


def seed_campaign(*, n_subjects: int, retire_after: int, demo_alerts: int = 0, gold_share: float = 0.0) -> int:
    """The live real/bogus campaign (``SLUG``) of the database-backed benches, over ``n_subjects`` alerts in a
    random priority order, as a scored queue would have them. ``demo_alerts`` of the alerts come through the real
    ingest path (``fixtures.demo_alerts`` + ``labeling.ingest``); the rest are synthetic rows with blank stamps
    (the load is on votes, not stamps). With a ``gold_share``, every hundredth subject has a gold answer.
    Returns the campaign's id."""
    import datetime as dt

    import numpy as np
    from django.contrib.auth import get_user_model
    from django.db import connection

    from core.roles import SCIENTIST, grant_role
    from fixtures.demo_alerts import write_demo_alerts
    from labeling.ingest import ingest_paths
    from labeling.models import REAL_BOGUS_CLASSES, Alert, Campaign, Stamps, Subject

    if demo_alerts:
        with tempfile.TemporaryDirectory() as tmp:
            # workers=0: decode in this process (a spawned pool would have to set Django up again).
            report = ingest_paths(write_demo_alerts(Path(tmp), n=demo_alerts, seed=4), workers=0)
        note(f"ingested {report.new} demo alerts")
    base = 8_000_000_000_000_000
    blank = Stamps.pack(np.zeros((63, 63), dtype="float32"))
    extra = max(0, n_subjects - Alert.objects.count())
    for start in range(0, extra, 5000):
        alerts = Alert.objects.bulk_create(
            [
                Alert(
                    candid=base + i, object_id=f"ZTFbench{i:07d}", jd=2460700.5 + i * 1e-4, night=dt.date(2025, 1, 20),
                    fid=1 + i % 2, ra=(i * 0.37) % 360, dec=-20 + (i % 80), gal_l=(i * 0.11) % 360,
                    gal_b=-60 + (i % 120), magpsf=16 + (i % 50) / 10, sigmapsf=0.08, isdiffpos=i % 3 != 0,
                    fwhm=2.0 + (i % 10) / 10, elong=1.1, classtar=0.8, sgscore1=0.3, distpsnr1=4.0,
                    ndethist=1 + i % 7, jdstarthist=2460690.5, candidate={"candid": base + i},
                )
                for i in range(start, min(extra, start + 5000))
            ]
        )  # fmt: skip
        Stamps.objects.bulk_create(
            [Stamps(alert=a, height=63, width=63, science=blank, template=blank, difference=blank) for a in alerts]
        )
    owner = get_user_model().objects.create_user("bench-scientist", password=None)
    grant_role(owner, SCIENTIST)
    campaign = Campaign.objects.create(
        name="Bench real/bogus", slug=SLUG, owner=owner, classes=[dict(c) for c in REAL_BOGUS_CLASSES],
        state=Campaign.State.LIVE, retire_after=retire_after, gold_share=gold_share, exploration_share=0.2,
    )  # fmt: skip
    rng = random.Random(1)
    ids = list(Alert.objects.values_list("id", flat=True))
    Subject.objects.bulk_create(
        [
            Subject(
                campaign=campaign, alert_id=alert_id, random_key=rng.random(), priority=rng.random(),
                gold_answer=rng.choice(("real", "bogus")) if gold_share and j % 100 == 0 else "",
            )
            for j, alert_id in enumerate(ids)
        ],
        batch_size=5000,
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        # Seeding (and CREATE DATABASE) leaves dirty pages that the kernel writes back over the following seconds,
        # into the measured window: the votes' COMMITs then wait behind that writeback for their WAL fsync.
        # A checkpoint and a sync put the seed on disk before the clock starts.
        cursor.execute("CHECKPOINT" if connection.vendor == "postgresql" else "PRAGMA wal_checkpoint(TRUNCATE)")
    os.sync()
    note(f"live campaign with {len(ids)} subjects, retiring after {retire_after} votes")
    return campaign.pk


REPLICATE = """
INSERT INTO labeling_alert (candid, object_id, schemavsn, publisher, jd, night, nid, fid, ra, dec, gal_l, gal_b,
    magpsf, sigmapsf, diffmaglim, isdiffpos, rb, drb, fwhm, elong, classtar, nbad, magdiff, sgscore1, distpsnr1,
    ssdistnr, ssnamenr, ssmagnr, ndethist, ncovhist, jdstarthist, programid, field, rcid, candidate, source,
    demo_truth, ingested_at, survey)
SELECT 8000000000000000000 + %(k)s * 1000000 + row_number() OVER (ORDER BY id), object_id || 'r' || %(k)s,
    schemavsn, publisher, jd, night, nid, fid, ra, dec, gal_l, gal_b, magpsf, sigmapsf, diffmaglim, isdiffpos, rb,
    drb, fwhm, elong, classtar, nbad, magdiff, sgscore1, distpsnr1, ssdistnr, ssnamenr, ssmagnr, ndethist, ncovhist,
    jdstarthist, programid, field, rcid, '{}'::jsonb, 'bench replica', demo_truth, now(), survey
FROM labeling_alert WHERE candid < 8000000000000000000 ORDER BY id
"""
REPLICATE_STAMPS = """
WITH originals AS (
    SELECT id, row_number() OVER (ORDER BY id) AS k FROM labeling_alert WHERE candid < 8000000000000000000
)
INSERT INTO labeling_stamps (alert_id, height, width, science, template, difference, nan_fraction)
SELECT a.id, s.height, s.width, s.science, s.template, s.difference, s.nan_fraction
FROM labeling_alert a
JOIN originals o ON a.candid = 8000000000000000000 + %(k)s * 1000000 + o.k
JOIN labeling_stamps s ON s.alert_id = o.id
"""


def replicate_alerts(n_alerts: int) -> None:
    """Copies of the stored alerts and their stamps (new candids and object ids, same stamps) until there are
    ``n_alerts``: a large table at the price of a small ingest."""
    from django.db import connection

    from labeling.models import Alert

    with connection.cursor() as cursor:
        k = 1
        while Alert.objects.count() < n_alerts:
            cursor.execute(REPLICATE, {"k": k})
            cursor.execute(REPLICATE_STAMPS, {"k": k})
            k += 1
        # The last copies beyond n go, stamps first (the foreign key is checked at each statement's end).
        extra = "SELECT id FROM labeling_alert ORDER BY id OFFSET %s"
        cursor.execute(f"DELETE FROM labeling_stamps WHERE alert_id IN ({extra})", [n_alerts])
        cursor.execute(f"DELETE FROM labeling_alert WHERE id IN ({extra})", [n_alerts])
        cursor.execute("ANALYZE")


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


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile; the largest value of fewer than twenty (too few to say more), NaN of none."""
    if not values:
        return float("nan")
    if len(values) < 20:
        return max(values)
    return statistics.quantiles(values, n=100)[q - 1]
