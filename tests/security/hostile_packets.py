"""Hostile ingest files made by hand (Avro containers, FITS stamps, Parquet tables), and the check that each
is refused by name while a good file beside it goes in and nothing stored changes."""

from __future__ import annotations

import io
import struct
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


# ------------------------------------------------------------------------------------------ fuzzing real packets
# Shared by tests/security/test_fuzz_ingest.py (a short run in make test) and bench/fuzz_ingest.py (make fuzz):
# each mutation turns one real packet file of ../shared/data into a hostile one, the same for the same seed.

FUZZ_KINDS = ("bit_flips", "truncation", "swapped_schema", "huge_array", "non_finite", "gzip_bomb", "odd_values")
CUTOUTS = ("cutoutScience", "cutoutTemplate", "cutoutDifference")
BOMB_MIB = (64, 256, 1024)
# A ZTF packet carries 30 days of history (tens of points); the longest here costs seconds to decode, so it is rare.
HISTORY_LENGTHS, HISTORY_WEIGHTS = (1_000, 10_000, 50_000), (6, 3, 1)
_bombs: dict[int, bytes] = {}


def real_packet_files(data_dir) -> dict[str, list]:
    """The real ZTF files to mutate (Avro packets, Fink Parquet tables) and the foreign ones (LSST)."""
    from pathlib import Path

    root = Path(data_dir)
    return {
        "avro": sorted((root / "ztf" / "avro").rglob("*.avro")),
        "parquet": sorted((root / "ztf" / "parquet").rglob("*.parquet")),
        "foreign": sorted((root / "lsst").rglob("*.avro")),
    }


def avro_header_length(data: bytes) -> int:
    """Where an Avro container's header (magic, metadata map, 16-byte sync marker) ends."""

    def read_long(pos: int) -> tuple[int, int]:
        shift = n = 0
        while True:
            b = data[pos]
            pos += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return (n >> 1) ^ -(n & 1), pos

    pos = 4
    while True:
        count, pos = read_long(pos)
        if count == 0:
            return pos + 16
        if count < 0:
            _, pos = read_long(pos)
            count = -count
        for _ in range(2 * count):
            length, pos = read_long(pos)
            pos += length


def _bomb(rng) -> bytes:
    mib = rng.choice(BOMB_MIB)
    if mib not in _bombs:
        _bombs[mib] = gzip_bomb(mib << 20)
    return _bombs[mib]


def _odd_value(rng, value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return rng.choice((0, -1, 2**31 - 1, -(2**31), 2**63 - 1, -(2**63)))
    if isinstance(value, float):
        return rng.choice((1e308, -1e308, 5e-324, -0.0, 0.0, 2.0**64))
    if isinstance(value, str):
        return rng.choice(("", "x" * 100_000, "\x00", "caf\u00e9 \u2603", "'; DROP TABLE labeling_alert; --"))
    if isinstance(value, bytes):
        return rng.choice((b"", b"\x1f\x8b", rng.randbytes(rng.randint(1, 5000))))
    return value


def _mutate_record(kind: str, rng, record: dict) -> dict:
    cand = record.get("candidate") or {}
    if kind == "non_finite":
        floats = [k for k, v in cand.items() if isinstance(v, float)]
        for key in rng.sample(floats, min(len(floats), rng.randint(1, 5))):
            cand[key] = rng.choice((float("nan"), float("inf"), float("-inf")))
        for prv in (record.get("prv_candidates") or [])[:3]:
            for key in [k for k, v in prv.items() if isinstance(v, float)][:2]:
                prv[key] = float("nan")
    elif kind == "huge_array":
        # (A long history is spliced as bytes, in mutate_file.)
        if rng.random() < 0.5:
            record[rng.choice(CUTOUTS)]["stampData"] = rng.randbytes(rng.choice((1, 8)) << 20)
        else:
            side = str(rng.choice((4096, 30000, 2**31 - 1)))
            header = fits_bytes(plain_stamp_cards(naxis1=side, naxis2=side))
            record[rng.choice(CUTOUTS)]["stampData"] = zlib_gzip(header + b"\0" * (1 << 20))
    elif kind == "gzip_bomb":
        record[rng.choice(CUTOUTS)]["stampData"] = _bomb(rng)
    elif kind == "odd_values":
        for target in (cand, record):
            keys = [k for k in target if not isinstance(target[k], dict | list)]
            for key in rng.sample(keys, min(len(keys), rng.randint(1, 4))):
                target[key] = _odd_value(rng, target[key])
    return record


def long_history_packet(data: bytes, schema: dict, record: dict, n: int) -> bytes:
    """The packet ``data`` (one record, no codec) with its history repeated to ``n`` points. Spliced as bytes:
    fastavro takes minutes to write 100,000 dicts. An Avro array is its count, its items, then 0: the record is
    encoded with one history point and with none, and the point's bytes are repeated between them."""
    parsed = fastavro.parse_schema(schema)

    def encoded(history: list) -> bytes:
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, parsed, {**record, "prv_candidates": history})
        return buf.getvalue()

    one, none = encoded(record["prv_candidates"][:1]), encoded([])
    at = next(i for i, (a, b) in enumerate(zip(one, none, strict=False)) if a != b)
    prefix, suffix = none[:at], none[at + 1 :]
    point = one[at + 1 : len(one) - len(suffix) - 1]
    datum = prefix + avro_long(n) + point * n + b"\0" + suffix
    header = data[: avro_header_length(data)]
    return header + avro_long(1) + avro_long(len(datum)) + datum + header[-16:]


