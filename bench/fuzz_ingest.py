"""Deep ingest fuzzing (``make fuzz``, not ``make test``): real packets of ../shared/data mutated into hostile files.

    python bench/fuzz_ingest.py [--mutations 10000] [--workers 2] [--budget-s 540] [--seed N] [--timeout 120]
                                [--db-name blink_fuzz_ingest]

Each mutation takes one real ZTF file (Avro packet or Fink Parquet table) and makes it hostile: bit flips,
truncation, a swapped schema (another packet's header over its blocks, a foreign LSST packet, Parquet columns
under each other's names), huge arrays (a history of 100,000 points, megabytes of stamp, a FITS header claiming
a vast image), NaN/Inf fields, gzip bombs in the cutouts, odd values (extreme integers, 100,000-character
strings). The kinds and mutations are ``tests/security/hostile_packets.py``'s, the same for the same seed. Each
file is ingested and checked there: refused by name or stored whole, never half.

``--workers`` processes (one per core) share the mutations, each on a throwaway database of its own (``--db-name``
with its number, on DATABASE_URL's server), with its address space capped so a bomb that got through fails it
rather than the machine. A worker that dies or takes longer than ``--timeout`` on one file is a crash; it is
started again after that mutation. No mutation starts after ``--budget-s`` seconds (the line says how many ran).

Prints ``{"bench": "fuzz_ingest", "metric": ..., "value": ...}`` for ``mutations``, ``crashes`` (an exception out of
ingest, a worker killed, a hang), ``half_written`` (rows stored from a refused file), ``server_errors`` (always 0:
ingest runs here, not behind the API; the line keeps the fuzz targets' three figures together) and the outcome of
each kind; exits non-zero if anything crashed or was half-written. Without ../shared/data it says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import blinkbench as bb  # noqa: E402

emit = partial(bb.emit, "fuzz_ingest")
WORKER_ADDRESS_SPACE = 6 << 30
BAD_OUTCOMES = ("crash", "half_written", "unnamed_refusal")


def data_dir() -> Path:
    return Path(os.environ.get("BLINK_SHARED_DATA", bb.ROOT.parent / "shared" / "data"))


def plan(seed: int, i: int, files: dict) -> tuple[str, random.Random, Path]:
    """Mutation ``i`` of a run: its kind, its random source and the real file it starts from."""
    from tests.security.hostile_packets import FUZZ_KINDS

    rng = random.Random(f"{seed}:{i}")
    kind = FUZZ_KINDS[i % len(FUZZ_KINDS)]
    pool = files["parquet"] if rng.random() < 0.1 and files["parquet"] else files["avro"]
    return kind, rng, rng.choice(pool)


def run_worker(args, k: int, n: int, start: int) -> None:
    """Mutations ``start, start + n, ...``: one JSON line each, on stdout."""
    resource.setrlimit(resource.RLIMIT_AS, (WORKER_ADDRESS_SPACE, WORKER_ADDRESS_SPACE))
    name, admin = f"{args.db_name}_{k}", bb.shared_server_url()
    if args.fresh:
        bb.recreate_database(admin, name)
    bb.setup_django(urlunsplit(urlsplit(admin)._replace(path=f"/{name}")))
    if args.fresh:
        bb.migrate()
    from tests.security.hostile_packets import ingest_mutation, mutate_file, real_packet_files

    files = real_packet_files(data_dir())
    with tempfile.TemporaryDirectory(prefix="blink-fuzz-ingest-") as tmp:
        for i in range(start, args.mutations, n):
            if time.time() > args.deadline:
                break
            kind, rng, source = plan(args.seed, i, files)
            print(json.dumps({"i": i, "started": True}), flush=True)
            t0 = time.perf_counter()
            suffix, data = mutate_file(kind, rng, source, files)
            path = Path(tmp) / f"fuzz-{i}-{kind}{suffix}"
            path.write_bytes(data)
            t1 = time.perf_counter()
            result = ingest_mutation(path)
            path.unlink()
            ms = {"mutate_ms": round((t1 - t0) * 1000), "ingest_ms": round((time.perf_counter() - t1) * 1000)}
            print(json.dumps({"i": i, "kind": kind, "source": source.name, **result, **ms}), flush=True)


def _pump(proc: subprocess.Popen, lines: queue.Queue) -> None:
    for line in proc.stdout:
        lines.put(line)
    lines.put(None)


class Supervisor:
    """Runs one worker, restarting it after a crash or a hang, and collects its results."""

    def __init__(self, args, k: int, n: int, results: queue.Queue):
        self.args, self.k, self.n, self.results = args, k, n, results

    def spawn(self, start: int, fresh: bool) -> subprocess.Popen:
        cmd = [sys.executable, __file__, "--worker", f"{self.k}/{self.n}", "--start", str(start), "--seed",
               str(self.args.seed), "--mutations", str(self.args.mutations), "--db-name", self.args.db_name,
               "--deadline", str(self.args.deadline)]  # fmt: skip
        return subprocess.Popen(cmd + (["--fresh"] if fresh else []), stdout=subprocess.PIPE, text=True, bufsize=1)

    def run(self) -> None:
        start, fresh = self.k, True
        while start < self.args.mutations:
            proc = self.spawn(start, fresh)
            fresh = False
            lines: queue.Queue = queue.Queue()
            threading.Thread(target=_pump, args=(proc, lines), daemon=True).start()
            current = None
            while True:
                try:
                    line = lines.get(timeout=self.args.timeout if current is not None else 600)
                except queue.Empty:
                    proc.kill()
                    line = None
                    reason = f"hang: no answer within {self.args.timeout:.0f} s"
                else:
                    reason = None
                if line is None:
                    proc.wait()
                    if current is None:
                        if start < self.args.mutations and proc.returncode:
                            raise RuntimeError(f"worker {self.k} failed before its first mutation")
                        return
                    self.results.put({"i": current, "kind": "?", "outcome": "crash",
                                      "detail": reason or f"worker died (exit {proc.returncode})"})  # fmt: skip
                    start = current + self.n
                    break
                if not line.startswith("{"):
                    continue
                result = json.loads(line)
                if result.get("started"):
                    current = result["i"]
                    continue
                self.results.put(result)
                current = None
            else:
                return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mutations", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=None, help="a fixed seed (default: a new one each run)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds one file may take")
    parser.add_argument("--db-name", default="blink_fuzz_ingest")
    parser.add_argument("--budget-s", type=float, default=540.0, help="start no mutation after this long")
    parser.add_argument("--worker", default="", help=argparse.SUPPRESS)  # "k/n" (internal)
    parser.add_argument("--deadline", type=float, default=None, help=argparse.SUPPRESS)  # time.time()
    parser.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--fresh", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        k, n = map(int, args.worker.split("/"))
        run_worker(args, k, n, args.start)
        return

    if not (data_dir() / "ztf").is_dir():
        emit("skipped", True, reason=f"no real packets: {data_dir()} is absent")
        return
    bb.shared_server_url()  # refuses anything but PostgreSQL before a worker starts
    args.seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big")
    args.deadline = time.time() + args.budget_s
    started = time.monotonic()
    results: queue.Queue = queue.Queue()
    supervisors = [Supervisor(args, k, args.workers, results) for k in range(args.workers)]
    threads = [threading.Thread(target=s.run, daemon=True) for s in supervisors]
    for t in threads:
        t.start()
    by_kind: dict[str, Counter] = defaultdict(Counter)
    findings: list[dict] = []
    done = 0
    while any(t.is_alive() for t in threads) or not results.empty():
        try:
            result = results.get(timeout=1)
        except queue.Empty:
            continue
        done += 1
        by_kind[result["kind"]][result["outcome"]] += 1
        if result["outcome"] in BAD_OUTCOMES:
            findings.append(result)
        if done % 1000 == 0:
            bb.note(f"{done} mutations in {time.monotonic() - started:.0f} s")
    totals = Counter()
    for counts in by_kind.values():
        totals += counts
    context = {"seed": args.seed, "workers": args.workers, "wall_s": round(time.monotonic() - started, 1)}
    emit("mutations", done, asked=args.mutations, budget_s=args.budget_s, outcomes=dict(totals), **context)
    for kind, counts in sorted(by_kind.items()):
        emit("outcomes", kind, **dict(counts), **context)
    emit("crashes", totals["crash"], findings=[f for f in findings if f["outcome"] == "crash"][:20], **context)
    emit("half_written", totals["half_written"],
         findings=[f for f in findings if f["outcome"] == "half_written"][:20], **context)  # fmt: skip
    emit("unnamed_refusals", totals["unnamed_refusal"],
         findings=[f for f in findings if f["outcome"] == "unnamed_refusal"][:20], **context)  # fmt: skip
    emit("server_errors", 0, note="ingest runs in-process here; the API's are bench/fuzz_api.py's", **context)
    for k in range(args.workers):
        bb.recreate_database(bb.shared_server_url(), f"{args.db_name}_{k}", drop_only=True)
    if findings:
        sys.exit("ingest crashed, half-wrote or refused without naming the file: see the JSON lines above")


if __name__ == "__main__":
    main()
