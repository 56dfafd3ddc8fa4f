"""Alert ingestion: ZTF Avro packets and Fink Parquet tables in, ``Alert`` + ``Stamps`` + ``LightCurvePoint`` rows out.

One entry point, ``ingest_paths(paths)``, used by ``manage.py ingest_alerts``, ``setup_demo`` and the tests.

How it stays correct:
- every packet is validated and its cutouts decoded *before* anything is written, so a bad packet is
  rejected with a message naming the file, the candid (when known) and the reason, and never half-written;
- good packets are written in batches, each batch in one transaction (alerts, then their stamps, then
  their light-curve points); if a batch fails in the database (say another process inserted the same
  candid meanwhile) it is rolled back and retried alert by alert, each alert in its own transaction;
- a candid already stored counts as "present" and is left untouched, so ingesting twice adds nothing.

How it stays fast (the target is a ZTF night, ~1 million alerts, in under 17 minutes on 2 cores):
- Avro containers are read with the writer schema parsed once per distinct schema (not once per file),
- cutouts are decoded by a small FITS reader for the plain primary-HDU images ZTF writes (astropy is the
  fallback for anything unusual), and a stamp that is a plain float32 image is stored as the packet's own
  gzip stream instead of being compressed again (``labeling.models.stamp_array`` reads both forms),
- Galactic coordinates: astropy's ICRS->Galactic rotation matrix, taken from astropy once, applied with numpy,
- on PostgreSQL rows go in by binary COPY (``bulk_create`` elsewhere),
- with many files, two worker processes share them out (``_default_workers``); on PostgreSQL each decodes and
  stores its files over its own connection, elsewhere they decode and this process writes.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import glob
import hashlib
import io
import json
import logging
import math
import os
import sys
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import fastavro
import numpy as np
import orjson
from django.db import DataError, IntegrityError, OperationalError, connection, models, transaction

from labeling.avro_fast import compile_decoder
from labeling.models import Alert, LightCurvePoint, Stamps
from labeling.models.alerts import FITS_BLOCK, GZIP_MAGIC, fits_data_offset

try:  # ISA-L's inflate/deflate are about twice zlib's speed, and read and write plain zlib/gzip streams
    from isal import isal_zlib as fast_zlib
except ImportError:  # pragma: no cover - isal is in requirements.txt; stdlib zlib gives the same bytes back
    fast_zlib = zlib

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
CUTOUT_FIELDS = (("science", "cutoutScience"), ("template", "cutoutTemplate"), ("difference", "cutoutDifference"))
# Anything larger than this after gunzip is not a 63x63 stamp; refusing it keeps a gzip bomb harmless.
MAX_STAMP_BYTES = 4 * 1024 * 1024
MAX_STAMP_SIDE = 512
# The same for whole files and Avro deflate blocks: a packet is ~100 kB, a block of a few MB at most.
MAX_FILE_BYTES = 1024 * 1024 * 1024
MAX_AVRO_BLOCK_BYTES = 64 * 1024 * 1024
# Plausible exposure times (1858 to 2132): anything else is a corrupt or hostile packet, not an alert.
JD_RANGE = (2400000.5, 2500000.5)
# ZTF writes -999 where there is no match (no PS1 source, no known solar-system object nearby).
SENTINEL_FIELDS = frozenset({"sgscore1", "distpsnr1", "ssdistnr", "ssmagnr"})
FLOAT_COLUMNS = (
    "magpsf", "sigmapsf", "diffmaglim", "rb", "drb", "fwhm", "elong", "classtar", "magdiff",
    "sgscore1", "distpsnr1", "ssdistnr", "ssmagnr", "jdstarthist",
)  # fmt: skip
INT_COLUMNS = ("nbad", "ndethist", "ncovhist", "programid", "field", "rcid", "nid")
JD_UNIX_EPOCH = 2440587.5
TRUTH_METADATA_KEY = "blink.demo_truth"


class AlertRejected(Exception):
    """A packet that cannot be stored; the message says why."""


@dataclass
class IngestReport:
    files: int = 0
    new: int = 0
    present: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)
    new_alert_ids: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def reject(self, message: str, count: int = 1) -> None:
        self.rejected += count
        self.errors.append(message)
        logger.warning("ingest: %s", message)

    @property
    def summary(self) -> str:
        return (
            f"{self.files} file(s): {self.new} alert(s) new, {self.present} already present, {self.rejected} rejected"
        )


# ----------------------------------------------------------------------------------------------------
# Finding files
# ----------------------------------------------------------------------------------------------------

ALERT_SUFFIXES = (".avro", ".parquet")


def expand_paths(paths: Iterable) -> tuple[list[Path], list[str]]:
    """Files named, files under directories (``*.avro``, ``*.parquet``, recursively) and glob matches.

    Returns the files (sorted, without repeats) and a message for each path that matched nothing.
    """
    found: list[Path] = []
    missing: list[str] = []
    for raw in paths:
        text = str(raw)
        path = Path(text)
        if path.is_dir():
            hits = sorted(p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(ALERT_SUFFIXES))
            if not hits:
                missing.append(f"{text}: directory holds no .avro or .parquet file")
        elif path.is_file():
            hits = [path]
        elif glob.has_magic(text):
            hits = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
            if not hits:
                missing.append(f"{text}: the pattern matches no file")
        else:
            hits = []
            missing.append(f"{text}: no such file or directory")
        found.extend(hits)
    seen: set[Path] = set()
    unique = []
    for p in found:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique, missing


# ----------------------------------------------------------------------------------------------------
# Reading packets
# ----------------------------------------------------------------------------------------------------


@dataclass
class RawAlert:
    record: dict
    source: str
    truth: str = ""


class FileUnreadable(Exception):
    pass


_AVRO_MAGIC = b"Obj\x01"
_PARQUET_MAGIC = b"PAR1"


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
)
POINT_FIELDS = frozenset({"jd", "fid", "pid", "magpsf", "sigmapsf", "diffmaglim", "isdiffpos", "candid", "programid"})


def _reader_schema(writer: dict) -> dict | None:
    """The writer schema cut down to ``PACKET_FIELDS`` (and prv_candidates to ``POINT_FIELDS``)."""
    if not isinstance(writer, dict) or writer.get("type") != "record":
        return None
    reader = copy.deepcopy(writer)
    reader["fields"] = [f for f in reader["fields"] if f.get("name") in PACKET_FIELDS]
    for f in reader["fields"]:
        if f["name"] != "prv_candidates":
            continue
        for branch in f["type"] if isinstance(f["type"], list) else [f["type"]]:
            items = branch.get("items") if isinstance(branch, dict) and branch.get("type") == "array" else None
            # ZTF's own schemas give the item record directly; Fink's (Spark) make it a nullable union.
            for item in items if isinstance(items, list) else [items]:
                if isinstance(item, dict) and item.get("type") == "record":
                    item["fields"] = [g for g in item["fields"] if g.get("name") in POINT_FIELDS]
    return reader


def _parsed_schema(schema_bytes: bytes) -> tuple:
    """(writer, reader) parsed schemas and the generated decoder (``labeling.avro_fast``, None where it
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
            reader = _reader_schema(writer)
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
    if not data.startswith(_AVRO_MAGIC):
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
        for _ in range(count):
            klen, pos = _zigzag_long(buf, pos)
            key = bytes(buf[pos : pos + klen]).decode("utf-8", "replace")
            pos += klen
            vlen, pos = _zigzag_long(buf, pos)
            if pos + vlen > len(buf):
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
    schema, reader_schema, decoder = _parsed_schema(meta["avro.schema"])
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
            decoded = _decode_block(decoder, block, n_records)
            if decoded is not None:
                records.extend(decoded)
                continue
        stream = io.BytesIO(block)
        try:
            for _ in range(n_records):
                records.append(fastavro.schemaless_reader(stream, schema, reader_schema))
        except Exception as exc:  # fastavro raises EOFError, ValueError, UnicodeDecodeError...
            raise FileUnreadable(f"corrupt Avro record #{len(records) + 1} ({type(exc).__name__}: {exc})") from exc
    return records, meta


def _decode_block(decoder, block: bytes, n_records: int) -> list[dict] | None:
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


def _truth_by_candid(meta: dict[str, bytes]) -> dict[int, str]:
    raw = meta.get(TRUTH_METADATA_KEY)
    if not raw:
        return {}
    try:
        return {int(k): str(v) for k, v in json.loads(raw).items()}
    except (ValueError, AttributeError):
        return {}


def read_file(path: Path) -> Iterator[RawAlert]:
    """Yield every alert record of one Avro or Parquet file. Raises FileUnreadable with a reason."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > MAX_FILE_BYTES:
                raise FileUnreadable(
                    f"larger than {MAX_FILE_BYTES // 1024 // 1024} MiB ({size} bytes); split it into smaller files"
                )
            head = fh.read(4)
            if head == _PARQUET_MAGIC:
                data = None
            elif head == _AVRO_MAGIC:
                data = head + fh.read()
            else:
                data = head
    except OSError as exc:
        raise FileUnreadable(f"cannot be read ({exc.strerror or exc})") from exc
    if data is None:
        yield from _read_parquet(path)
        return
    if not data:
        raise FileUnreadable("empty file")
    if not data.startswith(_AVRO_MAGIC):
        raise FileUnreadable("neither an Avro container nor a Parquet file")
    try:
        records, meta = read_avro(data)
    except (IndexError, ValueError, OverflowError, MemoryError) as exc:
        # Lengths and counts in a corrupt container point anywhere; none of it may escape as a crash.
        raise FileUnreadable(f"corrupt Avro container ({type(exc).__name__}: {exc})") from exc
    truth = _truth_by_candid(meta)
    many = len(records) > 1
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise FileUnreadable("its records are not ZTF alert records")
        source = f"{path}#{i}" if many else str(path)
        candid = record.get("candid")
        yield RawAlert(record, source, truth.get(candid, "") if isinstance(candid, int) else "")


def _read_parquet(path: Path) -> Iterator[RawAlert]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:
        raise FileUnreadable(f"unreadable Parquet ({exc})") from exc
    names = set(pf.schema_arrow.names)
    missing = {"candid", "candidate"} - names
    if missing:
        raise FileUnreadable(f"not a ZTF alert table (no column {', '.join(sorted(missing))})")
    # Fink adds its own science columns; only the alert's own columns are read.
    wanted = [c for c in ("objectId", "candid", "schemavsn", "publisher", "candidate", "prv_candidates",
                          "cutoutScience", "cutoutTemplate", "cutoutDifference") if c in names]  # fmt: skip
    if "prv_candidates" in wanted:
        # Only the light-curve fields of the history (as for Avro, ``POINT_FIELDS``): reading ~100 fields of
        # ~20 past detections into dicts was over half of a Fink row's decoding time.
        leaves = [
            path
            for path in (pf.schema.column(i).path for i in range(len(pf.schema)))
            if path.startswith("prv_candidates.") and path.rsplit(".", 1)[-1] in POINT_FIELDS
        ]
        if leaves:
            wanted = [c for c in wanted if c != "prv_candidates"] + leaves
    row = 0
    try:
        # One thread: Arrow's pool (a thread per core) cost ~15 % more CPU on tables of a few dozen rows, and
        # ingest already keeps every core busy with its own worker processes.
        for batch in pf.iter_batches(batch_size=256, columns=wanted, use_threads=False):
            for record in batch.to_pylist():
                yield RawAlert(record, f"{path}#row={row}")
                row += 1
    except Exception as exc:
        raise FileUnreadable(f"unreadable Parquet after {row} row(s) ({exc})") from exc


# ----------------------------------------------------------------------------------------------------
# Cutouts
# ----------------------------------------------------------------------------------------------------

_FITS_DTYPES = {-32: ">f4", -64: ">f8", 8: "u1", 16: ">i2", 32: ">i4", 64: ">i8"}


class _UnusualFits(Exception):
    """Outside the fast reader's plain case: let astropy decide."""


def _gunzip(data: bytes) -> tuple[bytes, bool]:
    """The FITS bytes of a stamp, and whether ``data`` is exactly one gzip member (nothing after it)."""
    if data[:2] != GZIP_MAGIC:
        if data[:6] == b"SIMPLE":
            return data, False  # an uncompressed FITS stamp is fine too
        raise AlertRejected("stamp is neither gzip nor FITS")
    d = fast_zlib.decompressobj(wbits=31)
    try:
        out = d.decompress(data, MAX_STAMP_BYTES)
    except (zlib.error, fast_zlib.error) as exc:
        raise AlertRejected(f"corrupt gzip ({exc})") from exc
    if d.unconsumed_tail:
        raise AlertRejected(f"stamp larger than {MAX_STAMP_BYTES // 1024 // 1024} MiB once decompressed")
    if not d.eof:
        raise AlertRejected("corrupt gzip (truncated stream)")
    return out, not d.unused_data


# The header cards the fast reader looks at, as they sit in the card's first 8 bytes. Any other card is
# passed over with one slice and one set lookup: parsing all ~36 cards of a ZTF stamp was a sixth of its
# decoding time.
_FITS_KEYS = frozenset(
    k.ljust(8).encode()
    for k in ("SIMPLE", "XTENSION", "BITPIX", "NAXIS", "BSCALE", "BZERO", "BLANK", "ZIMAGE", "EXTEND")
) | frozenset(f"NAXIS{i}".encode().ljust(8) for i in range(1, 1000))
_END_KEY = b"END     "


def _fits_header(raw: bytes) -> tuple[dict[str, str], int]:
    """The values of the ``_FITS_KEYS`` cards (text before any comment, stripped) and where the data begin."""
    cards: dict[str, str] = {}
    pos = 0
    while True:
        if len(raw) - pos < FITS_BLOCK:
            raise AlertRejected("corrupt FITS (header without END)")
        for i in range(pos, pos + FITS_BLOCK, 80):
            key = raw[i : i + 8]
            if key in _FITS_KEYS:
                if raw[i + 8 : i + 10] == b"= ":
                    cards[key.rstrip().decode()] = (
                        raw[i + 10 : i + 80].split(b"/", 1)[0].strip().decode("ascii", "replace")
                    )
            elif key == _END_KEY:
                return cards, pos + FITS_BLOCK
        pos += FITS_BLOCK


def _fast_fits(raw: bytes) -> tuple[np.ndarray, bool]:
    """Read a plain primary-HDU FITS image: header cards in 2880-byte blocks, then big-endian pixels.

    Also says whether the image is "plain" in the sense of ``labeling.models.stamp_array``: float32 pixels
    with no scaling that fill the file's last blocks exactly, so that they can be found again without the
    header."""
    cards, pos = _fits_header(raw)
    if cards.get("SIMPLE") != "T" and "XTENSION" not in cards:
        if not raw.startswith(b"SIMPLE"):
            raise AlertRejected("corrupt FITS (no SIMPLE card)")
        raise _UnusualFits()
    if "BLANK" in cards or "ZIMAGE" in cards or cards.get("EXTEND") == "T" and cards.get("NAXIS") == "0":
        raise _UnusualFits()
    try:
        bitpix = int(cards["BITPIX"])
        naxis = int(cards["NAXIS"])
        shape = tuple(int(cards[f"NAXIS{i}"]) for i in range(naxis, 0, -1))
        bscale = float(cards.get("BSCALE", "1").replace("D", "E"))
        bzero = float(cards.get("BZERO", "0").replace("D", "E"))
    except (KeyError, ValueError) as exc:
        raise _UnusualFits() from exc
    if bitpix not in _FITS_DTYPES:
        raise AlertRejected(f"corrupt FITS (BITPIX {bitpix})")
    if naxis != 2:
        raise AlertRejected(f"stamp is not 2-D (NAXIS = {naxis}, shape {shape})")
    if min(shape) <= 0:
        raise AlertRejected(f"corrupt FITS (image axes {shape[1]}x{shape[0]})")
    dtype = np.dtype(_FITS_DTYPES[bitpix])
    count = shape[0] * shape[1]
    if len(raw) - pos < count * dtype.itemsize:
        raise AlertRejected(f"corrupt FITS (truncated data: {shape[1]}x{shape[0]} pixels declared)")
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=pos).reshape(shape)
    out = data.astype(np.float32)
    scaled = bscale != 1.0 or bzero != 0.0
    if scaled:
        out = (out * np.float32(bscale) + np.float32(bzero)).astype(np.float32)
    plain = bitpix == -32 and not scaled and fits_data_offset(len(raw), *shape) == pos
    return out, plain


