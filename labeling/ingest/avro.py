"""Avro object containers (ZTF's packets, one or many records a file) into records and their user metadata.

The container is read here (magic, metadata map, sync marker, blocks) rather than by ``fastavro.reader``, so
that the writer schema is parsed once per distinct schema, not once per file, and each block is decoded by
the code ``labeling.ingest.avro_fast`` generates for that schema; fastavro reads what it declines.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import logging
import zlib

import fastavro

from labeling.ingest.avro_fast import compile_decoder
from labeling.ingest.packets import CUTOUT_FIELDS, FileUnreadable
from labeling.ingest.rubin_schemas import CONTEXT_FIELDS, RECORD_FIELDS

logger = logging.getLogger(__name__)

AVRO_MAGIC = b"Obj\x01"
# A packet is ~100 kB, a block of a few MB at most: refusing more keeps a deflate bomb harmless.
MAX_AVRO_BLOCK_BYTES = 64 * 1024 * 1024
# Where the demo generator (``fixtures.demo_alerts``) writes each packet's truth: the container's metadata.
TRUTH_METADATA_KEY = "blink.demo_truth"


def _zigzag_long(buf: memoryview, pos: int) -> tuple[int, int]:
    shift = 0
    acc = 0
    while True:
        if pos >= len(buf):
            raise FileUnreadable("truncated Avro header")
        b = buf[pos]
        pos += 1
        acc |= (b & 0x7F) << shift
        if not b & 0x80:
            break
        shift += 7
        if shift > 63:
            raise FileUnreadable("corrupt Avro header (bad varint)")
    return (acc >> 1) ^ -(acc & 1), pos


_schema_cache: dict[bytes, tuple] = {}
# What ingest reads of a packet. Everything else (a light-curve point's ~90 other fields, schema 4's forced
# photometry, a broker's own columns) is skipped by the Avro reader instead of becoming Python objects:
# building those was most of the decoding time.
PACKET_FIELDS = frozenset(
    {"schemavsn", "publisher", "objectId", "candid", "candidate", "prv_candidates", *(k for _, k in CUTOUT_FIELDS)}
    | {*RECORD_FIELDS, *CONTEXT_FIELDS}  # a Rubin alert's (labeling.ingest.rubin): no ZTF schema has these names
)
POINT_FIELDS = frozenset({"jd", "fid", "pid", "magpsf", "sigmapsf", "diffmaglim", "isdiffpos", "candid", "programid"})


def reader_schema(
    writer: dict, packet_fields: frozenset = PACKET_FIELDS, point_fields: frozenset = POINT_FIELDS
) -> dict | None:
    """The writer schema cut down to ``packet_fields`` (and prv_candidates to ``point_fields``)."""
    if not isinstance(writer, dict) or writer.get("type") != "record":
        return None
    reader = copy.deepcopy(writer)
    reader["fields"] = [f for f in reader["fields"] if f.get("name") in packet_fields]
    for f in reader["fields"]:
        if f["name"] != "prv_candidates":
            continue
        for branch in f["type"] if isinstance(f["type"], list) else [f["type"]]:
            items = branch.get("items") if isinstance(branch, dict) and branch.get("type") == "array" else None
            # ZTF's own schemas give the item record directly; Fink's (Spark) make it a nullable union.
            for item in items if isinstance(items, list) else [items]:
                if isinstance(item, dict) and item.get("type") == "record":
                    item["fields"] = [g for g in item["fields"] if g.get("name") in point_fields]
    return reader


def _parsed_schema(schema_bytes: bytes) -> tuple:
    """(writer, reader) parsed schemas and the generated decoder (``labeling.ingest.avro_fast``, None where it
    declines), cached: parsing a 25 kB ZTF schema costs more than decoding the alert, and the packets of a
    night share a handful of schemas."""
    key = hashlib.sha1(schema_bytes).digest()
    parsed = _schema_cache.get(key)
    if parsed is None:
        try:
            writer = json.loads(schema_bytes)
            writer_parsed = fastavro.parse_schema(writer)
        except Exception as exc:
            raise FileUnreadable(f"its Avro schema cannot be parsed ({exc})") from exc
        try:
            reader = reader_schema(writer)
            reader_parsed = fastavro.parse_schema(reader) if reader else None
        except Exception:  # an unusual schema: read it whole, as written
            reader_parsed = None
        decoder = None
        if reader_parsed is not None:
            try:
                decoder = compile_decoder(writer, PACKET_FIELDS, {"prv_candidates": POINT_FIELDS})
            except Exception:  # never worse than before: fastavro reads what the generated code cannot
                logger.debug("ingest: no generated decoder for this schema", exc_info=True)
        parsed = (writer_parsed, reader_parsed, decoder)
        if len(_schema_cache) > 64:
            _schema_cache.clear()
        _schema_cache[key] = parsed
    return parsed


def read_avro(data: bytes) -> tuple[list[dict], dict[str, bytes]]:
    """Decode an Avro object container (uncompressed or deflate) into records and its user metadata.

    A direct reader for the container format (magic, metadata map, sync marker, blocks) so the schema
    parse can be cached across files; other codecs go through ``fastavro.reader``.
    """
    if not data.startswith(AVRO_MAGIC):
        raise FileUnreadable("not an Avro file (no 'Obj\\x01' magic)")
    buf = memoryview(data)
    pos = 4
    meta: dict[str, bytes] = {}
    while True:
        count, pos = _zigzag_long(buf, pos)
        if count == 0:
            break
        if count < 0:
            count = -count
            _, pos = _zigzag_long(buf, pos)  # block size in bytes, unused
        # A corrupt count or a negative length would loop (for ever, stepping back) over bytes that are not there.
        if count > len(buf) - pos:
            raise FileUnreadable("corrupt Avro header (metadata count beyond the file)")
        for _ in range(count):
            klen, pos = _zigzag_long(buf, pos)
            if klen < 0 or pos + klen > len(buf):
                raise FileUnreadable("truncated Avro header")
            key = bytes(buf[pos : pos + klen]).decode("utf-8", "replace")
            pos += klen
            vlen, pos = _zigzag_long(buf, pos)
            if vlen < 0 or pos + vlen > len(buf):
                raise FileUnreadable("truncated Avro header")
            meta[key] = bytes(buf[pos : pos + vlen])
            pos += vlen
    sync = bytes(buf[pos : pos + 16])
    pos += 16
    if len(sync) != 16 or "avro.schema" not in meta:
        raise FileUnreadable("truncated Avro header (no schema or sync marker)")
    codec = meta.get("avro.codec", b"null").decode()
    if codec not in ("null", "deflate"):
        return _read_avro_with_fastavro(data)
    schema, reader_parsed, decoder = _parsed_schema(meta["avro.schema"])
    records: list[dict] = []
    while pos < len(buf):
        n_records, pos = _zigzag_long(buf, pos)
        size, pos = _zigzag_long(buf, pos)
        if size < 0 or pos + size + 16 > len(buf):
            raise FileUnreadable(f"truncated Avro data after {len(records)} record(s)")
        block = bytes(buf[pos : pos + size])
        pos += size
        if bytes(buf[pos : pos + 16]) != sync:
            raise FileUnreadable(f"corrupt Avro block after {len(records)} record(s) (sync marker mismatch)")
        pos += 16
        if codec == "deflate":
            inflater = zlib.decompressobj(-15)
            try:
                block = inflater.decompress(block, MAX_AVRO_BLOCK_BYTES)
            except zlib.error as exc:
                raise FileUnreadable(f"corrupt deflate block ({exc})") from exc
            if inflater.unconsumed_tail:
                raise FileUnreadable(
                    f"deflate block larger than {MAX_AVRO_BLOCK_BYTES // 1024 // 1024} MiB once decompressed"
                )
        if decoder is not None:
            decoded = decode_block(decoder, block, n_records)
            if decoded is not None:
                records.extend(decoded)
                continue
        stream = io.BytesIO(block)
        try:
            for _ in range(n_records):
                records.append(fastavro.schemaless_reader(stream, schema, reader_parsed))
        except Exception as exc:  # fastavro raises EOFError, ValueError, UnicodeDecodeError...
            raise FileUnreadable(f"corrupt Avro record #{len(records) + 1} ({type(exc).__name__}: {exc})") from exc
    return records, meta


def decode_block(decoder, block: bytes, n_records: int) -> list[dict] | None:
    """The block's records by the generated decoder, or None when it raises: fastavro then reads the block
    again, so a corrupt packet is refused with fastavro's own account of what is wrong."""
    out = []
    pos = 0
    try:
        for _ in range(n_records):
            record, pos = decoder(block, pos)
            out.append(record)
    except Exception:
        return None
    if pos > len(block):  # a skipped fixed-width value ran past the end: truncated, let fastavro say so
        return None
    return out


def _read_avro_with_fastavro(data: bytes) -> tuple[list[dict], dict[str, bytes]]:
    try:
        reader = fastavro.reader(io.BytesIO(data))
        records = list(reader)
    except Exception as exc:
        raise FileUnreadable(f"unreadable Avro ({type(exc).__name__}: {exc})") from exc
    meta = {k: (v.encode() if isinstance(v, str) else v) for k, v in reader.metadata.items()}
    return records, meta


def truth_by_candid(meta: dict[str, bytes]) -> dict[int, str]:
    raw = meta.get(TRUTH_METADATA_KEY)
    if not raw:
        return {}
    try:
        return {int(k): str(v) for k, v in json.loads(raw).items()}
    except (ValueError, AttributeError):
        return {}
