"""``bench/scale.py``, short: two daphnes and two ``db_worker``s on one PostgreSQL and one Redis, a retrain asked for
through each daphne at once, one daphne killed -9 midway. No vote lost or doubled, no subject shown twice to one
volunteer, the double retrain runs once, every live count reaches the sockets on both daphnes, and the killed
daphne's volunteers vote again within ten seconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_two_daphnes_and_two_workers_lose_nothing_double_nothing_and_recover():
    database = os.environ.get("DATABASE_URL", "")
    if not database.startswith("postgres") or not os.environ.get("REDIS_URL"):
        pytest.skip("needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL), as make test sets them")
    db_name = (urlsplit(database).path.strip("/") or "blink") + "_scale"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "scale.py"), "--volunteers", "6", "--seconds", "16", "--subjects", "300",
         "--respawn-after", "2", "--train-wait", "300", "--db-name", db_name],
        cwd=ROOT, env={**os.environ, "BLINK_TF_THREADS": "1"}, capture_output=True, text=True, timeout=900,
        check=False,
    )  # fmt: skip
    lines = {d["metric"]: d for d in map(json.loads, filter(None, done.stdout.splitlines()))}
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert lines["votes_lost"]["value"] == 0
    assert lines["votes_lost"]["acked"] > 0
    assert lines["votes_doubled"]["value"] == 0
    assert lines["subjects_shown_twice"]["value"] == 0
    runs = lines["runs_started"]
    assert runs["value"] == 1, runs
    assert sorted(r["created"] for r in runs["requests"]) == [False, True]
    assert len({r["run"] for r in runs["requests"]}) == 1
    missed = lines["events_missed"]
    assert missed["value"] == 0, missed
    assert missed["counts_sent"] > 0
    assert min(missed["received"].values()) > 0, missed
    assert lines["recovery_s"]["value"] <= 10
