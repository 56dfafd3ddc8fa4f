"""Load: 200 simulated volunteers against daphne + PostgreSQL + Redis on loopback, then the books are checked.

    python bench/load.py [--volunteers 200] [--seconds 30] [--think-ms 1000] [--workers 2]
                         [--subjects 5000] [--retire-after 3] [--keep-db]

A throwaway database (``blink_bench_load`` on the server of DATABASE_URL) is created, migrated and seeded with
one live real/bogus campaign that retires subjects after --retire-after votes, so retirement happens under the
load. --workers daphne processes serve it (DEBUG off, persistent connections, Redis channel layer on
REDIS_URL). Each volunteer loops for --seconds: next subject, a pause, the vote; a failed vote is retried with
the same idempotency key, as the page's outbox does. Afterwards, from the database:

With --private the bench runs on a PostgreSQL cluster and a Redis of its own (removed afterwards).

- votes acknowledged = votes stored (``votes_lost`` = acknowledged but not stored: must be 0),
- none doubled (``votes_doubled``: two votes of one volunteer on one subject, one key stored twice, or a
  stored vote no client sent: must be 0),
- no subject shown twice to one volunteer (``shown_twice``),
- retirement exact: every subject's counters equal its stored votes, and a subject is retired exactly when
  its votes meet the rule, by its last vote.

Prints ``{"bench": "load", "metric": ..., "value": ...}`` for votes_per_s, vote_p95_ms, vote_p99_ms,
next_subject_p95_ms, votes_lost and votes_doubled (plus the other checks), and exits non-zero if a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import blinkbench as bb  # noqa: E402
import simulated_volunteers as sv  # noqa: E402

emit = partial(bb.emit, "load")

BENCH_DB = "blink_bench_load"


def run(args, db_url: str, redis_url: str) -> bool:
    """Seed, serve, let the volunteers loop, check the books; True when every check held."""
    servers = bb.Servers(bb.server_env(db_url, redis_url), Path(tempfile.mkdtemp(prefix="blink-bench-load-")))
    try:
        campaign_id = bb.seed_campaign(n_subjects=args.subjects, retire_after=args.retire_after)
        volunteers = bb.sessions_for("load", args.volunteers)
        warm = bb.sessions_for("warm", 1)[0]
        from django.db import connection

        connection.close()
        servers.start(args.workers)
        bb.note(f"{args.workers} daphne on ports {servers.ports}; logs in {servers.log_dir}")
        sv.warm_up(servers.ports, warm)
        tally, elapsed = asyncio.run(
            sv.run_volunteers(volunteers, servers.ports, args.seconds, args.think_ms, retry_for=30.0)
        )
        checks = sv.verify(campaign_id, tally)
    finally:
        servers.stop()
    context = {
        "n": args.volunteers, "seconds": round(elapsed, 1), "think_ms": args.think_ms, "workers": args.workers,
        "db": "postgresql", "redis": True, "private_servers": args.private,
        "loadavg_1m": round(os.getloadavg()[0], 1),
    }  # fmt: skip
    emit("votes_per_s", len(tally.acked) / elapsed, acked=len(tally.acked), **context)
    for metric, values, q in (("vote_p95_ms", tally.vote_ms, 95), ("vote_p99_ms", tally.vote_ms, 99),
                              ("next_subject_p95_ms", tally.next_ms, 95)):  # fmt: skip
        emit(metric, bb.percentile(values, q), requests=len(values), **context)
    emit("votes_lost", checks["votes_lost"], acked=checks["votes_acked"], stored=checks["votes_stored"], **context)
    for name in ("votes_doubled", "shown_twice", "counter_mismatches", "retirement_mismatches", "retired_subjects",
                 "stored_not_acked", "gave_up"):  # fmt: skip
        emit(name, checks[name], **context)
    emit("refusals", tally.retired_refusals + tally.duplicate_refusals,
         retired=tally.retired_refusals, duplicate=tally.duplicate_refusals, exhausted=tally.exhausted,
         errors=dict(tally.errors), **context)  # fmt: skip
    return len(tally.acked) > 0 and all(checks[k] == 0 for k in ("votes_lost", "votes_doubled", "shown_twice",
                                        "counter_mismatches", "retirement_mismatches"))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--volunteers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--think-ms", type=float, default=1000.0, help="mean pause before each vote (0 = none)")
    parser.add_argument("--workers", type=int, default=2, help="daphne processes (default 2)")
    parser.add_argument("--subjects", type=int, default=5000)
    parser.add_argument("--retire-after", type=int, default=3)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument(
        "--private", action="store_true",
        help="run on a PostgreSQL cluster and Redis of the bench's own (as bench/faults.py does) instead of "
        "DATABASE_URL's server and REDIS_URL, so other databases' traffic on the machine is not measured",
    )  # fmt: skip
    args = parser.parse_args()

    ok = False
    with (
        bb.bench_servers(args.private) as (admin, redis_url),
        bb.bench_database(BENCH_DB, keep=args.keep_db, admin_url=admin, redis_url=redis_url) as db_url,
    ):
        ok = run(args, db_url, redis_url)
    if not ok:
        sys.exit("a check failed: see the JSON lines above")


if __name__ == "__main__":
    main()