def _astropy_fits(raw: bytes) -> np.ndarray:
    import warnings

    from astropy.io import fits

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(io.BytesIO(raw), memmap=False) as hdul:
                hdu = next((h for h in hdul if h.data is not None), None)
                if hdu is None:
                    raise AlertRejected("FITS holds no image")
                data = np.asarray(hdu.data)
    except AlertRejected:
        raise
    except Exception as exc:
        raise AlertRejected(f"corrupt FITS ({type(exc).__name__}: {exc})") from exc
    if data.ndim != 2:
        raise AlertRejected(f"stamp is not 2-D (shape {data.shape})")
    return data.astype(np.float32)


def decode_stamp_checked(stamp_data: bytes) -> tuple[np.ndarray, int, bytes | None]:
    """gzip → FITS → 2-D float32 array (native byte order), checked; raises AlertRejected with a reason.

    Returns the array (non-finite pixels made NaN), how many pixels were not finite, and ``stamp_data`` as
    bytes when it may be stored as the stamp itself (one gzip member of a plain float32 image with no
    infinities: see ``labeling.models.stamp_array``), else None."""
    if not isinstance(stamp_data, bytes | bytearray | memoryview) or len(stamp_data) == 0:
        raise AlertRejected("stamp has no data")
    data = bytes(stamp_data)
    raw, one_member = _gunzip(data)
    try:
        array, plain = _fast_fits(raw)
    except _UnusualFits:
        array, plain = _astropy_fits(raw), False
    h, w = array.shape
    if h == 0 or w == 0 or h > MAX_STAMP_SIDE or w > MAX_STAMP_SIDE:
        raise AlertRejected(f"stamp has an implausible shape {w}x{h}")
    finite = np.isfinite(array)
    bad = array.size - int(np.count_nonzero(finite))
    if bad == array.size:
        raise AlertRejected("all pixels are NaN")
    if bad:
        plain = plain and not np.isinf(array).any()  # stored as sent, an infinity would come back
        array = np.where(finite, array, np.float32(np.nan))  # +-inf is as unusable as NaN
    return array, bad, data if plain and one_member else None


