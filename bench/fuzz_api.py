"""Deep API fuzzing (``make fuzz``, not ``make test``): schemathesis against Blink's OpenAPI schema, as every role.

    python bench/fuzz_api.py [--examples 100] [--negative-examples 30] [--scenarios 30] [--steps 8]
                             [--shards 2] [--budget-s 600] [--seed N] [--only REGEX] [--db-name blink_fuzz_api]

Every operation gets ``--examples`` valid requests (the schema's shapes) and ``--negative-examples`` invalid ones,
each sent as anonymous, volunteer, scientist, ML lead and admin; then schemathesis' stateful mode follows the
schema's links (inferred from parameters and responses) for ``--scenarios`` call sequences per role. The work is
shared by ``--shards`` processes (one per core), each on a throwaway database of its own (``--db-name`` with
the shard's number, on DATABASE_URL's server) holding the world of ``tests/security/api_fuzzing.py``. No new
operation starts after ``--budget-s`` seconds (less the stateful runs' share); any left out are counted.

Prints ``{"bench": "fuzz_api", "metric": ..., "value": ...}`` for ``server_errors`` (5xx answers: must be 0),
``schema_violations`` (answers that do not match the schema), ``requests`` and ``stateful_links``; each distinct
failure is listed in the line of its metric. Exits non-zero if there was a server error.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import blinkbench as bb  # noqa: E402

emit = partial(bb.emit, "fuzz_api")
SHARD_METRIC = "shard_findings"
# Of the time budget, what the stateful runs keep for themselves (operations not started by then are skipped).
STATEFUL_SHARE = 0.15


def run_shard(args, k: int, n: int) -> None:
    """One process's share: operations ``i % n == k`` and the stateful runs of roles ``j % n == k``."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    from tests.security import api_fuzzing as fz
    from tests.security.rolematrix_world import ROLES

    # As production answers (DEBUG's technical pages are HTML where the API promises JSON).
    os.environ["DJANGO_DEBUG"] = "0"
    with bb.bench_database(f"{args.db_name}_{k}"), tempfile.TemporaryDirectory() as tmp:
        tokens = fz.build_fuzz_world(Path(tmp))
        # One connection for the whole run, as the test client keeps one (not one per request).
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        schema = fz.wsgi_schema()
        started = time.monotonic()
        findings = fz.fuzz_all(
            schema, tokens, examples=args.examples, negative_examples=args.negative_examples, shard=(k, n),
            seed=args.seed, only=args.only, deadline=args.deadline - STATEFUL_SHARE * args.budget_s,
        )  # fmt: skip
        bb.note(f"shard {k}: {findings.requests} requests in {time.monotonic() - started:.0f} s")
        links = 0
        for j, role in enumerate(ROLES):
            if j % n == k and args.scenarios and time.monotonic() < args.deadline:
                stateful, links = fz.fuzz_stateful(
                    schema, tokens, role=role, scenarios=args.scenarios, max_steps=args.steps, seed=args.seed
                )
                findings.add(stateful)
        print(json.dumps({
            "metric": SHARD_METRIC, "operations": findings.operations, "requests": findings.requests,
            "statuses": dict(findings.statuses), "server_errors": findings.server_errors,
            "failures": dict(findings.failures), "links": links, "seconds": round(time.monotonic() - started, 1),
            "skipped": findings.skipped,
        }), flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=100, help="valid requests per operation (each as 5 roles)")
    parser.add_argument("--negative-examples", type=int, default=30, help="invalid requests per operation")
    parser.add_argument("--scenarios", type=int, default=30, help="stateful call sequences per role")
    parser.add_argument("--steps", type=int, default=8, help="calls per stateful sequence at most")
    parser.add_argument("--shards", type=int, default=2, help="processes sharing the work")
    parser.add_argument("--seed", type=int, default=None, help="a fixed seed (default: a new one each run)")
    parser.add_argument("--db-name", default="blink_fuzz_api")
    parser.add_argument("--only", default="", help='a regular expression: fuzz only the matching "METHOD /path"s')
    parser.add_argument("--budget-s", type=float, default=600.0, help="stop starting new work after this long")
    parser.add_argument("--shard", default="", help=argparse.SUPPRESS)  # "k/n": run one share (internal)
    parser.add_argument("--deadline-in", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.shard:
        args.deadline = time.monotonic() + args.deadline_in
        k, n = map(int, args.shard.split("/"))
        run_shard(args, k, n)
        return

    bb.shared_server_url()  # refuses anything but PostgreSQL before a shard starts
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big")
    started = time.monotonic()
    base = [sys.executable, __file__, "--examples", str(args.examples), "--negative-examples",
            str(args.negative_examples), "--scenarios", str(args.scenarios), "--steps", str(args.steps),
            "--seed", str(seed), "--db-name", args.db_name, "--only", args.only, "--budget-s", str(args.budget_s),
            "--deadline-in", str(args.budget_s)]  # fmt: skip
    shards = [
        subprocess.Popen([*base, "--shard", f"{k}/{args.shards}"], stdout=subprocess.PIPE, text=True)
        for k in range(args.shards)
    ]
    results, crashed = [], []
    for k, proc in enumerate(shards):
        out, _ = proc.communicate()
        lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        found = [line for line in lines if line.get("metric") == SHARD_METRIC]
        if proc.returncode != 0 or not found:
            crashed.append(k)
        results.extend(found)
    failures: dict[str, int] = {}
    for r in results:
        for key, count in r["failures"].items():
            failures[key] = failures.get(key, 0) + count
    server = {k: v for k, v in failures.items() if k.startswith("server error")}
    violations = {k: v for k, v in failures.items() if not k.startswith("server error")}
    context = {
        "examples_per_operation_per_role": args.examples, "negative_examples_per_operation_per_role":
        args.negative_examples, "stateful_scenarios_per_role": args.scenarios, "seed": seed,
        "shards": args.shards, "wall_s": round(time.monotonic() - started, 1),
    }  # fmt: skip
    emit("server_errors", sum(r["server_errors"] for r in results), failures=server, **context)
    emit("schema_violations", sum(violations.values()), failures=violations, **context)
    statuses: dict[str, int] = {}
    for r in results:
        for key, count in r["statuses"].items():
            statuses[key] = statuses.get(key, 0) + count
    emit("requests", sum(r["requests"] for r in results), operations=sum(r["operations"] for r in results),
         operations_skipped_for_time=sum(r["skipped"] for r in results), statuses=statuses, **context)  # fmt: skip
    emit("stateful_links", max((r["links"] for r in results), default=0), **context)
    emit("crashes", len(crashed), shards_crashed=crashed, **context)
    if crashed or any(r["server_errors"] for r in results):
        sys.exit("the API answered with a server error (or a shard crashed): see the JSON lines above")


if __name__ == "__main__":
    main()
