"""Ingest and stamp-rendering throughput, printed as JSON lines.

    python bench/ingest.py [--replicas K] [--rubin-replicas K] [--rubin-only] [--keep-db]

1. Creates a throwaway PostgreSQL database (``blink_bench_ingest`` on the server of DATABASE_URL, default
   postgres://postgres@127.0.0.1:5432/), migrates it, and drops it at the end.
2. ``alerts_per_s`` for the real packets of ../shared/data as they are (691 alerts: Avro files and Fink
   Parquet tables), end to end through ``labeling.ingest.ingest_paths`` (read, decode, validate, write).
3. ``alerts_per_s`` for K replicas of those packets (default 8, ~5,500 alerts), each replica with new
   candids and objectIds, written as Avro / Parquet files like the originals before the clock starts: the
   same code path on a sample large enough for a stable figure. Key ``"replicated": true`` says so.
   Besides wall-clock alerts/s, each line gives the CPU milliseconds per alert spent by this process, its
   worker processes (which decode and, on PostgreSQL, store) and the PostgreSQL server (every postgres
   process on the machine: other clients' queries count too), and what that CPU cost means on 2 dedicated cores: on a
   shared machine the wall-clock figure measures the neighbours as much as Blink.
4. With ../shared/data/lsst present, the same two ``alerts_per_s`` figures for the real Rubin alerts (127, Avro
   and Parquet) with ``"survey": "rubin"``: as they are, and ``--rubin-replicas`` copies (default 8) with new
   diaSourceId/diaObjectId. ``--rubin-only`` prints only these.
5. ``png_per_s``: ``labeling.stamps.stamp_png`` on stored stamps (decompress + ZScale + stretch + PNG) at
   the size the alert page asks for (252 px) and at the stamp's own size.

The ingest target is 1,000 alerts/s on 2 cores (a ZTF night of ~1 million alerts in under 17 minutes).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

from blinkbench import emit as blinkbench_emit
from blinkbench import recreate_database  # bench/ is the running script's folder, so on sys.path
from blinkbench import shared_server_url as server_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# BLINK_BENCH_DB: another name, so that two benches on one server do not drop each other's database.
BENCH_DB = os.environ.get("BLINK_BENCH_DB", "blink_bench_ingest")


emit = partial(blinkbench_emit, "ingest", digits=1)


def write_replicas(real_dir: Path, out: Path, k: int) -> int:
    """Copies of every real packet with candid + k*10^17 and objectId + "_k": new alerts, new objects."""
    import fastavro
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    n = 0
    offset = k * 10**17  # real candids are < 3.5e18, so k <= 50 stays inside int64 and clear of real ones
    for path in sorted((real_dir / "avro").rglob("*.avro")):
        with open(path, "rb") as fh:
            reader = fastavro.reader(fh)
            schema = reader.writer_schema
            records = list(reader)
        for r in records:
            r["candid"] += offset
            r["objectId"] = f"{r['objectId']}_{k}"
            if isinstance(r.get("candidate"), dict):
                r["candidate"]["candid"] = r["candid"]
        with open(out / f"r{k}_{path.name}", "wb") as fh:
            fastavro.writer(fh, fastavro.parse_schema(schema), records)
        n += len(records)
    for path in sorted((real_dir / "parquet").rglob("*.parquet")):
        table = pq.read_table(path)
        table = table.set_column(
            table.schema.get_field_index("candid"), "candid", pc.add(table["candid"], pa.scalar(offset, pa.int64()))
        )
        table = table.set_column(
            table.schema.get_field_index("objectId"),
            "objectId",
            pc.binary_join_element_wise(table["objectId"], pa.scalar(str(k)), "_"),
        )
        pq.write_table(table, out / f"r{k}_{path.name}")
        n += table.num_rows
    return n


def write_rubin_replicas(lsst_dir: Path, out: Path, k: int) -> int:
    """Copies of every real Rubin alert (Avro files and the Parquet table) with diaSourceId, diaObjectId and
    ssObjectId + k*10^17: new alerts, new objects. Real Rubin IDs are < 2.2e17, so k <= 8 stays clear of them
    and of ZTF's candids (> 1e18)."""
    import fastavro
    import pyarrow as pa
    import pyarrow.parquet as pq

    from labeling.ingest.rubin_schemas import CONTEXT_FIELDS, RECORD_FIELDS

    offset = k * 10**17

    def shifted(record: dict) -> dict:
        record["diaSourceId"] = (record.get("diaSourceId") or record["diaSource"]["diaSourceId"]) + offset
        record["diaSource"]["diaSourceId"] = record["diaSourceId"]
        for key in ("diaObjectId", "ssObjectId"):
            if record["diaSource"].get(key):
                record["diaSource"][key] += offset
        if record.get("diaObject"):
            record["diaObject"]["diaObjectId"] = record["diaSource"]["diaObjectId"]
        return record

    n = 0
    for path in sorted((lsst_dir / "avro").rglob("*.avro")):
        with open(path, "rb") as fh:
            reader = fastavro.reader(fh)
            schema = reader.writer_schema
            records = [shifted(r) for r in reader]
        with open(out / f"r{k}_{path.name}", "wb") as fh:
            fastavro.writer(fh, fastavro.parse_schema(schema), records)
        n += len(records)
    for path in sorted((lsst_dir / "parquet").rglob("*.parquet")):
        names = pq.ParquetFile(path).schema_arrow.names
        table = pq.read_table(path, columns=[c for c in RECORD_FIELDS + CONTEXT_FIELDS if c in names])
        rows = [shifted(r) for r in table.to_pylist()]
        pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), out / f"r{k}_{path.name}")
        n += len(rows)
    return n


