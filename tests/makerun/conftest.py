"""A Blink started the way ``make run`` starts it, for the tests of a real user's first hour.

The run target of the Makefile, step for step: a SQLite file, no ``REDIS_URL`` (so the in-memory channel layer
and the database cache), ``DJANGO_DEBUG=0`` with a random secret key, ``manage.py migrate``,
``createcachetable``, ``setup_demo``, then ``daphne`` and one ``manage.py db_worker --queue-name '*'`` as
processes of their own. Nothing of the test settings reaches them: the environment is stripped of every
``DJANGO_*``, ``BLINK_*``, ``DATABASE_URL`` and ``REDIS_URL``. ``test_make_run_recipe`` checks that the Makefile
still starts Blink this way.

The tests read the SQLite file itself (read-only) for what is stored; they never use pytest-django's database.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.frontend.conftest import CHROMIUM, launched_chromium

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SETUP_TIMEOUT_S = 600
START_TIMEOUT_S = 120

# What make run does before serving, in order (the Makefile's DEMO_DIR is a path under the test's folder here).
# A smaller demo than make run's 600 generated alerts (the real ones are all ingested): the starter model then
# trains faster, and the expert campaign still holds well over the 100 subjects the votes need.
DEMO_ALERTS = "200"
SETUP_COMMANDS = (
    ("migrate", "--noinput"),
    ("createcachetable",),
    ("setup_demo", "--alerts-dir", "{demo_dir}", "--n", DEMO_ALERTS),
)
WORKER_ARGS = ("db_worker", "--queue-name", "*", "--no-reload")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_run_env(folder: Path) -> dict:
    """The environment of someone who typed ``make run``: none of the suite's settings, a SQLite file."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "BLINK_")) and k not in ("DATABASE_URL", "REDIS_URL", "PYTEST_CURRENT_TEST")
    }
    env.update(
        DATABASE_URL=f"sqlite:///{folder / 'blink.sqlite3'}",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        PYTHONUNBUFFERED="1",
    )
    return env


def _tail(path: Path, n: int = 4000) -> str:
    return path.read_text(errors="replace")[-n:] if path.exists() else f"({path.name} is empty)"


@dataclass
class MakeRun:
    url: str
    folder: Path
    db_path: Path
    procs: dict = field(default_factory=dict)

    def db(self) -> sqlite3.Connection:
        """A read-only connection to the site's SQLite file (WAL: it sees every committed write)."""
        return sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30)

    def query(self, sql: str, params=()) -> list[tuple]:
        with self.db() as conn:
            return conn.execute(sql, params).fetchall()

    def logs(self) -> str:
        return "\n".join(f"--- {name}.log ---\n{_tail(self.folder / f'{name}.log')}" for name in ("daphne", "worker"))

    def alive(self) -> None:
        for name, proc in self.procs.items():
            assert proc.poll() is None, f"{name} exited with {proc.returncode}\n{self.logs()}"


def _serve(folder: Path, env: dict, port: int) -> dict:
    daphne = [str(BIN / "daphne")] if (BIN / "daphne").exists() else [sys.executable, "-m", "daphne"]
    procs = {}
    for name, argv in (
        ("worker", [sys.executable, "manage.py", *WORKER_ARGS]),
        ("daphne", [*daphne, "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"]),
    ):
        log = open(folder / f"{name}.log", "wb")  # noqa: SIM115 - closed when the process is stopped
        procs[name] = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        procs[name].log = log
    return procs


def _wait_until_serving(site: MakeRun) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        site.alive()
        try:
            with urllib.request.urlopen(f"{site.url}/accounts/login/", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"daphne did not answer within {START_TIMEOUT_S} s\n{site.logs()}")


def _stop(procs: dict) -> None:
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs.values():
        try:
            # The worker ends its task in hand first (the rescoring after a promotion may still be going on).
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        proc.log.close()


@pytest.fixture(scope="package")
def make_run(tmp_path_factory):
    """Blink as ``make run`` serves it, on a free port, for every module of this directory (one ``setup_demo``,
    the slow part, for all); stopped at their end. Each module's tests keep to their own campaign."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM} (make chromium installs it)")
    folder = tmp_path_factory.mktemp("makerun")
    env = make_run_env(folder)
    for args in SETUP_COMMANDS:
        argv = [sys.executable, "manage.py", *(a.format(demo_dir=folder / "demo_alerts") for a in args)]
        done = subprocess.run(
            argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=SETUP_TIMEOUT_S, check=False
        )
        assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    port = free_port()
    site = MakeRun(url=f"http://127.0.0.1:{port}", folder=folder, db_path=folder / "blink.sqlite3")
    site.procs = _serve(folder, env, port)
    try:
        _wait_until_serving(site)
        yield site
    finally:
        _stop(site.procs)


@pytest.fixture(scope="module")
def chromium():
    yield from launched_chromium()
