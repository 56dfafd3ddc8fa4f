"""``labeling.ingest.avro_fast`` decodes what fastavro's ``schemaless_reader`` decodes: real and demo packets, a
schema with every Avro type, and hand-written encodings fastavro's writer never produces. Plain unit tests: no
database."""

from __future__ import annotations

import struct

import pytest

from labeling.ingest.avro_fast import compile_decoder
from tests.labeling.avro_fast_helpers import (
    SYNTHETIC,
    Schema,
    assert_both_raise,
    assert_same,
    difference,
    each_packet,
    encode,
    real_files,
    synthetic_records,
)


def test_every_real_packet_decodes_as_fastavro_does():
    schemas = set()
    records = 0
    for schema, _, blob, path in each_packet(real_files()):
        assert_same(schema, blob, str(path))
        schemas.add(id(schema))
        records += 1
    assert records >= len(real_files())
    # More than one schema (ZTF's and the brokers' variants) took part.
    assert len(schemas) > 1


def test_demo_packets_decode_as_fastavro_does(tmp_path):
    from fixtures.demo_alerts import write_demo_alerts

    paths = write_demo_alerts(tmp_path, n=20, seed=11)
    assert len(paths) == 20
    for schema, writer, blob, path in each_packet(paths):
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
            assert_both_raise(schema, blob)
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
        assert_both_raise(schema, blob)