def decode_stamp(stamp_data: bytes) -> np.ndarray:
    """gzip → FITS → 2-D float32 array (native byte order), checked; raises AlertRejected with a reason."""
    return decode_stamp_checked(stamp_data)[0]


def pack_stamp(array: np.ndarray) -> bytes:
    """The ``Stamps`` storage format (a zlib stream of little-endian float32), written with ISA-L when present."""
    if fast_zlib is zlib:
        return Stamps.pack(array)
    return fast_zlib.compress(np.ascontiguousarray(array, dtype="<f4").tobytes(), 1)


def _common_shape(arrays: list[np.ndarray]) -> list[np.ndarray]:
    # ZTF cuts the three stamps of an edge candidate alike; should they ever differ, pad with NaN
    # (the value ZTF itself uses off the CCD) rather than lose one.
    h = max(a.shape[0] for a in arrays)
    w = max(a.shape[1] for a in arrays)
    out = []
    for a in arrays:
        if a.shape != (h, w):
            padded = np.full((h, w), np.nan, dtype=np.float32)
            padded[: a.shape[0], : a.shape[1]] = a
            a = padded
        out.append(a)
    return out


# ----------------------------------------------------------------------------------------------------
# Preparing rows
# ----------------------------------------------------------------------------------------------------


@dataclass
class PreparedAlert:
    candid: int
    fields: dict
    stamps: dict
    points: list[tuple]  # in POINT_COLUMNS order
    source: str
    # The packet's candidate record (non-finite numbers made null) as JSON text: what the ``candidate``
    # column stores. Encoded here, in the decoding worker when there is one, and a string crosses from a
    # worker process far cheaper than a dict of ~100 entries.
    candidate_json: str = ""


