"""labeling.avro_fast against fastavro.schemaless_reader: real and demo packets, a schema with every Avro type,
hand-written encodings fastavro's writer never produces, fuzzed bytes, and the schemas it declines.

Plain unit tests: no database.
"""

from __future__ import annotations

import copy
import io
import json
import math
import random
import struct
from pathlib import Path

import fastavro
import pytest
from django.conf import settings

from labeling import ingest
from labeling.avro_fast import ZERO_WIDTH_ITEM_LIMIT, compile_decoder

NESTED = {"prv_candidates": ingest.POINT_FIELDS}
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


class Schema:
    """A writer schema with both decoders: fastavro's (with ingest's cut reader schema or none) and ours."""

    def __init__(self, writer, top_fields=None, nested=None, required=True):
        self.writer = fastavro.parse_schema(writer)
        if top_fields is None:
            self.reader = None
        else:
            # The keep-sets go through ingest's own _reader_schema, so the test follows what ingest does.
            patched = (ingest.PACKET_FIELDS, ingest.POINT_FIELDS)
            ingest.PACKET_FIELDS = frozenset(top_fields)
            ingest.POINT_FIELDS = frozenset((nested or {}).get("prv_candidates", ()))
            try:
                cut = ingest._reader_schema(copy.deepcopy(writer))
            finally:
                ingest.PACKET_FIELDS, ingest.POINT_FIELDS = patched
            self.reader = fastavro.parse_schema(cut) if cut else None
        self.decode = compile_decoder(writer, top_fields, nested)
        assert self.decode is not None or not required, "compile_decoder declined the schema"

    def slow(self, blob: bytes):
        stream = io.BytesIO(blob)
        value = fastavro.schemaless_reader(stream, self.writer, self.reader)
        return value, stream.tell()


def ingest_schema(writer: dict) -> Schema:
    return Schema(writer, ingest.PACKET_FIELDS, NESTED)


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


# ----------------------------------------------------------------------------------------------------
# Real and demo packets
# ----------------------------------------------------------------------------------------------------


def test_every_real_packet_decodes_as_fastavro_does():
    schemas: dict[str, Schema] = {}
    records = 0
    for path in real_files():
        writer, blobs = container(path)
        key = json.dumps(writer, sort_keys=True)
        if key not in schemas:
            schemas[key] = ingest_schema(writer)
        for blob in blobs:
            assert_same(schemas[key], blob, str(path))
            records += 1
    assert records >= len(real_files())
    # More than one schema (ZTF's and the brokers' variants) took part.
    assert len(schemas) > 1


def test_demo_packets_decode_as_fastavro_does(tmp_path):
    from fixtures.demo_alerts import write_demo_alerts

    paths = write_demo_alerts(tmp_path, n=20, seed=11)
    assert len(paths) == 20
    schemas: dict[str, Schema] = {}
    for path in paths:
        writer, blobs = container(path)
        key = json.dumps(writer, sort_keys=True)
        schema = schemas.setdefault(key, ingest_schema(writer))
        for blob in blobs:
            assert_same(schema, blob, path.name)
            # Reading everything must agree too.
            assert_same(Schema(writer), blob, f"{path.name}, all fields")


def test_decodes_from_an_offset_and_from_a_memoryview():
    writer, blob = SYNTHETIC, encode(SYNTHETIC, synthetic_records()[0])
    decode = compile_decoder(writer)
    expected = decode(blob, 0)
    padded = b"\x07" * 5 + blob + b"trailing bytes"
    for buf, start in ((padded, 5), (memoryview(padded), 5), (bytearray(blob), 0)):
        value, pos = decode(buf, start)
        assert difference(value, expected[0]) is None
        assert pos == start + len(blob)


# ----------------------------------------------------------------------------------------------------
# A schema with every type
# ----------------------------------------------------------------------------------------------------

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


@pytest.mark.parametrize("index", range(12))
def test_every_type_decodes_as_fastavro_does(index):
    record = synthetic_records()[index]
    blob = encode(SYNTHETIC, record)
    assert_same(Schema(SYNTHETIC), blob, "all fields")
    # Every field kept but one, and prv_candidates cut down: fastavro then resolves against a reader schema.
    cut = Schema(SYNTHETIC, {f["name"] for f in SYNTHETIC["fields"]} - {"grid"}, {"prv_candidates": {"fid", "magpsf"}})
    assert_same(cut, blob, "cut")
    # Only a few fields kept, everything else skipped (the skip code of every type).
    # (Not Point's kind, stamp or where: Colour, Digest and Pair are defined in fields dropped here.)
    few = Schema(SYNTHETIC, {"small", "prv_candidates", "tail"}, {"prv_candidates": {"cells", "note"}})
    assert_same(few, blob, "few")
    value, _ = few.decode(blob, 0)
    assert list(value) == ["small", "prv_candidates", "tail"]
    for point in value["prv_candidates"] or []:
        assert point is None or list(point) == ["note", "cells"]