def bench_rubin(lsst_dir: Path, replicas: int) -> None:
    """``alerts_per_s`` with ``survey="rubin"``: the real Rubin alerts as they are, then ``replicas`` copies of
    them (as the ZTF figure: new IDs, written before the clock starts)."""
    clear_alerts()
    elapsed, cpu, report = timed_ingest([lsst_dir])
    assert report.rejected == 0, report.errors[:5]
    emit_rate(
        "alerts_per_s",
        report.new,
        elapsed,
        survey="rubin",
        replicated=False,
        seconds=round(elapsed, 2),
        cpu_ms_per_alert=round(1000 * cpu / report.new, 3),
        note="includes one-off start-up (imports, worker processes)",
    )
    with tempfile.TemporaryDirectory(prefix="blink-bench-rubin-") as tmp:
        out = Path(tmp)
        n = sum(write_rubin_replicas(lsst_dir, out, k) for k in range(1, replicas + 1))
        ingest_replicas(
            out,
            n,
            None,
            survey="rubin",
            source=f"{replicas} copies of the real Rubin alerts with new diaSourceId/diaObjectId",
        )


def ingest_replicas(out: Path, n: int, workers: int | None, **context) -> None:
    """Ingest the ``n`` replicated packets in ``out`` (all new) and print their ``alerts_per_s``."""
    used = _workers_used(workers, out)  # chosen now: the default depends on the load average
    elapsed, cpu, report = timed_ingest([out], workers=used)
    assert report.rejected == 0, report.errors[:5]
    assert report.new == n, (report.new, n)
    cpu_ms = 1000 * cpu / report.new
    emit_rate(
        "alerts_per_s",
        report.new,
        elapsed,
        replicated=True,
        **context,
        seconds=round(elapsed, 2),
        workers=used,
        cpu_ms_per_alert=round(cpu_ms, 3),
        cpu_ms_split=dict(LAST_SPLIT),
        cpu_bound_alerts_per_s_on_2_cores=round(2000 / cpu_ms, 1),
    )