def _clean_number(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json_safe(record: dict) -> dict:
    # PostgreSQL's jsonb refuses NaN/Infinity, which Fink's tables contain.
    out = {}
    for k, v in record.items():
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        elif isinstance(v, bytes):
            continue
        out[k] = v
    return out


def _candidate_json(cand: dict) -> str:
    # orjson writes NaN and +-Infinity as null, which is what _json_safe does, at a tenth of json.dumps's
    # cost (~0.15 ms an alert saved); it refuses bytes and integers beyond 64 bits, left to the slow path.
    try:
        return orjson.dumps(cand).decode()
    except TypeError:
        pass
    # Encoding first and cleaning only when the text shows a non-finite number (or bytes refused it) saves
    # _json_safe's Python loop over ~100 values on nearly every packet.
    try:
        text = json.dumps(cand)
    except TypeError:
        text = "NaN"
    if "NaN" in text or "Infinity" in text:
        text = json.dumps(_json_safe(cand), allow_nan=False)
    return text


def night_of(jd: float) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=math.floor(jd - JD_UNIX_EPOCH))


def _isdiffpos(value) -> bool | None:
    if value is None:
        return None
    return str(value).strip().lower() in ("t", "1", "true")


# A light-curve point as ``prepare`` makes it: a tuple, not a dict, being ~25 per alert (pickled from a worker).
POINT_COLUMNS = (
    "object_id", "jd", "fid", "is_detection", "magpsf", "sigmapsf", "diffmaglim", "isdiffpos", "candid", "programid",
)  # fmt: skip


def _lightcurve_point(object_id: str, p: dict, own_candid: int | None = None) -> tuple | None:
    # ~25 of these per real alert (its prv_candidates): written flat, as the hottest loop of prepare().
    jd = p.get("jd")
    fid = p.get("fid")
    if jd is None or fid is None or (jd.__class__ is float and not math.isfinite(jd)):
        return None
    magpsf = p.get("magpsf")
    if magpsf is not None and magpsf.__class__ is float and not math.isfinite(magpsf):
        magpsf = None
    diffmaglim = p.get("diffmaglim")
    if diffmaglim is not None and diffmaglim.__class__ is float and not math.isfinite(diffmaglim):
        diffmaglim = None
    if magpsf is None and diffmaglim is None:
        return None
    candid = own_candid if own_candid is not None else p.get("candid")
    # Some Fink tables store prv candid as a double, with precision lost: such a value is no identifier.
    if candid.__class__ is not int:
        candid = None if not isinstance(candid, int) or isinstance(candid, bool) else int(candid)
    programid = p.get("programid")
    if programid is not None and programid.__class__ is not int:
        programid = int(programid) if isinstance(programid, int | float) and math.isfinite(programid) else None
    if magpsf is not None:
        sigmapsf = p.get("sigmapsf")
        if sigmapsf is not None and sigmapsf.__class__ is float and not math.isfinite(sigmapsf):
            sigmapsf = None
        isdiffpos = _isdiffpos(p.get("isdiffpos"))
    else:
        sigmapsf = isdiffpos = None
    return (
        object_id,
        float(jd),
        int(fid),
        magpsf is not None,
        magpsf,
        sigmapsf,
        diffmaglim,
        isdiffpos,
        candid,
        programid,
    )