# Hand-written encodings: fastavro's writer never splits arrays into blocks, never writes negative block
# counts (which carry a byte size), nor a varint longer than it needs to be; other writers may.
BLOCKS = {
    "type": "record",
    "name": "Blocks",
    "fields": [
        {"name": "numbers", "type": {"type": "array", "items": "long"}},
        {"name": "words", "type": {"type": "map", "values": ["null", "string"]}},
        {"name": "doubles", "type": {"type": "array", "items": "double"}},
        {"name": "maybe", "type": ["null", "double"]},
        {
            "name": "prv_candidates",
            "type": {
                "type": "array",
                "items": {
                    "type": "record",
                    "name": "P",
                    "fields": [{"name": "a", "type": ["null", "double"]}, {"name": "b", "type": "string"}],
                },
            },
        },
        {"name": "tail", "type": "int"},
    ],
}
D = struct.pack("<d", 2.5)
BLOCK_BLOBS = {
    "negative counts": (
        b"\x03\x04\x0a\x01"
        + b"\x02\x0e"
        + b"\x00"  # numbers: 2 items (with byte size), then 1, then the end
        + b"\x01\x0a\x02k\x02\x02v"
        + b"\x02\x02j\x00"
        + b"\x00"  # words: {"k": "v"}, then {"j": None}
        + b"\x03\x20"
        + D
        + D
        + b"\x00"  # doubles
        + b"\x02"
        + D  # maybe
        + b"\x01\x16\x02"
        + D
        + b"\x02z"
        + b"\x02\x00\x00"
        + b"\x00"  # prv_candidates, in two blocks
        + b"\x54"  # tail = 42
    ),  # fmt: skip
    "wrong byte sizes (fastavro ignores them)": (
        b"\x03\x7f\x0a\x01\x00"
        + b"\x01\x01\x02k\x00\x00"
        + b"\x01\x00"
        + D
        + b"\x00"
        + b"\x00"
        + b"\x01\x02\x00\x00\x00"
        + b"\x00"
    ),  # fmt: skip
    "over-long varints": (
        b"\x84\x00\x8a\x80\x00\x01\x00"  # numbers: count 2 in two bytes, 5 in three
        + b"\x82\x00\x82\x00k\x82\x80\x00\x82\x00v\x00"  # words: count, key length, branch, value length
        + b"\x80\x00"  # doubles: an empty array, its end count in two bytes
        + b"\x82\x00"
        + D  # maybe: branch 1 in two bytes
        + b"\x02\x82\x00"
        + D
        + b"\x80\x80\x00"
        + b"\x00"  # prv_candidates
        + b"\xd4\x80\x80\x80\x00"  # tail = 42 in five bytes
    ),  # fmt: skip
}


@pytest.mark.parametrize("case", list(BLOCK_BLOBS))
def test_hand_written_encodings_decode_as_fastavro_does(case):
    blob = BLOCK_BLOBS[case]
    assert_same(Schema(BLOCKS), blob, case)
    for label, schema in [
        ("all skipped", Schema(BLOCKS, {"tail"})),
        ("cut", Schema(BLOCKS, {"maybe", "prv_candidates", "tail"}, {"prv_candidates": {"b"}})),
    ]:
        if case.startswith("wrong byte sizes"):
            # Skipping, fastavro jumps by the byte size and lands in the middle of the data: both must raise.
            with pytest.raises(Exception):  # noqa: B017 - whatever fastavro makes of it
                schema.slow(blob)
            with pytest.raises(DECODE_ERRORS):
                schema.decode(blob, 0)
        else:
            assert_same(schema, blob, f"{case}, {label}")