def zlib_gzip(data: bytes) -> bytes:
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    return comp.compress(data) + comp.flush()


def mutate_file(kind: str, rng, source, files: dict) -> tuple[str, bytes]:
    """One hostile file made from the real file ``source`` (``kind`` one of ``FUZZ_KINDS``); returns its
    suffix and bytes."""
    suffix = source.suffix
    data = source.read_bytes()
    if kind == "bit_flips":
        out = bytearray(data)
        for _ in range(rng.choice((1, 2, 8, 64))):
            pos = rng.randrange(len(out))
            out[pos] ^= 1 << rng.randrange(8)
        return suffix, bytes(out)
    if kind == "truncation":
        return suffix, data[: rng.randrange(len(data))]
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        rows = pq.read_table(source).to_pylist()[:3]
        if kind == "swapped_schema":
            # The table's columns under each other's names.
            names = [k for k in rows[0] if k in ("candidate", "prv_candidates", "objectId", "candid", *CUTOUTS)]
            a, b = rng.sample(names, 2)
            rows = [{**r, a: r[b], b: r[a]} for r in rows]
        else:
            rows = [_mutate_record(kind, rng, r) for r in rows]
        buf = io.BytesIO()
        import pyarrow as pa

        try:
            pq.write_table(pa.Table.from_pylist(rows), buf)
        except (pa.ArrowException, ValueError, TypeError, OverflowError):
            return suffix, data[: len(data) // 2]  # a row pyarrow itself cannot write: a cut file instead
        return suffix, buf.getvalue()
    if kind == "swapped_schema":
        # Another packet's header (schema and sync marker) over this packet's blocks: a schema that does not
        # describe the data, or a foreign (LSST) packet under a ZTF name.
        other = rng.choice(files["avro"] + files["foreign"]).read_bytes()
        if rng.random() < 0.3:
            return suffix, other
        head, other_head = avro_header_length(data), avro_header_length(other)
        blocks = data[head:].replace(data[head - 16 : head], other[other_head - 16 : other_head])
        return suffix, other[:other_head] + blocks
    with open(source, "rb") as fh:
        reader = fastavro.reader(fh)
        schema, codec = reader.writer_schema, reader.codec
        record = next(reader)
    if kind == "huge_array" and record.get("prv_candidates") and codec == "null" and rng.random() < 0.4:
        return suffix, long_history_packet(data, schema, record, rng.choices(HISTORY_LENGTHS, HISTORY_WEIGHTS)[0])
    record = _mutate_record(kind, rng, record)
    buf = io.BytesIO()
    try:
        fastavro.writer(buf, fastavro.parse_schema(schema), [record], validator=False)
    except (ValueError, TypeError, OverflowError, AttributeError, KeyError, struct.error):
        return suffix, data[: len(data) // 2]  # a value Avro cannot write: a cut file instead
    return suffix, buf.getvalue()


def table_counts() -> tuple[int, int, int]:
    return Alert.objects.count(), Stamps.objects.count(), LightCurvePoint.objects.count()


def ingest_mutation(path) -> dict:
    """Ingest one hostile file and check what it left: ``outcome`` is ``accepted`` or ``refused`` (the report
    names the file), ``crash`` (an exception escaped ingest) or ``half_written`` (rows no stored packet accounts
    for: an alert without its stamps, points of an object with no alert, anything stored from a refused file).
    Whatever went in is removed afterwards, so the next mutation of the same packet is new again."""
    before = table_counts()
    try:
        report = ingest_paths([path], workers=0)
    except Exception as exc:  # noqa: BLE001 - this is what the fuzzer looks for
        return {"outcome": "crash", "detail": f"{type(exc).__name__}: {exc}"[:500]}
    alerts, stamps, points = (a - b for a, b in zip(table_counts(), before, strict=True))
    orphan_points = LightCurvePoint.objects.exclude(object_id__in=Alert.objects.values("object_id")).count()
    outcome = "accepted" if report.new else "refused" if report.rejected else "present"
    detail = "; ".join(report.errors)[:300]
    if alerts != report.new or stamps != report.new or orphan_points or (not report.new and points):
        outcome = "half_written"
        detail = f"alerts +{alerts}, stamps +{stamps}, points +{points} ({orphan_points} orphaned) for {report.summary}"
    elif report.rejected and str(path.name) not in detail:
        outcome = "unnamed_refusal"
    Alert.objects.filter(pk__in=report.new_alert_ids).delete()
    LightCurvePoint.objects.exclude(object_id__in=Alert.objects.values("object_id")).delete()
    return {"outcome": outcome, "detail": detail, "new": report.new, "rejected": report.rejected}
