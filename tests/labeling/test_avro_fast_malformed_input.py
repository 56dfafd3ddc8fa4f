"""``labeling.ingest.avro_fast`` on malformed input: it raises one of ``DECODE_ERRORS`` (never loops, never
allocates more than the buffer justifies), and whenever it returns, fastavro returned the same. Plain unit
tests: no database."""

from __future__ import annotations

import io
import json
import random

import fastavro
import pytest

from labeling.ingest.avro_fast import ZERO_WIDTH_ITEM_LIMIT, compile_decoder
from tests.labeling.avro_fast_helpers import (
    DECODE_ERRORS,
    SYNTHETIC,
    Schema,
    avro_dir,
    difference,
    encode,
    ingest_schema,
    synthetic_records,
)

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
        # The synthetic records get more mutations each, so that they alone make the 300 cases asked for below
        # when ../shared/data is absent.
        for mutated in _fuzz_cases(blob, rng, 25 if writer is not SYNTHETIC else 75):
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
