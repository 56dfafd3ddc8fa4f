"""Finding alert files (files, directories, globs) and reading every packet of one: Avro or Fink Parquet."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from labeling.ingest.avro import AVRO_MAGIC, POINT_FIELDS, read_avro, truth_by_candid
from labeling.ingest.packets import FileUnreadable, RawAlert, parquet_rows
from labeling.ingest.rubin_files import is_rubin_table, read_rubin_parquet
from labeling.ingest.rubin_schemas import is_framed, read_framed

ALERT_SUFFIXES = (".avro", ".parquet")
PARQUET_MAGIC = b"PAR1"
# A night's packet is ~100 kB; a file beyond this is not an alert file, and must not be read into memory.
MAX_FILE_BYTES = 1024 * 1024 * 1024

ALERT_SUFFIXES = (".avro", ".parquet")


def expand_paths(paths: Iterable) -> tuple[list[Path], list[str]]:
    """Files named, files under directories (``*.avro``, ``*.parquet``, recursively) and glob matches.

    Returns the files (sorted, without repeats) and a message for each path that matched nothing.
    """
    found: list[Path] = []
    missing: list[str] = []
    for raw in paths:
        text = str(raw)
        path = Path(text)
        if path.is_dir():
            hits = sorted(p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(ALERT_SUFFIXES))
            if not hits:
                missing.append(f"{text}: directory holds no .avro or .parquet file")
        elif path.is_file():
            hits = [path]
        elif glob.has_magic(text):
            hits = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
            if not hits:
                missing.append(f"{text}: the pattern matches no file")
        else:
            hits = []
            missing.append(f"{text}: no such file or directory")
        found.extend(hits)
    seen: set[Path] = set()
    unique = []
    for p in found:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique, missing


def read_file(path: Path, schema: Path | None = None) -> Iterator[RawAlert]:
    """Yield every alert record of one Avro or Parquet file, or of one Rubin framed message (a zero byte, a
    schema ID, the schemaless record: decoded with ``schema`` when given, else the schema its ID names).
    Raises FileUnreadable with a reason."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > MAX_FILE_BYTES:
                raise FileUnreadable(
                    f"larger than {MAX_FILE_BYTES // 1024 // 1024} MiB ({size} bytes); split it into smaller files"
                )
            head = fh.read(4)
            if head == PARQUET_MAGIC:
                data = None
            elif head == AVRO_MAGIC or is_framed(head):
                data = head + fh.read()
            else:
                data = head
    except OSError as exc:
        raise FileUnreadable(f"cannot be read ({exc.strerror or exc})") from exc
    if data is None:
        yield from _read_parquet(path)
        return
    if not data:
        raise FileUnreadable("empty file")
    if is_framed(data):
        record, version = read_framed(data, schema)
        record.setdefault("lsst_schema_version", version)
        yield RawAlert(record, str(path))
        return
    if not data.startswith(AVRO_MAGIC):
        raise FileUnreadable("neither an Avro container, a Rubin framed record nor a Parquet file")
    try:
        records, meta = read_avro(data)
    except (IndexError, ValueError, OverflowError, MemoryError) as exc:
        # Lengths and counts in a corrupt container point anywhere; none of it may escape as a crash.
        raise FileUnreadable(f"corrupt Avro container ({type(exc).__name__}: {exc})") from exc
    truth = truth_by_candid(meta)
    many = len(records) > 1
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise FileUnreadable("its records are not alert records")
        source = f"{path}#{i}" if many else str(path)
        candid = record.get("candid")
        yield RawAlert(record, source, truth.get(candid, "") if isinstance(candid, int) else "")


def _read_parquet(path: Path) -> Iterator[RawAlert]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:
        raise FileUnreadable(f"unreadable Parquet ({exc})") from exc
    names = set(pf.schema_arrow.names)
    if is_rubin_table(names):
        yield from read_rubin_parquet(pf, path)
        return
    missing = {"candid", "candidate"} - names
    if missing:
        raise FileUnreadable(f"not a ZTF alert table (no column {', '.join(sorted(missing))})")
    # Fink adds its own science columns; only the alert's own columns are read.
    wanted = [c for c in ("objectId", "candid", "schemavsn", "publisher", "candidate", "prv_candidates",
                          "cutoutScience", "cutoutTemplate", "cutoutDifference") if c in names]  # fmt: skip
    if "prv_candidates" in wanted:
        # Only the light-curve fields of the history (as for Avro, ``POINT_FIELDS``): reading ~100 fields of
        # ~20 past detections into dicts was most of a Fink row's decoding time.
        leaves = [
            path
            for path in (pf.schema.column(i).path for i in range(len(pf.schema)))
            if path.startswith("prv_candidates.") and path.rsplit(".", 1)[-1] in POINT_FIELDS
        ]
        if leaves:
            wanted = [c for c in wanted if c != "prv_candidates"] + leaves
    yield from parquet_rows(pf, path, wanted)