def prepare(raw: RawAlert) -> PreparedAlert:
    """Validate one packet and decode its cutouts; nothing touches the database here."""
    record = raw.record
    missing = [k for k in ("candid", "objectId", "candidate") if record.get(k) is None]
    if missing:
        raise AlertRejected(f"not a ZTF alert packet (missing {', '.join(missing)})")
    candid = record["candid"]
    if not isinstance(candid, int) or isinstance(candid, bool) or candid <= 0:
        raise AlertRejected(f"candid {candid!r} is not a positive integer")
    cand = record["candidate"]
    if not isinstance(cand, dict):
        raise AlertRejected("candidate is not a record")
    for key in ("jd", "fid", "ra", "dec"):
        value = _clean_number(cand.get(key))
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise AlertRejected(f"candidate.{key} is missing or not a number")
    if not (0.0 <= cand["ra"] <= 360.0 and -90.0 <= cand["dec"] <= 90.0):
        raise AlertRejected(f"position out of range (ra={cand['ra']}, dec={cand['dec']})")
    if not JD_RANGE[0] < cand["jd"] < JD_RANGE[1]:
        raise AlertRejected(f"candidate.jd = {cand['jd']} is not a plausible exposure time")

    arrays = []
    nonfinite = []
    as_sent = []  # per stamp: the packet's bytes when they can be stored as they are, else None
    for kind, key in CUTOUT_FIELDS:
        cutout = record.get(key)
        if not isinstance(cutout, dict) or cutout.get("stampData") is None:
            raise AlertRejected(f"no {kind} cutout ({key})")
        try:
            array, bad, kept = decode_stamp_checked(cutout["stampData"])
        except AlertRejected as exc:
            raise AlertRejected(f"{kind} cutout: {exc}") from None
        arrays.append(array)
        nonfinite.append(bad)
        as_sent.append(kept)
    shapes = [a.shape for a in arrays]
    arrays = _common_shape(arrays)
    h, w = arrays[0].shape
    if all(shape == (h, w) for shape in shapes):
        nan_fraction = (nonfinite[0] / (h * w) + nonfinite[1] / (h * w) + nonfinite[2] / (h * w)) / 3
    else:  # padded with NaN: count again
        nan_fraction = float(np.mean([np.isnan(a).mean() for a in arrays]))
        as_sent = [sent if shape == (h, w) else None for sent, shape in zip(as_sent, shapes, strict=True)]

    object_id = str(record["objectId"])
    fields = {
        "candid": candid,
        "object_id": object_id,
        "schemavsn": str(record.get("schemavsn") or ""),
        "publisher": str(record.get("publisher") or "")[:64],
        "jd": float(cand["jd"]),
        "night": night_of(float(cand["jd"])),
        "fid": int(cand["fid"]),
        "ra": float(cand["ra"]),
        "dec": float(cand["dec"]),
        "isdiffpos": bool(_isdiffpos(cand.get("isdiffpos"))),
        "ssnamenr": "" if cand.get("ssnamenr") in (None, "null") else str(cand["ssnamenr"])[:64],
        "source": raw.source[-500:],
        "demo_truth": raw.truth,
    }
    for name in FLOAT_COLUMNS:
        value = _clean_number(cand.get(name))
        if value is not None and name in SENTINEL_FIELDS and value <= -998.5:
            value = None
        fields[name] = float(value) if value is not None else None
    for name in INT_COLUMNS:
        value = cand.get(name)
        fields[name] = int(value) if isinstance(value, int | float) and math.isfinite(value) else None

    points = []
    for p in record.get("prv_candidates") or ():
        if isinstance(p, dict):
            point = _lightcurve_point(object_id, p)
            if point is not None:
                points.append(point)
    own = _lightcurve_point(object_id, cand, own_candid=candid)
    if own is not None:
        points.append(own)

    stamps = {
        "height": h,
        "width": w,
        # The packet's own gzip stream where it holds a plain image (most do): re-compressing the pixels cost
        # more than any other step but inflating them, for no smaller result.
        "science": as_sent[0] if as_sent[0] is not None else pack_stamp(arrays[0]),
        "template": as_sent[1] if as_sent[1] is not None else pack_stamp(arrays[1]),
        "difference": as_sent[2] if as_sent[2] is not None else pack_stamp(arrays[2]),
        "nan_fraction": nan_fraction,
    }
    _check_columns(Alert, fields, "")
    _check_points(points)
    candidate_json = _candidate_json(cand)
    return PreparedAlert(candid, fields, stamps, points, raw.source, candidate_json)


_PACKET_NAMES = {"object_id": "objectId"}


@functools.cache
def _column_limits(model) -> tuple[tuple[str, str, int | None, int | None, int | None], ...]:
    """(name, packet label, max_length, low, high) of the text and integer columns of ``model``."""
    limits = []
    for f in model._meta.concrete_fields:
        label = _PACKET_NAMES.get(f.attname, f.attname)
        if isinstance(f, models.CharField) and f.max_length:
            limits.append((f.attname, label, f.max_length, None, None))
        elif isinstance(f, models.IntegerField) and not f.primary_key:
            low, high = connection.ops.integer_field_range(f.get_internal_type())
            limits.append((f.attname, label, None, low, high))
    return tuple(limits)


def _check_columns(model, values: dict, where: str) -> None:
    """Refuse values the database would refuse (text too long, integers out of range, absurd times) with
    the packet's own field name, before the batch is written: one hostile packet must not sink a batch."""
    for name, label, max_length, low, high in _column_limits(model):
        value = values.get(name)
        if value is None:
            continue
        if max_length is not None:
            if len(value) > max_length:
                raise AlertRejected(f"{where}{label} is {len(value)} characters long, more than {max_length}")
        elif (low is not None and value < low) or (high is not None and value > high):
            raise AlertRejected(f"{where}{label} = {value} is out of range")
    jd = values.get("jd")
    if jd is not None and not JD_RANGE[0] < jd < JD_RANGE[1]:
        raise AlertRejected(f"{where}jd = {jd} is not a plausible exposure time")


@functools.cache
def _icrs_to_galactic() -> np.ndarray:
    """The ICRS -> Galactic rotation, as astropy defines it (via FK5 J2000), taken from astropy once.

    Both frames are fixed (no epoch, no observer), so the transform is one constant 3x3 matrix; building a
    SkyCoord per batch cost ~0.2 ms per alert, most of it astropy's frame-graph machinery, not arithmetic.
    """
    from astropy.coordinates import CartesianRepresentation, SkyCoord

    # The images of the ICRS unit vectors are the matrix's columns.
    return np.array(SkyCoord(CartesianRepresentation(np.eye(3)), frame="icrs").galactic.cartesian.xyz.value)


def _check_points(points: list[tuple]) -> None:
    """``_check_columns`` for the light-curve points, a column at a time: per point it was ~0.1 ms an alert.
    Only when a column is out of bounds are the points checked one by one, for the message."""
    if not points:
        return
    for name, _label, max_length, low, high in _column_limits(LightCurvePoint):
        i = POINT_COLUMNS.index(name)
        values = [v for p in points if (v := p[i]) is not None]
        if not values:
            continue
        if max_length is not None:
            bad = max(len(v) for v in values) > max_length
        else:
            bad = (low is not None and min(values) < low) or (high is not None and max(values) > high)
        if bad:
            break
    else:
        jds = [p[1] for p in points]
        if JD_RANGE[0] < min(jds) and max(jds) < JD_RANGE[1]:
            return
    for i, point in enumerate(points):
        _check_columns(LightCurvePoint, dict(zip(POINT_COLUMNS, point, strict=True)), f"light-curve point {i}: ")


