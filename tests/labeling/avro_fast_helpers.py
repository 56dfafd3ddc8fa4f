"""What the avro_fast test modules share: ``labeling.ingest.avro_fast``'s decoder beside fastavro's
``schemaless_reader`` for the same schema, a schema with every Avro type, and records of it."""

from __future__ import annotations

import io
import json
import math
import random
import struct
from pathlib import Path

import fastavro
import pytest
from django.conf import settings

from labeling.ingest.avro import PACKET_FIELDS, POINT_FIELDS, reader_schema
from labeling.ingest.avro_fast import compile_decoder

NESTED = {"prv_candidates": POINT_FIELDS}
# What a malformed datum may raise; anything else (KeyError, TypeError) would be a leak of the fast path.
DECODE_ERRORS = (IndexError, ValueError, EOFError, struct.error, UnicodeDecodeError, RecursionError)


def avro_dir() -> Path:
    return Path(settings.SHARED_DATA_DIR) / "ztf" / "avro"


def real_files() -> list[Path]:
    folder = avro_dir()
    files = sorted(folder.rglob("*.avro")) if folder.is_dir() else []
    if not files:
        pytest.skip(f"no real ZTF Avro packets under {folder} (../shared/data is absent)")
    return files


def container(path: Path) -> tuple[dict, list[bytes]]:
    """The writer schema (JSON, as ingest loads it) and each record's bytes, cut out of the container blocks."""
    with open(path, "rb") as fh:
        blocks = fastavro.block_reader(fh)
        writer = json.loads(blocks.metadata["avro.schema"])
        parsed = fastavro.parse_schema(writer)
        blobs = []
        for block in blocks:
            data = block.bytes_.getvalue()
            stream = io.BytesIO(data)
            for _ in range(block.num_records):
                start = stream.tell()
                fastavro.schemaless_reader(stream, parsed)
                blobs.append(data[start : stream.tell()])
    return writer, blobs


def each_packet(paths):
    """(Schema with ingest's keep-sets, writer schema, one record's bytes, path) of every record of the Avro
    files, one Schema per distinct writer schema."""
    schemas: dict[str, Schema] = {}
    for path in paths:
        writer, blobs = container(path)
        key = json.dumps(writer, sort_keys=True)
        if key not in schemas:
            schemas[key] = ingest_schema(writer)
        for blob in blobs:
            yield schemas[key], writer, blob, path


class Schema:
    """A writer schema with both decoders: fastavro's (with ingest's cut reader schema or none) and ours."""

    def __init__(self, writer, top_fields=None, nested=None, required=True):
        self.writer = fastavro.parse_schema(writer)
        if top_fields is None:
            self.reader = None
        else:
            # The keep-sets go through ingest's own reader_schema, so the test follows what ingest does.
            point_fields = frozenset((nested or {}).get("prv_candidates", ()))
            cut = reader_schema(writer, frozenset(top_fields), point_fields)
            self.reader = fastavro.parse_schema(cut) if cut else None
        self.decode = compile_decoder(writer, top_fields, nested)
        assert self.decode is not None or not required, "compile_decoder declined the schema"

    def slow(self, blob: bytes):
        stream = io.BytesIO(blob)
        value = fastavro.schemaless_reader(stream, self.writer, self.reader)
        return value, stream.tell()


def ingest_schema(writer: dict) -> Schema:
    return Schema(writer, PACKET_FIELDS, NESTED)


def difference(a, b, path="") -> str | None:
    """Where ``a`` and ``b`` differ, in value or in type (True is not 1, 0.0 is not -0.0, NaN is NaN)."""
    if type(a) is not type(b):
        return f"{path or 'value'}: {type(a).__name__} {a!r:.80} vs {type(b).__name__} {b!r:.80}"
    if isinstance(a, float):
        same = struct.pack("<d", a) == struct.pack("<d", b)
    elif isinstance(a, dict):
        if list(a) != list(b):
            return f"{path or 'value'}: keys {list(a)} vs {list(b)}"
        return next((d for k in a if (d := difference(a[k], b[k], f"{path}.{k}"))), None)
    elif isinstance(a, list):
        if len(a) != len(b):
            return f"{path or 'value'}: {len(a)} items vs {len(b)}"
        return next(
            (d for i, (x, y) in enumerate(zip(a, b, strict=True)) if (d := difference(x, y, f"{path}[{i}]"))), None
        )
    else:
        same = a == b
    return None if same else f"{path or 'value'}: {a!r:.80} vs {b!r:.80}"


