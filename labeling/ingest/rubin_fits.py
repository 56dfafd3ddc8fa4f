"""Rubin cutouts: one FITS file of three HDUs (the image, its variance ``UNCERT``, the PSF ``PSFIMAGE``), not
gzipped, square and of variable size (30x30 to ~71x71 at 0.2"/px). All three planes are kept, each at its own
size: the image becomes the stamp (``Stamps``), variance and PSF ``StampPlane`` rows.

A small HDU walker, as for ZTF's one-HDU stamps (``labeling.ingest.fits``): astropy would cost more than the
rest of the alert's decoding, and a Rubin cutout is plain images only.
"""

from __future__ import annotations

import numpy as np

from labeling.ingest.fits import MAX_STAMP_BYTES, MAX_STAMP_SIDE
from labeling.ingest.packets import AlertRejected
from labeling.models.alerts import FITS_BLOCK

_DTYPES = {-32: ">f4", -64: ">f8", 8: "u1", 16: ">i2", 32: ">i4", 64: ">i8"}
MAX_HDUS = 8
# The extension names Rubin gives the planes after the image, and the name Blink stores each under.
PLANE_NAMES = {"UNCERT": "variance", "VARIANCE": "variance", "PSFIMAGE": "psf", "PSF": "psf"}


def _header(raw: bytes, pos: int) -> tuple[dict[str, str], int]:
    """The cards of the header starting at ``pos`` (value text, quotes and comment removed) and where its
    data begin."""
    cards: dict[str, str] = {}
    while True:
        if len(raw) - pos < FITS_BLOCK:
            raise AlertRejected("corrupt FITS (header without END)")
        for i in range(pos, pos + FITS_BLOCK, 80):
            key = raw[i : i + 8].rstrip().decode("ascii", "replace")
            if key == "END":
                return cards, pos + FITS_BLOCK
            if raw[i + 8 : i + 10] == b"= ":
                text = raw[i + 10 : i + 80].decode("ascii", "replace").strip()
                if text.startswith("'"):
                    text = text[1:].split("'", 1)[0].strip()
                else:
                    text = text.split("/", 1)[0].strip()
                cards[key] = text
        pos += FITS_BLOCK


def _image(raw: bytes, cards: dict[str, str], pos: int) -> tuple[np.ndarray | None, int]:
    """The HDU's image (float32, NaN where not finite) or None when it has none, and where the next HDU begins."""
    try:
        bitpix = int(cards["BITPIX"])
        naxis = int(cards.get("NAXIS", "0"))
        shape = tuple(int(cards[f"NAXIS{i}"]) for i in range(naxis, 0, -1))
        bscale = float(cards.get("BSCALE", "1").replace("D", "E"))
        bzero = float(cards.get("BZERO", "0").replace("D", "E"))
    except (KeyError, ValueError) as exc:
        raise AlertRejected(f"corrupt FITS header ({exc})") from None
    if bitpix not in _DTYPES:
        raise AlertRejected(f"corrupt FITS (BITPIX {bitpix})")
    if naxis == 0:
        return None, pos
    if naxis != 2:
        raise AlertRejected(f"cutout plane is not 2-D (NAXIS = {naxis})")
    h, w = shape
    if not (0 < h <= MAX_STAMP_SIDE and 0 < w <= MAX_STAMP_SIDE):
        raise AlertRejected(f"cutout plane has an implausible shape {w}x{h}")
    dtype = np.dtype(_DTYPES[bitpix])
    size = h * w * dtype.itemsize
    if len(raw) - pos < size:
        raise AlertRejected(f"corrupt FITS (truncated data: {w}x{h} pixels declared)")
    data = np.frombuffer(raw, dtype=dtype, count=h * w, offset=pos).reshape(h, w).astype(np.float32)
    if bscale != 1.0 or bzero != 0.0:
        data = (data * np.float32(bscale) + np.float32(bzero)).astype(np.float32)
    return data, pos + -(-size // FITS_BLOCK) * FITS_BLOCK


def decode_cutout(data) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A Rubin cutout's image (float32, non-finite pixels NaN) and its other planes by Blink's name
    (``variance``, ``psf``). Raises AlertRejected with a reason."""
    if not isinstance(data, bytes | bytearray | memoryview) or len(data) == 0:
        raise AlertRejected("cutout has no data")
    raw = bytes(data)
    if len(raw) > MAX_STAMP_BYTES:
        raise AlertRejected(f"cutout larger than {MAX_STAMP_BYTES // 1024 // 1024} MiB")
    if not raw.startswith(b"SIMPLE"):
        raise AlertRejected("cutout is not a FITS file")
    image = None
    planes: dict[str, np.ndarray] = {}
    pos = 0
    for _ in range(MAX_HDUS):
        if len(raw) - pos < FITS_BLOCK:
            break
        cards, pos = _header(raw, pos)
        array, pos = _image(raw, cards, pos)
        if array is None:
            continue
        if image is None:
            image = array
            continue
        name = PLANE_NAMES.get(cards.get("EXTNAME", "").upper())
        if name is not None and name not in planes:
            planes[name] = array
    if image is None:
        raise AlertRejected("FITS holds no image")
    finite = np.isfinite(image)
    if not finite.any():
        raise AlertRejected("all pixels are NaN")
    if not finite.all():
        image = np.where(finite, image, np.float32(np.nan))
    return image, planes