def galactic(ra: list[float], dec: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Galactic (l, b) in degrees of ICRS (ra, dec) in degrees; matches ``SkyCoord(...).galactic`` to ~1e-11 deg."""
    ra_rad = np.radians(np.asarray(ra, dtype=np.float64))
    dec_rad = np.radians(np.asarray(dec, dtype=np.float64))
    cos_dec = np.cos(dec_rad)
    x, y, z = _icrs_to_galactic() @ np.stack([cos_dec * np.cos(ra_rad), cos_dec * np.sin(ra_rad), np.sin(dec_rad)])
    gal_l = np.mod(np.degrees(np.arctan2(y, x)), 360.0)
    gal_l[gal_l >= 360.0] = 0.0  # a tiny negative angle rounds to 360.0; astropy's Longitude wraps it to 0
    return gal_l, np.degrees(np.arctan2(z, np.hypot(x, y)))


# ----------------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------------


def _unique_points(prepared: list[PreparedAlert]) -> list[tuple]:
    # The same observation appears in the prv_candidates of every later alert of an object; keep one,
    # preferring a detection over an upper limit at the same (object, jd, filter).
    points: dict[tuple, tuple] = {}
    for p in prepared:
        for point in p.points:
            key = point[:3]
            old = points.get(key)
            if old is None or (point[3] and not old[3]):
                points[key] = point
    return list(points.values())


def _write_batch(prepared: list[PreparedAlert]) -> list[int]:
    """Write alerts not yet stored, with their stamps and points, in one transaction; return new alert ids."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            return _copy_batch(prepared)
        alerts = Alert.objects.bulk_create(
            [Alert(**p.fields, candidate=json.loads(p.candidate_json)) for p in prepared]
        )
        Stamps.objects.bulk_create([Stamps(alert_id=a.pk, **p.stamps) for a, p in zip(alerts, prepared, strict=True)])
        LightCurvePoint.objects.bulk_create(
            [LightCurvePoint(**dict(zip(POINT_COLUMNS, p, strict=True))) for p in _unique_points(prepared)],
            ignore_conflicts=True,
            batch_size=2000,
        )
    return [a.pk for a in alerts]


def _copy_columns(model, skip: tuple[str, ...] = ()) -> list:
    return [f for f in model._meta.concrete_fields if f.attname not in skip]


def _json_text(obj) -> str:
    # The candidate arrives as JSON text already (``PreparedAlert.candidate_json``).
    return obj if isinstance(obj, str) else json.dumps(obj, allow_nan=False)


def _column_types(cursor, table: str, columns: list[str]) -> list[str]:
    cursor.execute(
        "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute "
        "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
        [f'"{table}"'],
    )
    types = dict(cursor.fetchall())
    return [types[c] for c in columns]


def _copy_rows(cursor, model, fields: list, rows: Iterable[list], table: str | None = None) -> None:
    """COPY in binary: bytea goes over as it is (text COPY doubles every stamp byte into hex, which both
    psycopg and the server then spend CPU on), numbers and dates without formatting or parsing."""
    from psycopg import sql

    table = table or model._meta.db_table
    columns = [f.column for f in fields]
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    types = _column_types(cursor, table, columns)
    with cursor.copy(statement) as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def _copy_batch(prepared: list[PreparedAlert]) -> list[int]:
    """PostgreSQL: COPY instead of INSERT. The ORM's bulk_create spends more time building one huge INSERT
    (and psycopg quoting ~50 kB of stamp bytes per alert into it) than the server spends storing the rows;
    COPY streams them. Alert ids come from the table's own sequence first, so the stamps can refer to them.
    Points go through a staging table, because COPY cannot skip rows already stored ("ON CONFLICT")."""
    from django.utils import timezone
    from psycopg.types.json import set_json_dumps

    alert_fields = _copy_columns(Alert)
    now = timezone.now()
    # Where each Alert column's value comes from: the prepared fields, or a constant for the whole batch.
    constants = {
        f.attname: f.get_db_prep_save(f.get_default(), connection)
        for f in alert_fields
        if f.attname not in ("id", "ingested_at", "candidate")
    }
    constants["ingested_at"] = now
    names = [f.attname for f in alert_fields]
    with connection.wrap_database_errors, connection.cursor() as wrapper:
        cursor = wrapper.cursor  # psycopg's own cursor: COPY is not part of the DB-API
        set_json_dumps(_json_text, cursor)
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [Alert._meta.db_table, len(prepared)],
        )
        ids = [row[0] for row in cursor.fetchall()]

        def alert_row(pk: int, p: PreparedAlert) -> list:
            values = p.fields
            row = []
            for name in names:
                if name == "id":
                    row.append(pk)
                elif name == "candidate":
                    row.append(p.candidate_json)
                elif name in values:
                    row.append(values[name])
                else:
                    row.append(constants[name])
            return row

        _copy_rows(cursor, Alert, alert_fields, (alert_row(pk, p) for pk, p in zip(ids, prepared, strict=True)))
        stamp_fields = _copy_columns(Stamps)
        stamp_names = [f.attname for f in stamp_fields]
        _copy_rows(
            cursor,
            Stamps,
            stamp_fields,
            (
                [pk if name == "alert_id" else p.stamps[name] for name in stamp_names]
                for pk, p in zip(ids, prepared, strict=True)
            ),
        )
        points = _unique_points(prepared)
        if points:
            point_fields = [LightCurvePoint._meta.get_field(name) for name in POINT_COLUMNS]
            table = LightCurvePoint._meta.db_table
            columns = ", ".join(f'"{f.column}"' for f in point_fields)
            cursor.execute(
                f'CREATE TEMP TABLE IF NOT EXISTS "blink_ingest_points" ON COMMIT DELETE ROWS '
                f'AS SELECT {columns} FROM "{table}" WITH NO DATA'
            )
            _copy_rows(
                cursor,
                LightCurvePoint,
                point_fields,
                points,
                table="blink_ingest_points",
            )
            cursor.execute(
                f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM "blink_ingest_points" '
                f"ORDER BY object_id, jd, fid ON CONFLICT (object_id, jd, fid) DO NOTHING"
            )
            # ON COMMIT empties it too, but a caller's outer transaction makes this one a savepoint.
            cursor.execute('DELETE FROM "blink_ingest_points"')
    return ids


_WRITE_ERRORS = (IntegrityError, DataError, OperationalError)


def _is_conflict(exc: Exception) -> bool:
    """A refusal worth retrying alert by alert: a unique or value conflict, or a deadlock (PostgreSQL's
    SQLSTATE 40P01; the lock order above makes it rare, not impossible: another program writing the same
    tables). Any other OperationalError (the database gone) is no conflict and must reach the caller."""
    if not isinstance(exc, OperationalError):
        return True
    return getattr(getattr(exc, "__cause__", None), "sqlstate", None) == "40P01"


