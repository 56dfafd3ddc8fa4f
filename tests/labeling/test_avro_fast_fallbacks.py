"""Where ``labeling.ingest.avro_fast`` would decode differently from fastavro it declines the schema, and where
it fails on a block ingest hands the block to fastavro. Plain unit tests: no database."""

from __future__ import annotations

import io

import fastavro
import pytest

from labeling.ingest.avro import decode_block
from labeling.ingest.avro_fast import compile_decoder
from tests.labeling.avro_fast_helpers import Schema, assert_same, encode

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

    schema = {
        "type": "record",
        "name": "t",
        "fields": [{"name": "a", "type": "int"}, {"name": "b", "type": ["null", "double"]}],
    }
    decoder = compile_decoder(schema, frozenset({"a"}), {})
    whole = b"\x02\x02" + b"\x00" * 8  # a = 1, b = 0.0
    assert decode_block(decoder, whole, 1) == [{"a": 1}]
    assert decode_block(decoder, whole[:5], 1) is None  # the double cut after 3 of its 8 bytes