def test_a_skipped_block_is_jumped_by_its_byte_size():
    record = {
        "type": "record",
        "name": "R",
        "fields": [{"name": "a", "type": {"type": "array", "items": "long"}}, {"name": "z", "type": "int"}],
    }
    schema = Schema(record, {"z"})
    # Two items, 5 and -1, in a block of 2 bytes: fastavro does not look at the items...
    assert_same(schema, b"\x03\x04\x0a\x01\x00\x06")
    assert_same(schema, b"\x03\x04\xff\xff\x00\x06")
    # ... and a byte size that is off leads elsewhere.
    for blob in (b"\x03\x06\x0a\x01\x00\x06", b"\x03\x00\x0a\x01\x00\x06", b"\x03\x01\x0a\x01\x00\x06"):
        with pytest.raises(Exception):  # noqa: B017
            schema.slow(blob)
        with pytest.raises(DECODE_ERRORS):
            schema.decode(blob, 0)


# ----------------------------------------------------------------------------------------------------
# Malformed input
# ----------------------------------------------------------------------------------------------------

BAD = [
    # (schema, bytes, whether fastavro raises too: where it does not, it makes a value up)
    (["null", "int"], b"\x04", True),  # branch 2 of 2
    (["null", "int"], b"\x01\x02", False),  # branch -1: fastavro takes the last one
    ({"type": "enum", "name": "E", "symbols": ["A", "B"]}, b"\x04", True),
    ({"type": "enum", "name": "E", "symbols": ["A", "B"]}, b"\x01", False),
    ("string", b"\x02\xff", True),  # not UTF-8
    ("string", b"\x06\xed\xa0\x80", True),  # a UTF-16 surrogate
    ("string", b"\x01abc", True),  # negative length
    ("bytes", b"\x08abc", True),  # length past the end
    ("double", b"\x00" * 7, True),
    ("float", b"\x00" * 3, True),
    ({"type": "fixed", "name": "F", "size": 4}, b"\x00\x00", True),
    ("long", b"\xff" * 10 + b"\x01", False),  # 11 bytes: fastavro wraps round
    ("long", b"\x80" * 9 + b"\x02", False),  # bit 64
    ("long", b"\x80\x80", True),  # unfinished
    ("long", b"", True),
    ({"type": "array", "items": "long"}, b"\xfe\xff\xff\xff\xff\xff\xff\xff\x7f\x02", True),  # 2**62 items
    ({"type": "map", "values": "long"}, b"\xfe\xff\xff\xff\x0f\x02a\x02", True),
    ({"type": "array", "items": "null"}, b"\xfe\xff\xff\xff\x0f\x00", None),  # 2**31 nulls: fastavro builds them
    ({"type": "record", "name": "R", "fields": [{"name": "s", "type": "string"}, {"name": "n", "type": "int"}]}, b"\x02", True),
]  # fmt: skip


@pytest.mark.parametrize(("schema", "blob", "fastavro_raises"), BAD, ids=[repr(b[1])[:40] for b in BAD])
def test_malformed_input_raises(schema, blob, fastavro_raises):
    decode = compile_decoder(schema)
    with pytest.raises(DECODE_ERRORS):
        decode(blob, 0)
    if fastavro_raises is not None:
        try:
            fastavro.schemaless_reader(io.BytesIO(blob), fastavro.parse_schema(schema))
        except Exception:
            raised = True
        else:
            raised = False
        assert raised is fastavro_raises