def postgres_cpu_seconds() -> float:
    """CPU seconds of every PostgreSQL process on this machine, the exited ones included: a backend's time
    moves into the postmaster's children's time when it exits, and with decoding workers each worker has
    its own backend, gone by the time the clock stops. 0 when /proc cannot be read (server elsewhere)."""
    total = 0
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0.0
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name, _, rest = text.partition(" (")[2].rpartition(") ")
        if name != "postgres":
            continue
        fields = rest.split()
        try:  # utime, stime, cutime, cstime: fields 14-17 of proc(5), 12-15 after the name
            total += sum(int(fields[i]) for i in (11, 12, 13, 14))
        except (ValueError, IndexError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def cpu_parts() -> tuple[float, float, float]:
    """CPU seconds so far of this process, its decoding workers (once the pool has joined them) and the
    PostgreSQL server."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime, postgres_cpu_seconds()


LAST_SPLIT: dict = {}


def timed_ingest(paths, workers: int | None = None) -> tuple[float, float, object]:
    """Wall seconds, CPU seconds (this process + its workers + the PostgreSQL server) and the report.
    The split by process, in ms per new alert, is left in LAST_SPLIT."""
    from labeling.ingest import ingest_paths

    before, started = cpu_parts(), time.perf_counter()
    report = ingest_paths(paths, workers=workers)
    elapsed = time.perf_counter() - started
    spent = [b - a for a, b in zip(before, cpu_parts(), strict=True)]
    per = 1000 / max(report.new, 1)
    LAST_SPLIT.clear()
    LAST_SPLIT.update(
        main_ms=round(spent[0] * per, 3), workers_ms=round(spent[1] * per, 3), postgres_ms=round(spent[2] * per, 3)
    )
    return elapsed, sum(spent), report


def _workers_used(requested: int | None, folder: Path) -> int:
    from labeling.ingest import expand_paths
    from labeling.ingest.workers import default_workers

    return requested if requested is not None else default_workers(len(expand_paths([folder])[0]))


def clear_alerts() -> None:
    from django.db import connection

    with connection.cursor() as cursor:  # TRUNCATE: deleting ~5,000 alerts row by row would dominate
        cursor.execute(
            "TRUNCATE labeling_stamps, labeling_stampplane, labeling_lightcurvepoint, labeling_alert "
            "RESTART IDENTITY CASCADE"
        )


def machine() -> dict:
    return {"cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)}


def emit_rate(metric: str, count: int, elapsed: float, **context) -> None:
    """One ingest rate: ``count`` alerts in ``elapsed`` seconds, with the machine's state beside it."""
    emit(metric, count / elapsed, n=count, db="postgresql", **context, **machine())


def bench_png(n_alerts: int = 200) -> None:
    from labeling.models import STAMP_KINDS, Stamps
    from labeling.stamps import stamp_png

    stamps = list(Stamps.objects.order_by("alert_id")[:n_alerts])
    for size in (252, None):
        started = time.perf_counter()
        count = 0
        for s in stamps:
            for kind in STAMP_KINDS:
                stamp_png(s.unpack(kind), stretch="linear", size=size)
                count += 1
        elapsed = time.perf_counter() - started
        emit(
            "png_per_s", count / elapsed, n=count, size=size or "native", stretch="linear", includes="unpack+zscale+png"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicas", type=int, default=8, help="copies of the real packets for the large run")
    parser.add_argument(
        "--workers", type=int, default=None, help="decoding processes for the replicated run (default: ingest's choice)"
    )
    parser.add_argument(
        "--rubin-replicas", type=int, default=8, help="copies of the real Rubin alerts (0: no Rubin figures)"
    )
    parser.add_argument("--rubin-only", action="store_true", help="only the Rubin figures")
    parser.add_argument("--keep-db", action="store_true", help=f"leave the {BENCH_DB} database for inspection")
    args = parser.parse_args()

    admin_url = server_url()
    try:
        db_url = recreate_database(admin_url, BENCH_DB)
    except Exception as exc:  # psycopg.OperationalError and friends
        sys.exit(f"bench/ingest.py: cannot create {BENCH_DB} on {admin_url}: {exc}")
    os.environ["DATABASE_URL"] = db_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("BLINK_LOG_LEVEL", "WARNING")

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    real_dir = Path(settings.SHARED_DATA_DIR) / "ztf"
    lsst_dir = Path(settings.SHARED_DATA_DIR) / "lsst"
    if not (real_dir / "manifest.csv").exists() and not args.rubin_only:
        sys.exit(f"bench/ingest.py: no real alerts at {real_dir}")
    try:
        call_command("migrate", verbosity=0, skip_checks=True)
        if args.rubin_only:
            bench_rubin(lsst_dir, args.rubin_replicas)
            return
        elapsed, cpu, report = timed_ingest([real_dir])
        assert report.rejected == 0, report.errors
        emit_rate(
            "alerts_per_s",
            report.new,
            elapsed,
            replicated=False,
            seconds=round(elapsed, 2),
            cpu_ms_per_alert=round(1000 * cpu / report.new, 3),
            note="includes one-off start-up (imports, worker processes)",
        )

        with tempfile.TemporaryDirectory(prefix="blink-bench-") as tmp:
            out = Path(tmp)
            n = sum(write_replicas(real_dir, out, k) for k in range(1, args.replicas + 1))
            modes = [args.workers] if args.workers is not None else [0, None]
            for i, workers in enumerate(modes):
                if i:  # the same packets again, as new alerts: clear the previous mode's rows first
                    clear_alerts()
                ingest_replicas(
                    out, n, workers, source=f"{args.replicas} copies of the real packets with new candid/objectId"
                )
            elapsed, cpu, report = timed_ingest([out])
            emit_rate("alerts_per_s_already_present", report.present, elapsed)
        bench_png()
        if args.rubin_replicas and (lsst_dir / "avro").is_dir():
            bench_rubin(lsst_dir, args.rubin_replicas)
    finally:
        connection.close()
        if not args.keep_db:
            recreate_database(admin_url, BENCH_DB, drop_only=True)


if __name__ == "__main__":
    main()