def _flush(batch: list[PreparedAlert], report: IngestReport) -> None:
    if not batch:
        return
    by_candid: dict[int, PreparedAlert] = {}
    for p in batch:
        if p.candid in by_candid:
            report.present += 1  # the same packet twice in one run
        else:
            by_candid[p.candid] = p
    stored = set(Alert.objects.filter(candid__in=list(by_candid)).values_list("candid", flat=True))
    report.present += len(stored)
    # In candid order, as the points are in key order: two processes storing overlapping batches then take
    # the unique-index locks in the same order, so one waits for the other instead of deadlocking.
    fresh = sorted((p for c, p in by_candid.items() if c not in stored), key=lambda p: p.candid)
    if not fresh:
        return
    ls, bs = galactic([p.fields["ra"] for p in fresh], [p.fields["dec"] for p in fresh])
    for p, gl, gb in zip(fresh, ls, bs, strict=True):
        p.fields["gal_l"] = float(gl)
        p.fields["gal_b"] = float(gb)
    try:
        report.new_alert_ids.extend(_write_batch(fresh))
        report.new += len(fresh)
        return
    except _WRITE_ERRORS as exc:
        if not _is_conflict(exc):
            raise
        logger.info("ingest: batch of %d hit a conflict; retrying alert by alert", len(fresh))
    for p in fresh:
        try:
            if Alert.objects.filter(candid=p.candid).exists():
                report.present += 1
                continue
            report.new_alert_ids.extend(_write_batch([p]))
            report.new += 1
        except _WRITE_ERRORS as exc:
            if not _is_conflict(exc):
                raise
            if Alert.objects.filter(candid=p.candid).exists():
                report.present += 1  # another process stored it meanwhile
            else:
                report.reject(f"{p.source}: candid {p.candid}: not stored ({exc})")


def _describe(raw: RawAlert) -> str:
    candid = raw.record.get("candid") if isinstance(raw.record, dict) else None
    return f"{raw.source}: candid {candid}" if candid is not None else f"{raw.source}"


def prepare_file(path: Path | str) -> tuple[list[PreparedAlert], list[str]]:
    """Read and prepare every alert of one file: the packets ready to write, and one message per refusal.
    No database access, so it runs as well in a worker process as in the caller's."""
    path = Path(path)
    prepared: list[PreparedAlert] = []
    errors: list[str] = []
    try:
        for raw in read_file(path):
            try:
                prepared.append(prepare(raw))
            except AlertRejected as exc:
                errors.append(f"{_describe(raw)}: {exc}")
            except (ValueError, TypeError, OverflowError, KeyError, IndexError) as exc:
                # A value no check above foresaw: refuse this packet, keep going with the others.
                errors.append(f"{_describe(raw)}: unreadable value ({type(exc).__name__}: {exc})")
    except FileUnreadable as exc:
        errors.append(f"{path}: {exc}")
    return prepared, errors


def _prepared_files(files: list[Path], workers: int) -> Iterator[tuple[list[PreparedAlert], list[str]]]:
    """``prepare_file`` over the files, in order: in this process, or in ``workers`` processes while this one
    writes to the database (decoding is most of the CPU work; the pipeline keeps both cores busy)."""
    done = 0
    if workers > 0:
        import collections

        from labeling import ingest_worker

        context = _pool_context()
        # Bounded read-ahead, so a million files never sit decoded in memory at once; a sliding window (not
        # batches of files) so the workers never wait for this process to drain a batch.
        window = workers * 4
        with context.Pool(workers, initializer=ingest_worker.init) as pool:
            pending: collections.deque = collections.deque()
            submitted = 0
            while done < len(files):
                while submitted < len(files) and len(pending) < window:
                    # A few files per task: one pipe round trip per file cost more than a small file's decoding.
                    names = [str(f) for f in files[submitted : submitted + FILES_PER_TASK]]
                    pending.append(pool.apply_async(ingest_worker.prepare_files, (names,)))
                    submitted += len(names)
                results = pending.popleft().get()
                if results is None:
                    logger.warning("ingest: worker processes could not start Django; decoding in this process")
                    break
                for result in results:
                    done += 1
                    yield result
    for path in files[done:]:
        yield prepare_file(path)


FILES_PER_TASK = 8
# A spawned worker's start-up (a fresh interpreter importing Django, numpy, pyarrow) costs ~1.8 s of CPU;
# below a few thousand files that is more than the second core saves. A forked one starts in milliseconds,
# and pays from a few hundred files (the 412 of ../shared/data).
MIN_FILES_FOR_WORKER = 2000
MIN_FILES_FOR_FORKED_WORKER = 200


def _default_workers(n_files: int) -> int:
    """Worker processes for an ingest of ``n_files`` files, when there are enough files to pay for them.

    Two at most, on PostgreSQL each decoding and storing its share (elsewhere decoding for this process to
    write). Measured on 2 cores (``bench/ingest.py``, 5,528 alerts) on two fast VMs: 928-1,239 alerts/s in this
    process alone and 1,342-1,998 with two forked workers (three: 1,349-1,502), 0.8-1.0 ms of CPU an alert,
    PostgreSQL's included; on a VM about 3x slower at plain Python, 392-435 and 702-748 (2.2-2.5 ms). None when the machine is busy already (a load average over cores + 1: a neighbour on a whole
    core left two workers no faster than none, and dearer in CPU). None either when the caller holds
    TensorFlow (the scoring server, a notebook): a spawn pool started from such a process was seen to stall.
    BLINK_INGEST_WORKERS overrides the choice.
    """
    override = os.environ.get("BLINK_INGEST_WORKERS", "").strip()
    if override.isdigit():
        return int(override)
    cpus = os.cpu_count() or 1
    if cpus < 2 or n_files < (MIN_FILES_FOR_FORKED_WORKER if _fork_is_safe() else MIN_FILES_FOR_WORKER):
        return 0
    try:
        if os.getloadavg()[0] >= cpus + 1:
            return 0
    except OSError:  # no load average on this platform
        pass
    if "tensorflow" in sys.modules:
        return 0
    return min(2, cpus)