def test_skipped_values_are_checked_too():
    record = {
        "type": "record",
        "name": "R",
        "fields": [
            {"name": "s", "type": "string"},
            {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A"]}},
            {"name": "u", "type": ["null", "double"]},
            {"name": "n", "type": "int"},
        ],
    }
    keep_n = compile_decoder(record, {"n"})
    assert keep_n(b"\x02x\x00\x00\x04", 0) == ({"n": 2}, 5)
    for blob in (
        b"\x01x\x00\x00\x04",  # negative length in a skipped string
        b"\x7ex\x00\x00\x04",  # a skipped string longer than the buffer
        b"\x02x\x00\x04\x04",  # union branch 2 of 2
        b"\x02x\x00\x01\x04",  # union branch -1 (fastavro reads it as the last: stricter here)
        b"\x02x\x00\x02\x00\x00",  # a double cut short, then nothing left for n
    ):
        with pytest.raises(DECODE_ERRORS):
            keep_n(blob, 0)


def test_zero_width_items_are_capped():
    decode = compile_decoder({"type": "array", "items": "null"})
    most = encode("long", ZERO_WIDTH_ITEM_LIMIT) + b"\x00"
    assert decode(most, 0) == ([None] * ZERO_WIDTH_ITEM_LIMIT, len(most))
    with pytest.raises(ValueError, match="ZERO_WIDTH_ITEM_LIMIT"):
        decode(encode("long", ZERO_WIDTH_ITEM_LIMIT + 1) + b"\x00", 0)
    # Skipped, they cost nothing, so there is no limit.
    record = {"type": "record", "name": "R", "fields": [{"name": "a", "type": {"type": "array", "items": "null"}}]}
    assert compile_decoder(record, set())(encode("long", 2**40) + b"\x00", 0) == ({}, 7)


LINK = {
    "type": "record",
    "name": "Link",
    "fields": [{"name": "tag", "type": ["null", "double"]}, {"name": "next", "type": ["null", "Link"]}],
}


def test_deep_recursion_raises_and_long_varints_cost_no_retries():
    decode = compile_decoder(LINK)
    skip = compile_decoder({"type": "record", "name": "R", "fields": [{"name": "l", "type": LINK}]}, set())
    with pytest.raises(RecursionError):
        decode(b"\x00\x02" * 100_000 + b"\x00\x00", 0)
    # Every union index written in two bytes, 200 links deep: read and skipped in linear time.
    deep = b"\x80\x00\x82\x00" * 200 + b"\x80\x00\x80\x00"
    value, pos = decode(deep, 0)
    assert pos == len(deep)
    assert value == fastavro.schemaless_reader(io.BytesIO(deep), fastavro.parse_schema(LINK))
    assert skip(deep, 0) == ({}, len(deep))


def _fuzz_cases(blob: bytes, rng: random.Random, count: int):
    for _ in range(count):
        kind = rng.random()
        if kind < 0.35:
            yield blob[: rng.randrange(len(blob))]
        elif kind < 0.85:
            mutated = bytearray(blob)
            for _ in range(rng.randint(1, 3)):
                at = rng.randrange(len(blob))
                mutated[at] = rng.randrange(256) if rng.random() < 0.5 else mutated[at] ^ (1 << rng.randrange(8))
            yield bytes(mutated)
        else:
            at = rng.randrange(len(blob))
            yield blob[:at] + bytes([rng.randrange(256)]) * rng.randint(0, 2) + blob[at + 1 :]


def _shrink(value):
    """The record with every long bytes value cut short: flipped bytes then land in the structure, not the
    pixels of a cutout."""
    if isinstance(value, dict):
        return {k: _shrink(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shrink(v) for v in value]
    if isinstance(value, bytes) and len(value) > 16:
        return value[:16]
    return value


def _fuzz_blobs() -> list[tuple[dict, bytes]]:
    """One shrunk real record per distinct schema (when the data is here), and the synthetic records."""
    chosen: list[tuple[dict, bytes]] = []
    folder = avro_dir()
    seen: set[str] = set()
    for path in sorted(folder.rglob("*.avro")) if folder.is_dir() else []:
        with open(path, "rb") as fh:
            reader = fastavro.reader(fh)
            writer = json.loads(reader.metadata["avro.schema"])
            key = json.dumps(writer, sort_keys=True)
            if key in seen:
                continue
            seen.add(key)
            record = next(iter(reader))
        chosen.append((writer, encode(writer, _shrink(record))))
    for record in synthetic_records()[1:12:3]:
        chosen.append((SYNTHETIC, encode(SYNTHETIC, record)))
    return chosen


def test_fuzzed_bytes_raise_or_decode_as_fastavro_does():
    """Truncated and corrupted records: whenever the fast decoder returns, fastavro returned the same value
    and position. The reverse is not asked for: where fastavro makes a value up (a negative union index...)
    the fast decoder raises."""
    rng = random.Random(20240611)
    cases = agreed = stricter = 0
    for writer, blob in _fuzz_blobs():
        both = [Schema(writer, required=False)]
        if writer is not SYNTHETIC:
            both.append(ingest_schema(writer))
        both = [schema for schema in both if schema.decode]  # reading Fink's timestamp whole: declined
        for mutated in _fuzz_cases(blob, rng, 25):
            for schema in both:
                cases += 1
                try:
                    expected = schema.slow(mutated)
                except Exception:
                    expected = None
                try:
                    got = schema.decode(mutated, 0)
                except DECODE_ERRORS:
                    got = None
                if got is None:
                    stricter += expected is not None
                    continue
                assert expected is not None, f"fastavro raised on {mutated!r:.200}, the fast decoder returned"
                assert got[1] == expected[1], f"ends at {got[1]}, fastavro at {expected[1]}"
                assert difference(got[0], expected[0]) is None, difference(got[0], expected[0])
                agreed += 1
    assert cases >= 300
    # Most corruptions still decode (a flipped bit in a double): both decoders agreed on those.
    assert agreed > cases // 4, (cases, agreed, stricter)


# ----------------------------------------------------------------------------------------------------
# Schemas it declines
# ----------------------------------------------------------------------------------------------------

WITH_TIMESTAMP = {
    "type": "record",
    "name": "R",
    "fields": [
        {"name": "candid", "type": "long"},
        {"name": "timestamp", "type": [{"type": "long", "logicalType": "timestamp-micros"}, "null"]},
    ],
}


def test_a_logical_type_that_is_read_declines():
    assert compile_decoder(WITH_TIMESTAMP) is None
    assert compile_decoder(WITH_TIMESTAMP, {"candid", "timestamp"}) is None
    assert compile_decoder({"type": "int", "logicalType": "date"}) is None


def test_a_logical_type_that_is_skipped_is_fine():
    # Fink's packets carry one in a field ingest does not read.
    schema = Schema(WITH_TIMESTAMP, {"candid"})
    assert_same(schema, encode(WITH_TIMESTAMP, {"candid": 7, "timestamp": 1_700_000_000_000_000}))
    assert schema.decode(encode(WITH_TIMESTAMP, {"candid": 7, "timestamp": None}), 0) == ({"candid": 7}, 2)


@pytest.mark.parametrize(
    ("schema", "top_fields"),
    [
        ({"type": "record", "name": "R", "fields": [{"name": "x", "type": "nonsense"}]}, None),  # unknown type
        ({"type": "error", "name": "R", "fields": [{"name": "x", "type": "int"}]}, None),
        ("not a type", None),
        # What a hostile file could write into its schema, to be pasted into the generated source.
        ({"type": "fixed", "name": "F", "size": "1) or __import__('os').system('false'"}, None),
        ({"type": "fixed", "name": "F", "size": -1}, None),
        ({"type": "record", "name": "R", "fields": [{"name": 1, "type": "int"}]}, None),
        (
            # With a field dropped, fastavro resolves the union against the reader's: an int in ["float", "int"]
            # comes back as 2.0, where the writer schema alone gives 2.
            {
                "type": "record",
                "name": "R",
                "fields": [{"name": "x", "type": ["float", "int"]}, {"name": "y", "type": "int"}],
            },
            {"x"},
        ),
        (
            # Enum E is defined in a dropped field: the cut reader schema would not parse.
            {
                "type": "record",
                "name": "R",
                "fields": [
                    {"name": "y", "type": {"type": "enum", "name": "E", "symbols": ["A"]}},
                    {"name": "x", "type": "E"},
                ],
            },
            {"x"},
        ),
        (
            # An alias of a kept field names a dropped one: fastavro would read the dropped field into it.
            {
                "type": "record",
                "name": "R",
                "fields": [{"name": "x", "type": "int", "aliases": ["y"]}, {"name": "y", "type": "int"}],
            },
            {"x"},
        ),
    ],
)
def test_what_fastavro_would_decode_differently_declines(schema, top_fields):
    assert compile_decoder(schema, top_fields) is None


def test_the_same_union_without_a_cut_is_fine():
    schema = {
        "type": "record",
        "name": "R",
        "fields": [{"name": "x", "type": ["float", "int"]}, {"name": "y", "type": "int"}],
    }
    decode = compile_decoder(schema)
    assert decode(b"\x02\x04\x06", 0) == ({"x": 2, "y": 3}, 3)
    assert decode(b"\x02\x04\x06", 0) == (fastavro.schemaless_reader(io.BytesIO(b"\x02\x04\x06"), schema), 3)


def test_ingest_hands_a_block_whose_skipped_tail_runs_past_its_end_to_fastavro():
    from labeling.ingest import _decode_block

    schema = {
        "type": "record",
        "name": "t",
        "fields": [{"name": "a", "type": "int"}, {"name": "b", "type": ["null", "double"]}],
    }
    decoder = compile_decoder(schema, frozenset({"a"}), {})
    whole = b"\x02\x02" + b"\x00" * 8  # a = 1, b = 0.0
    assert _decode_block(decoder, whole, 1) == [{"a": 1}]
    assert _decode_block(decoder, whole[:5], 1) is None  # the double cut after 3 of its 8 bytes
