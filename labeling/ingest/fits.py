"""Cutouts: a packet's gzip-compressed FITS stamp into a checked 2-D float32 array, and arrays into storage.

A small reader handles the plain primary-HDU images ZTF writes (astropy is the fallback for anything
unusual), and a stamp that is a plain float32 image is kept as the packet's own gzip stream instead of
being compressed again (``labeling.models.stamp_array`` reads both forms).
"""

from __future__ import annotations

import io
import zlib

import numpy as np

from labeling.ingest.packets import AlertRejected
from labeling.models import Stamps
from labeling.models.alerts import FITS_BLOCK, GZIP_MAGIC, fits_data_offset

try:  # ISA-L's inflate/deflate are faster than zlib's, and read and write plain zlib/gzip streams
    from isal import isal_zlib as fast_zlib
except ImportError:  # pragma: no cover - isal is in requirements.txt; stdlib zlib gives the same bytes back
    fast_zlib = zlib

# Anything larger than this after gunzip is not a 63x63 stamp; refusing it keeps a gzip bomb harmless.
MAX_STAMP_BYTES = 4 * 1024 * 1024
MAX_STAMP_SIDE = 512
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
# passed over with one slice and one set lookup: parsing all ~36 cards of a ZTF stamp was a large share of
# its decoding time.
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


def common_shape(arrays: list[np.ndarray]) -> list[np.ndarray]:
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