def assert_same(schema: Schema, blob: bytes, label: str = "") -> None:
    expected = schema.slow(blob)
    got = schema.decode(blob, 0)
    assert got[1] == expected[1] == len(blob), f"{label}: ends at {got[1]}, fastavro at {expected[1]}"
    diff = difference(got[0], expected[0])
    assert diff is None, f"{label}: {diff}"


def assert_both_raise(schema: Schema, blob: bytes) -> None:
    with pytest.raises(Exception):  # noqa: B017 - whatever fastavro makes of it
        schema.slow(blob)
    with pytest.raises(DECODE_ERRORS):
        schema.decode(blob, 0)


# A schema with every type: each field's type is read and skipped by the tests.
SYNTHETIC = {
    "type": "record",
    "name": "Everything",
    "namespace": "blink.test",
    "fields": [
        {"name": "nothing", "type": "null"},
        {"name": "flag", "type": "boolean"},
        {"name": "small", "type": "int"},
        {"name": "big", "type": "long"},
        {"name": "single", "type": "float"},
        {"name": "double", "type": {"type": "double"}},
        {"name": "raw", "type": "bytes"},
        {"name": "text", "type": "string"},
        {"name": "reversed", "type": ["double", "null"]},
        # No bytes next to string here: with a cut, fastavro would turn one into the other (declined below).
        {"name": "many", "type": ["null", "int", "string", "boolean", "float"]},
        {"name": "colour", "type": {"type": "enum", "name": "Colour", "symbols": ["RED", "GREEN", "BLUE"]}},
        {"name": "colour_again", "type": "Colour"},  # short name, resolved in blink.test
        {"name": "colour_full", "type": ["null", "blink.test.Colour"]},
        {"name": "digest", "type": {"type": "fixed", "name": "Digest", "namespace": "other.space", "size": 4}},
        {"name": "digest_again", "type": "other.space.Digest"},
        {
            "name": "candidate",
            "type": {
                "type": "record",
                "name": "ztf.alert.candidate",  # a dotted name sets its own namespace
                "fields": [
                    {"name": "jd", "type": "double"},
                    {"name": "magpsf", "type": ["null", "float"]},
                    {"name": "band", "type": {"type": "enum", "name": "Band", "symbols": ["g", "r", "i"]}},
                    {"name": "band_again", "type": ["Band", "null"]},  # ztf.alert.Band
                    {"name": "isdiffpos", "type": ["null", "string"]},
                ],
            },
        },
        {"name": "candidates", "type": {"type": "array", "items": "ztf.alert.candidate"}},
        {"name": "maybe_candidates", "type": ["null", {"type": "array", "items": ["null", "ztf.alert.candidate"]}]},
        {"name": "grid", "type": {"type": "array", "items": {"type": "array", "items": ["long", "null"]}}},
        {"name": "tags", "type": {"type": "map", "values": "string"}},
        {"name": "bands", "type": {"type": "map", "values": {"type": "array", "items": ["null", "ztf.alert.Band"]}}},
        {
            "name": "chain",
            "type": {
                "type": "record",
                "name": "Link",
                "fields": [{"name": "value", "type": "int"}, {"name": "next", "type": ["null", "Link"]}],
            },
        },
        {
            "name": "pairs",
            "type": {
                "type": "array",
                "items": {
                    "type": "record",
                    "name": "Pair",
                    "fields": [{"name": "a", "type": "double"}, {"name": "b", "type": "other.space.Digest"}],
                },
            },
        },
        {"name": "pair_map", "type": {"type": "map", "values": "Pair"}},
        {"name": "flags", "type": {"type": "map", "values": ["null", "boolean"]}},
        {
            "name": "prv_candidates",
            "type": [
                "null",
                {
                    "type": "array",
                    "items": [
                        "null",
                        {
                            "type": "record",
                            "name": "Point",
                            "fields": [
                                {"name": "jd", "type": "double"},
                                {"name": "fid", "type": "int"},
                                {"name": "note", "type": ["null", "string"]},
                                {"name": "cells", "type": {"type": "array", "items": "float"}},
                                {"name": "extra", "type": {"type": "map", "values": ["string", "null", "long"]}},
                                {"name": "magpsf", "type": ["float", "null"]},
                                {"name": "where", "type": ["null", "Pair"]},
                                {"name": "kind", "type": "Colour"},
                                {"name": "stamp", "type": ["null", "other.space.Digest"]},
                            ],
                        },
                    ],
                },
            ],
        },
        {"name": "tail", "type": "long"},
    ],
}


