"""Ingest refuses hostile files (truncated, foreign, bombed, oversized, broken FITS stamps, absurd values, Parquet
tables of the wrong shape) with an error naming the file and the reason, and leaves what is stored untouched: every
Blink table is fingerprinted (row count + checksum of every value) before and after."""

from __future__ import annotations

import copy
import gzip
import io
import json
import zlib

import fastavro
import numpy as np
import pytest
from astropy.io import fits

from fixtures.demo_alerts import TRUTH_METADATA_KEY, load_schema
from labeling.ingest import ingest_paths
from labeling.models import Alert
from tests.security.hostile_packets import (
    avro_long,
    check_refused,
    fits_bytes,
    gzip_bomb,
    mutated_packet,
    plain_stamp_cards,
    read_packet,
    write_packet,
    write_parquet,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("fraction", [0.001, 0.05, 0.5, 0.999], ids=["header", "schema", "block", "last-byte"])
def test_ingest_refuses_a_truncated_packet(stored, packets, tmp_path, fraction):
    data = packets[3].read_bytes()
    bad = tmp_path / "truncated.avro"
    bad.write_bytes(data[: max(1, int(len(data) * fraction))])
    check_refused(tmp_path, packets, bad)


def test_ingest_refuses_an_empty_file(stored, packets, tmp_path):
    bad = tmp_path / "empty.avro"
    bad.write_bytes(b"")
    check_refused(tmp_path, packets, bad, "empty")


def test_ingest_refuses_random_bytes_with_the_avro_magic(stored, packets, tmp_path):
    bad = tmp_path / "noise.avro"
    bad.write_bytes(b"Obj\x01" + np.random.default_rng(3).bytes(50_000))
    check_refused(tmp_path, packets, bad)


def test_ingest_refuses_a_packet_of_another_schema(stored, packets, tmp_path):
    bad = tmp_path / "weather.avro"
    schema = {"type": "record", "name": "weather", "fields": [{"name": "temperature", "type": "double"}]}
    write_packet(bad, {"temperature": 12.5}, schema=schema)
    check_refused(tmp_path, packets, bad, "not a ZTF alert packet")


def test_ingest_refuses_an_avro_file_whose_records_are_not_records(stored, packets, tmp_path):
    bad = tmp_path / "strings.avro"
    with open(bad, "wb") as fh:
        fastavro.writer(fh, fastavro.parse_schema({"type": "string"}), ["candid", "objectId"])
    check_refused(tmp_path, packets, bad, "not alert records")


def test_ingest_refuses_an_unparseable_schema(stored, packets, tmp_path):
    good = packets[3].read_bytes()
    bad = tmp_path / "badschema.avro"
    # Same length keeps the container framing intact while breaking the schema JSON.
    bad.write_bytes(
        good.replace(b'"type": "record"', b'"type": "rec{rd"', 1).replace(b'"type":"record"', b'"type":"rec{rd"', 1)
    )
    assert bad.read_bytes() != good
    check_refused(tmp_path, packets, bad)


def test_ingest_refuses_a_stamp_gzip_bomb_without_inflating_it(stored, packets, tmp_path):
    record, _ = read_packet(packets[3])
    record["cutoutScience"]["stampData"] = gzip_bomb(256 << 20)  # 256 MiB of zeros in ~250 kB
    bad = tmp_path / "bomb.avro"
    write_packet(bad, record)
    message = check_refused(tmp_path, packets, bad, str(record["candid"]), "science cutout", "decompressed")
    assert "MiB" in message


def test_ingest_refuses_an_avro_deflate_block_bomb(stored, packets, tmp_path):
    """A container whose one deflate block inflates to 512 MiB: refused before it is inflated whole."""
    good = packets[3].read_bytes()
    with open(packets[3], "rb") as fh:
        reader = fastavro.reader(fh)
        schema = json.dumps(reader.writer_schema)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = b"\0" * (1 << 20)
    block = b"".join(comp.compress(chunk) for _ in range(512)) + comp.flush()
    sync = b"S" * 16

    long = avro_long

    def blob(b: bytes) -> bytes:
        return long(len(b)) + b

    header = b"Obj\x01" + long(2) + blob(b"avro.schema") + blob(schema.encode()) + blob(b"avro.codec")
    header += blob(b"deflate") + long(0) + sync
    bad = tmp_path / "deflatebomb.avro"
    bad.write_bytes(header + long(1) + long(len(block)) + block + sync)
    assert len(bad.read_bytes()) < len(good) * 20
    check_refused(tmp_path, packets, bad, "deflate block larger than")


@pytest.mark.timeout(60)
def test_ingest_refuses_an_avro_header_whose_lengths_step_backwards(stored, packets, tmp_path):
    """Found by bench/fuzz_ingest.py (a bit flip in a real packet's header): a metadata count of 2**40 whose
    entries' lengths are negative stepped back and forth over the same two bytes, for ever."""
    bad = tmp_path / "backwards.avro"
    bad.write_bytes(b"Obj\x01" + avro_long(2**40) + avro_long(0) + avro_long(-1) + b"\0" * 64)
    check_refused(tmp_path, packets, bad, "Avro header")


def test_ingest_refuses_an_oversized_file_without_reading_it(stored, packets, tmp_path, settings):
    bad = tmp_path / "huge.avro"
    with open(bad, "wb") as fh:
        fh.write(b"Obj\x01")
        fh.truncate(3 << 30)  # 3 GiB, sparse: costs no disk and, if refused up front, no memory
    check_refused(tmp_path, packets, bad, "larger than")


def test_ingest_refuses_an_oversized_stamp(stored, packets, tmp_path):
    record, _ = read_packet(packets[3])
    buf = io.BytesIO()
    fits.PrimaryHDU(np.zeros((700, 700), dtype=">f4") + 1).writeto(buf)
    record["cutoutDifference"]["stampData"] = gzip.compress(buf.getvalue())
    bad = tmp_path / "bigstamp.avro"
    write_packet(bad, record)
    check_refused(tmp_path, packets, bad, "difference cutout", "shape")


ODD_FITS = {
    "negative-naxis": (plain_stamp_cards(naxis1="-63", naxis2="-63"), 63 * 63 * 4),
    "one-negative-naxis": (plain_stamp_cards(naxis1="-1", naxis2="1"), 63 * 63 * 4),
    "zero-naxis": (plain_stamp_cards(naxis1="0"), 0),
    "huge-naxis": (plain_stamp_cards(naxis1="999999999", naxis2="999999999"), 63 * 63 * 4),
    "bad-bitpix": (plain_stamp_cards(bitpix="7"), 63 * 63 * 4),
    "text-naxis": (plain_stamp_cards(naxis1="'sixty-three'"), 63 * 63 * 4),
    "nan-bscale": (plain_stamp_cards(extra=["BSCALE  =                  NAN"]), 63 * 63 * 4),
    "text-bscale": (plain_stamp_cards(extra=["BSCALE  = 'one'"]), 63 * 63 * 4),
    "no-end": (None, 0),
    "ten-thousand-cards": (plain_stamp_cards(extra=[f"C{i:07d}= {i}" for i in range(10_000)]), 63 * 63 * 4),
    "non-ascii-header": (plain_stamp_cards(extra=["OBJECT  = 'caf\u00e9'"]), 63 * 63 * 4),
    "naxis-3": (
        ["SIMPLE  =                    T", "BITPIX  =                  -32", "NAXIS   =                    3",
         "NAXIS1  =                   63", "NAXIS2  =                   63", "NAXIS3  =                    2"],
        63 * 63 * 8,
    ),
    "image-only-in-extension": (
        ["SIMPLE  =                    T", "BITPIX  =                    8", "NAXIS   =                    0",
         "EXTEND  =                    T"],
        0,
    ),
}  # fmt: skip


# Odd but legal: a header of ten thousand cards, Latin-1 bytes in a string card. Read, not refused.
READABLE_ODD_FITS = ("ten-thousand-cards", "non-ascii-header")


def _odd_fits_packet(packets, tmp_path, case):
    cards, n_data = ODD_FITS[case]
    if cards is None:
        raw = ("SIMPLE  =                    T".ljust(80) * 36).encode()  # one block, never an END card
    else:
        safe = [c.encode("ascii", "replace").decode() for c in cards]
        raw = fits_bytes(safe, np.ones(n_data // 4, dtype=">f4").tobytes()).replace(b"caf?", b"caf\xe9")
    record, _ = read_packet(packets[3])
    record["cutoutTemplate"]["stampData"] = gzip.compress(raw)
    bad = tmp_path / f"odd-{case}.avro"
    write_packet(bad, record)
    return bad, record


@pytest.mark.parametrize("case", [c for c in ODD_FITS if c not in READABLE_ODD_FITS])
def test_ingest_refuses_fits_stamps_with_broken_headers(stored, packets, tmp_path, case):
    bad, record = _odd_fits_packet(packets, tmp_path, case)
    check_refused(tmp_path, packets, bad, str(record["candid"]), "template cutout")


@pytest.mark.parametrize("case", READABLE_ODD_FITS)
def test_ingest_reads_fits_stamps_with_odd_but_legal_headers(stored, packets, tmp_path, case):
    bad, record = _odd_fits_packet(packets, tmp_path, case)
    report = ingest_paths([bad])
    assert report.new == 1, report.errors
    stamps = Alert.objects.get(candid=record["candid"]).stamps
    assert (stamps.height, stamps.width) == (63, 63)
    assert float(stamps.unpack("template").mean()) == 1.0


ABSURD_VALUES = {
    "object-id-10k-chars": (lambda r: r.update(objectId="ZTF" + "x" * 10_000), "objectId"),
    "fid-out-of-range": (lambda r: r["candidate"].update(fid=70_000), "fid"),
    "programid-out-of-range": (lambda r: r["candidate"].update(programid=2**31 - 1), "programid"),
    "ndethist-out-of-range": (lambda r: r["candidate"].update(ndethist=2**40), "ndethist"),
    "jd-far-future": (lambda r: r["candidate"].update(jd=1e20), "jd"),
    "jd-negative": (lambda r: r["candidate"].update(jd=-1e9), "jd"),
    "ra-nan": (lambda r: r["candidate"].update(ra=float("nan")), "ra"),
    "dec-out-of-range": (lambda r: r["candidate"].update(dec=123.0), "position"),
    "candid-negative": (lambda r: r.update(candid=-5), "candid"),
    "schemavsn-long": (lambda r: r.update(schemavsn="3." + "3" * 100), "schemavsn"),
    "prv-fid-out-of-range": (
        lambda r: r["prv_candidates"].__setitem__(0, {**r["prv_candidates"][0], "fid": 70_000, "magpsf": 18.0}),
        "fid",
    ),
}


@pytest.mark.parametrize("case", list(ABSURD_VALUES), ids=list(ABSURD_VALUES))
def test_ingest_refuses_absurd_values_cleanly(stored, packets, tmp_path, case):
    mutate, field = ABSURD_VALUES[case]
    bad, record = mutated_packet(packets, tmp_path, f"absurd-{case}.avro", mutate)
    if not record.get("prv_candidates") and case.startswith("prv"):
        pytest.skip("this demo packet has no prv_candidates")
    check_refused(tmp_path, packets, bad, field)


# A packet's row with these columns replaced, and the words the refusal must say.
WRONG_PARQUET_ROWS = {
    "candidate-as-text": (
        lambda r: {"candidate": json.dumps({k: v for k, v in r["candidate"].items() if not isinstance(v, bytes)})},
        ["candidate"],
    ),
    "strings-where-numbers-go": (
        lambda r: {"candidate": {**r["candidate"], "fid": "r", "jd": "yesterday"}, "prv_candidates": None},
        ["jd"],
    ),
    # Avro's int type keeps nid within 32 bits; a Parquet table has no such limit.
    "integers-beyond-the-database-columns": (
        lambda r: {"candidate": {**r["candidate"], "nid": 2**40}},
        ["nid", "out of range"],
    ),
}


@pytest.mark.parametrize("case", list(WRONG_PARQUET_ROWS))
def test_ingest_refuses_parquet_rows_of_the_wrong_types_or_ranges(stored, packets, tmp_path, case):
    replace, words = WRONG_PARQUET_ROWS[case]
    record, _ = read_packet(packets[3])
    bad = tmp_path / f"{case}.parquet"
    write_parquet(bad, [{**copy.deepcopy(record), **replace(record)}])
    check_refused(tmp_path, packets, bad, *words)


def test_ingest_refuses_a_truncated_parquet_table(stored, packets, tmp_path):
    record, _ = read_packet(packets[3])
    good = tmp_path / "good.parquet"
    write_parquet(good, [record])
    bad = tmp_path / "cut.parquet"
    data = good.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    check_refused(tmp_path, packets, bad)


def test_ingest_refuses_a_parquet_table_of_another_kind(stored, packets, tmp_path):
    bad = tmp_path / "weather.parquet"
    write_parquet(bad, [{"temperature": 12.5}])
    check_refused(tmp_path, packets, bad, "not a ZTF alert table")


def test_a_hostile_truth_metadata_block_is_ignored_not_trusted(stored, packets, tmp_path):
    """The demo-truth metadata is ours; a hostile value must not crash ingest (it is simply unused)."""
    record, _ = read_packet(packets[3])
    bad = tmp_path / "truth.avro"
    with open(bad, "wb") as fh:
        fastavro.writer(fh, fastavro.parse_schema(load_schema()), [record], metadata={TRUTH_METADATA_KEY: "[1, 2"})
    report = ingest_paths([bad])
    assert report.new == 1, report.errors
    assert Alert.objects.get(candid=record["candid"]).demo_truth == ""


@pytest.mark.parametrize("n", [0, 1, -1, 63, 64, 300, -300, 2**40])
def test_the_hand_written_avro_long_matches_fastavro(n):
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, "long", n)
    assert avro_long(n) == buf.getvalue()
