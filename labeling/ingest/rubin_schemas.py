"""Rubin's stream framing: a zero byte, a 4-byte big-endian schema ID, then one schemaless Avro record.

The schemas are data, not code: ``schemas/lsst/*.avsc`` (derived from the writer schemas of the shared Fink
alerts, Fink's own columns removed) and ``schemas/lsst/schema_ids.json`` (schema ID -> file). Supporting a new
``lsst.vX_Y`` is a new .avsc file and a line in that map; ``--schema FILE`` decodes with a file of one's own.
"""

from __future__ import annotations

import functools
import io
import json
from pathlib import Path

import fastavro

from labeling.ingest.packets import FileUnreadable

# A Rubin alert's own top-level fields (both schema versions; v10 renamed MPCORB to mpc_orbits). A broker's
# columns beside them (Fink's classifiers, cross-matches) are not read.
RECORD_FIELDS = (
    "diaSourceId", "observation_reason", "target_name", "diaSource", "prvDiaSources", "prvDiaForcedSources",
    "diaObject", "ssSource", "MPCORB", "mpc_orbits", "cutoutScience", "cutoutTemplate", "cutoutDifference",
)  # fmt: skip
# Read beside them when a broker's file has them: which schema wrote the record, who sent it.
CONTEXT_FIELDS = ("lsst_schema_version", "publisher")
# 64-bit identifiers: a value stored as floating point has lost digits (a double holds 53 bits), so the alert
# cannot be told from its neighbours and is refused.
ID_FIELDS = frozenset({"diaSourceId", "diaObjectId", "ssObjectId", "diaForcedSourceId", "parentDiaSourceId", "visit"})
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas" / "lsst"
FRAME_MAGIC = b"\x00"
FRAME_HEADER_BYTES = 5
# One alert with its cutouts is a few hundred kB; a framed record beyond this is not an alert.
MAX_FRAMED_BYTES = 16 * 1024 * 1024


@functools.cache
def schema_files() -> dict[int, Path]:
    """Schema ID -> .avsc file, from ``schema_ids.json``."""
    raw = json.loads((SCHEMA_DIR / "schema_ids.json").read_text())
    return {int(key): SCHEMA_DIR / name for key, name in raw.items() if not key.startswith("_")}


@functools.cache
def load_schema(path: Path) -> tuple[str, dict]:
    """(schema name, parsed schema) of one .avsc file; raises FileUnreadable naming the file."""
    try:
        schema = json.loads(Path(path).read_text())
        parsed = fastavro.parse_schema(schema)
    except (OSError, ValueError, fastavro.schema.SchemaParseException) as exc:
        raise FileUnreadable(f"schema {path} cannot be used ({type(exc).__name__}: {exc})") from exc
    # Rubin's schemas sit in namespace "lsst.vX_Y": that is the version's name (as Fink's lsst_schema_version).
    name = schema.get("namespace") if isinstance(schema, dict) else None
    return str(name or Path(path).stem), parsed


def schema_for_id(schema_id: int) -> tuple[str, dict]:
    path = schema_files().get(schema_id)
    if path is None:
        known = ", ".join(f"{k} ({p.stem})" for k, p in sorted(schema_files().items()))
        raise FileUnreadable(f"unknown Rubin schema ID {schema_id} (known: {known}; or give --schema FILE)")
    return load_schema(path)


def is_framed(head: bytes) -> bool:
    return len(head) >= 1 and head[:1] == FRAME_MAGIC


def read_framed(data: bytes, schema_path: Path | None = None) -> tuple[dict, str]:
    """The record of one framed message, and its schema's name. The schema is ``schema_path`` when given, else
    the one the frame's ID names. A record that does not decode, or leaves bytes over, is refused: either the
    message is cut short or it was written with another schema than the one its ID names."""
    if len(data) <= FRAME_HEADER_BYTES or not is_framed(data):
        raise FileUnreadable("not a Rubin framed alert (a zero byte, a 4-byte schema ID, then the record)")
    if len(data) > MAX_FRAMED_BYTES:
        raise FileUnreadable(f"framed record of {len(data)} bytes, more than {MAX_FRAMED_BYTES // 1024 // 1024} MiB")
    schema_id = int.from_bytes(data[1:FRAME_HEADER_BYTES], "big")
    name, parsed = load_schema(schema_path) if schema_path is not None else schema_for_id(schema_id)
    stream = io.BytesIO(data)
    stream.seek(FRAME_HEADER_BYTES)
    try:
        record = fastavro.schemaless_reader(stream, parsed, None)
    except Exception as exc:  # fastavro raises EOFError, ValueError, UnicodeDecodeError, IndexError...
        raise FileUnreadable(
            f"record does not decode with schema {name} (ID {schema_id}): truncated, or written with another "
            f"schema ({type(exc).__name__}: {exc})"
        ) from exc
    left = len(data) - stream.tell()
    if left:
        raise FileUnreadable(
            f"record does not match schema {name} (ID {schema_id}): {left} byte(s) left over after it; "
            "written with another schema?"
        )
    if not isinstance(record, dict):
        raise FileUnreadable(f"schema {name} does not describe an alert record")
    return record, name


def frame(record: dict, schema_id: int, schema_path: Path | None = None) -> bytes:
    """``record`` in Rubin's stream framing (used by the tests and the bench to make framed messages)."""
    _, parsed = load_schema(schema_path) if schema_path is not None else schema_for_id(schema_id)
    out = io.BytesIO()
    out.write(FRAME_MAGIC + schema_id.to_bytes(4, "big"))
    fastavro.schemaless_writer(out, parsed, record)
    return out.getvalue()