def encode(schema, record) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), record)
    return out.getvalue()


def _candidate(rng: random.Random) -> dict:
    return {
        "jd": rng.uniform(2458000, 2461000),
        "magpsf": rng.choice([None, rng.uniform(12, 22)]),
        "band": rng.choice("gri"),
        "band_again": rng.choice([None, "r"]),
        "isdiffpos": rng.choice([None, "t", "f", "1", "0"]),
    }


def _point(rng: random.Random) -> dict | None:
    if rng.random() < 0.15:
        return None
    return {
        "jd": rng.uniform(2458000, 2461000),
        "fid": rng.randint(1, 3),
        "note": rng.choice([None, "", "x" * rng.randint(1, 200)]),
        "cells": [rng.uniform(-1, 1) for _ in range(rng.randint(0, 5))],
        "extra": {f"k{i}": rng.choice(["v", None, rng.randint(-(2**63), 2**63 - 1)]) for i in range(rng.randint(0, 3))},
        "magpsf": rng.choice([None, rng.uniform(12, 22)]),
        "where": rng.choice([None, {"a": rng.random(), "b": b"\x00\x01\x02\x03"}]),
        "kind": rng.choice(["RED", "GREEN", "BLUE"]),
        "stamp": rng.choice([None, b"\xff\xfe\xfd\xfc"]),
    }


def synthetic_records() -> list[dict]:
    rng = random.Random(5)
    records = []
    extremes = [0, 1, -1, 63, -64, 64, 2**31 - 1, -(2**31), 2**63 - 1, -(2**63)]
    specials = [0.0, -0.0, math.inf, -math.inf, math.nan, 1e-310, 1.5e300]
    for i in range(12):
        records.append(
            {
                "nothing": None,
                "flag": i % 2 == 0,
                "small": extremes[i % 7],
                "big": extremes[i % len(extremes)],
                "single": struct.unpack("<f", struct.pack("<f", rng.uniform(-1e6, 1e6)))[0],
                "double": specials[i % len(specials)] if i % 2 else rng.uniform(-1e9, 1e9),
                "raw": bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 63, 64, 300]))),
                "text": ["", "ZTF21aaaaaaa", "é∂ƒ©˙∆˚¬…æ", "🌌" * 40, "x" * 64][i % 5],
                "reversed": None if i % 3 == 0 else rng.random(),
                "many": [None, -7, "str", True, 0.5, False][i % 6],
                "colour": ["RED", "GREEN", "BLUE"][i % 3],
                "colour_again": "BLUE",
                "colour_full": None if i % 2 else "GREEN",
                "digest": b"abcd",
                "digest_again": bytes([i, 0, 255, 7]),
                "candidate": _candidate(rng),
                "candidates": [_candidate(rng) for _ in range(i % 4)],
                "maybe_candidates": None if i % 3 == 1 else [rng.choice([None, _candidate(rng)]) for _ in range(i % 5)],
                "grid": [[rng.choice([None, rng.randint(-1000, 10**12)]) for _ in range(j)] for j in range(i % 4)],
                "tags": {f"tag{j}": "é" * j for j in range(i % 4)},
                "bands": {"x": [None, "g", "i"], "y": []} if i % 2 else {},
                "chain": {"value": 1, "next": {"value": 2, "next": {"value": 3, "next": None}}}
                if i % 2
                else {"value": 0, "next": None},
                "pairs": [{"a": float(j), "b": b"wxyz"} for j in range(i % 3)],
                "pair_map": {"p": {"a": -1.0, "b": b"\x00\x00\x00\x00"}} if i % 2 else {},
                "flags": {"on": True, "off": False, "unknown": None},
                "prv_candidates": None if i % 4 == 3 else [_point(rng) for _ in range(i % 6)],
                "tail": -i,
            }
        )
    return records