def ingest_prepared(
    results: Iterable[tuple[list[PreparedAlert], list[str]]],
    report: IngestReport,
    batch_size: int = BATCH_SIZE,
    on_file=None,
) -> None:
    """Store ``prepare_file`` results batch by batch, counting into ``report``."""
    batch: list[PreparedAlert] = []
    for prepared, errors in results:
        report.files += 1
        for message in errors:
            report.reject(message)
        batch.extend(prepared)
        while len(batch) >= batch_size:  # a big Parquet table still goes in batch by batch
            _flush(batch[:batch_size], report)
            batch = batch[batch_size:]
        if on_file is not None:
            on_file()
    _flush(batch, report)


def _writer_chunks(files: list[Path], workers: int) -> list[list[str]]:
    """The files split into worker tasks. Large while much is left: a task's transactions should hold a few
    hundred alerts (a commit per handful of packets would cost more than the packets). Then smaller and
    smaller ("guided" scheduling), so that no worker sits idle at the end while the other finishes a large
    task: with equal tasks of an eighth of a worker's share, that tail was several per cent of a
    5,000-alert ingest."""
    chunks = []
    i = 0
    while i < len(files):
        size = max(FILES_PER_TASK, min(256, (len(files) - i) // (workers * 4)))
        chunks.append([str(f) for f in files[i : i + size]])
        i += size
    return chunks


def _fork_is_safe() -> bool:
    """One thread (daphne, TensorFlow or a test server may hold others, and a fork copies the locks they
    hold), no TensorFlow, and no open transaction (its connection cannot be closed)."""
    import multiprocessing
    import threading

    return (
        "fork" in multiprocessing.get_all_start_methods()
        and threading.active_count() == 1
        and "tensorflow" not in sys.modules
        and not connection.in_atomic_block
    )


def _pool_context():
    """fork where it is safe, spawn otherwise. A spawned worker imports Django, numpy and pyarrow afresh
    (~1.8 s of CPU each: a sixth of the CPU of a 5,000-alert ingest); a forked one starts with them. The
    database connections are closed first, so that no child shares the parent's socket."""
    import multiprocessing

    from django.db import connections

    if _fork_is_safe():
        connections.close_all()
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _show_progress(bar, report: IngestReport, files: int = 1) -> None:
    if bar is not None:
        bar.update(files)
        bar.set_postfix(new=report.new, present=report.present, rejected=report.rejected)


def _ingest_in_workers(files: list[Path], workers: int, batch_size: int, report: IngestReport, bar) -> None:
    """PostgreSQL: each worker process decodes *and* stores its share of the files, over its own connection.
    Shipping decoded packets back to one writer makes that writer the bottleneck: pickling is cheap (~0.03 ms
    an alert each way), but its unpickle + COPY + wait for the server is one serial path (~0.4 ms an alert in
    the writer alone); measured on 2 cores, 555-604 alerts/s that way against 643-655 with writing workers.
    PostgreSQL takes concurrent COPYs. Each batch is still one transaction; two workers storing
    the same candid or light-curve point meet the same unique indexes (and retries) as two ingest commands."""
    from labeling import ingest_worker

    context = _pool_context()
    chunks = _writer_chunks(files, workers)
    done = 0
    with context.Pool(workers, initializer=ingest_worker.init, initargs=(connection.settings_dict["NAME"],)) as pool:
        for result in pool.imap(functools.partial(ingest_worker.ingest_files, batch_size=batch_size), chunks):
            if result is None:
                logger.warning("ingest: worker processes could not start Django; ingesting in this process")
                break
            n_files, new, present, rejected, errors, new_ids = result
            report.files += n_files
            report.new += new
            report.present += present
            report.rejected += rejected
            report.errors.extend(errors)  # the worker logged them
            report.new_alert_ids.extend(new_ids)
            done += 1
            _show_progress(bar, report, n_files)
    rest = [f for chunk in chunks[done:] for f in chunk]
    if rest:
        ingest_prepared((prepare_file(f) for f in rest), report, batch_size)


def ingest_paths(
    paths: Iterable, *, progress: bool = False, batch_size: int = BATCH_SIZE, workers: int | None = None
) -> IngestReport:
    """Ingest every alert in the given files, directories and globs. See the module docstring.

    ``workers``: processes that decode packets while this one writes; None or 0 decodes in this process.
    """
    report = IngestReport()
    files, missing = expand_paths(paths if not isinstance(paths, str | Path) else [paths])
    for message in missing:
        report.reject(message, count=0)
        report.rejected += 1
    bar = None
    if progress:
        from tqdm import tqdm

        # tqdm's monitor thread (it only tunes the refresh rate) would make the workers spawn, not fork.
        tqdm.monitor_interval = 0
        bar = tqdm(total=len(files), unit="file", desc="Ingesting", dynamic_ncols=True)
    n_workers = _default_workers(len(files)) if workers is None else workers

    # Inside the caller's transaction the alerts must be part of it: worker processes would commit their own.
    if n_workers > 0 and connection.vendor == "postgresql" and not connection.in_atomic_block:
        _ingest_in_workers(files, n_workers, batch_size, report, bar)
    else:
        ingest_prepared(_prepared_files(files, n_workers), report, batch_size, lambda: _show_progress(bar, report))
    if bar is not None:
        bar.set_postfix(new=report.new, present=report.present, rejected=report.rejected)
        bar.close()
    _score_new(report)
    _enqueue_drift(report)
    return report


def _score_new(report: IngestReport) -> None:
    """Score the new alerts with the active model, when the classifiers app provides one."""
    if not report.new_alert_ids:
        return
    import importlib

    try:
        scoring = importlib.import_module("classifiers.scoring")
    except ModuleNotFoundError as exc:
        if exc.name != "classifiers.scoring":
            raise
        return
    score_new_alerts = getattr(scoring, "score_new_alerts", None)
    if score_new_alerts is None:
        return
    try:
        score_new_alerts(report.new_alert_ids)
    except Exception as exc:  # scoring must never undo or fail an ingest that succeeded
        logger.exception("ingest: scoring the new alerts failed")
        report.notes.append(f"scoring the new alerts failed: {exc}")


def _enqueue_drift(report: IngestReport) -> None:
    """Queue the ML console's night-by-night drift recompute when new alerts came in (best effort)."""
    if not report.new_alert_ids:
        return
    try:
        from classifiers.drift import enqueue_drift_recompute

        enqueue_drift_recompute()
    except Exception as exc:  # drift is a summary for the ML console: it must never fail an ingest
        logger.exception("ingest: queueing the drift recompute failed")
        report.notes.append(f"queueing the drift recompute failed: {exc}")
