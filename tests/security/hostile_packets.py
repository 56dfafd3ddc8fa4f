"""Hostile ingest files made by hand (Avro containers, FITS stamps, Parquet tables), and the check that each
is refused by name while a good file beside it goes in and nothing stored changes."""

from __future__ import annotations

import zlib

import fastavro

from fixtures.demo_alerts import load_schema
from labeling.backups import table_fingerprints
from labeling.ingest import ingest_paths
from labeling.models import Alert, LightCurvePoint, Stamps


def read_packet(path) -> tuple[dict, dict]:
    with open(path, "rb") as fh:
        reader = fastavro.reader(fh)
        return next(reader), dict(reader.metadata)


def write_packet(path, record: dict, *, schema: dict | None = None, codec: str = "null") -> None:
    with open(path, "wb") as fh:
        fastavro.writer(fh, fastavro.parse_schema(schema or load_schema()), [record], codec=codec)


def fits_bytes(header_cards: list[str], data: bytes = b"") -> bytes:
    """A FITS file written card by card, so headers can be as odd as a hostile sender likes."""
    cards = [c.ljust(80)[:80] for c in header_cards] + ["END".ljust(80)]
    header = "".join(cards).encode("ascii")
    header += b" " * (-len(header) % 2880)
    return header + data + b"\0" * (-len(data) % 2880)


def plain_stamp_cards(naxis1="63", naxis2="63", bitpix="-32", extra=()) -> list[str]:
    return [
        "SIMPLE  =                    T",
        f"BITPIX  = {bitpix:>20}",
        "NAXIS   =                    2",
        f"NAXIS1  = {naxis1:>20}",
        f"NAXIS2  = {naxis2:>20}",
        *extra,
    ]


def avro_long(n: int) -> bytes:
    """Avro's zig-zag varint, written by hand to frame a container fastavro would never write."""
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def gzip_bomb(decompressed_bytes: int) -> bytes:
    """gzip of that many zero bytes, built in chunks so the test itself never holds them."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"\0" * (1 << 20)
    out = [comp.compress(chunk) for _ in range(decompressed_bytes >> 20)]
    out.append(comp.flush())
    return b"".join(out)


def check_refused(tmp_path, packets, bad_path, *expected_words):
    """Ingest the hostile file together with a good one: the good one goes in, the hostile one is refused
    with a message naming its file and the reason, and nothing that was stored before changes."""
    before = table_fingerprints()
    n_alerts = Alert.objects.count()
    report = ingest_paths([packets[2], bad_path])
    assert report.rejected >= 1, f"{bad_path.name} was not refused: {report.summary}"
    message = " | ".join(report.errors)
    assert bad_path.name in message, message
    for word in expected_words:
        assert word in message, f"expected {word!r} in: {message}"
    # The good packet went in; no trace of the hostile one.
    assert report.new == 1, report.errors
    assert Alert.objects.count() == n_alerts + 1
    assert Stamps.objects.count() == Alert.objects.count()
    new = Alert.objects.order_by("-pk").first()
    assert new.source.endswith(packets[2].name)
    Alert.objects.filter(pk=new.pk).delete()
    LightCurvePoint.objects.filter(object_id=new.object_id).exclude(
        object_id__in=Alert.objects.values("object_id")
    ).delete()
    after = table_fingerprints()
    assert after == before, "stored data changed"
    return message


def mutated_packet(packets, tmp_path, name: str, mutate):
    """The fourth demo packet changed by ``mutate``, written as ``name``; with the changed record."""
    record, _ = read_packet(packets[3])
    mutate(record)
    bad = tmp_path / name
    write_packet(bad, record)
    return bad, record


def write_parquet(path, rows: list[dict]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)
