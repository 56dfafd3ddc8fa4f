"""Rubin cutouts: one FITS file of three HDUs (the image, its variance ``UNCERT``, the PSF ``PSFIMAGE``), not
gzipped, square and of variable size (30x30 to ~71x71 at 0.2"/px). All three planes are kept, each at its own
size: the image becomes the stamp (``Stamps``), variance and PSF ``StampPlane`` rows.

A small HDU walker, as for ZTF's one-HDU stamps (``labeling.ingest.fits``): astropy would cost more than the
rest of the alert's decoding, and a Rubin cutout is plain images only. For the same reason the cutout's
orientation on screen (``cutout_orientation``) comes from its linear WCS matrix, not from astropy.wcs.
"""

from __future__ import annotations

import math

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


def decode_cutout(data) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, str]]:
    """A Rubin cutout's image (float32, non-finite pixels NaN), its other planes by Blink's name (``variance``,
    ``psf``) and the image's header cards (its WCS among them). Raises AlertRejected with a reason."""
    if not isinstance(data, bytes | bytearray | memoryview) or len(data) == 0:
        raise AlertRejected("cutout has no data")
    raw = bytes(data)
    if len(raw) > MAX_STAMP_BYTES:
        raise AlertRejected(f"cutout larger than {MAX_STAMP_BYTES // 1024 // 1024} MiB")
    if not raw.startswith(b"SIMPLE"):
        raise AlertRejected("cutout is not a FITS file")
    image = None
    image_cards: dict[str, str] = {}
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
            image, image_cards = array, cards
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
    return image, planes, image_cards


# CUNITi of a celestial axis, in degrees (the FITS default is degrees).
_UNIT_DEG = {"": 1.0, "deg": 1.0, "arcmin": 1 / 60, "arcsec": 1 / 3600, "mas": 1 / 3.6e6, "rad": 180 / math.pi}


def _card_number(cards: dict[str, str], key: str, default: float) -> float:
    text = cards.get(key)
    return default if text is None else float(text.replace("D", "E"))


def _wcs_matrix(cards: dict[str, str]) -> tuple[float, float, float, float] | None:
    """The linear part of the header's WCS, degrees of (RA, Dec) per pixel of (x, y), row by row; None when the
    header has no such matrix or its axes are not RA and Dec."""
    cd = ("CD1_1", "CD1_2", "CD2_1", "CD2_2")
    pc = ("PC1_1", "PC1_2", "PC2_1", "PC2_2")
    if any(k in cards for k in cd):
        a, b, c, d = (_card_number(cards, k, 0.0) for k in cd)
    elif any(k in cards for k in pc):
        c1, c2 = _card_number(cards, "CDELT1", 1.0), _card_number(cards, "CDELT2", 1.0)
        a, b = c1 * _card_number(cards, "PC1_1", 1.0), c1 * _card_number(cards, "PC1_2", 0.0)
        c, d = c2 * _card_number(cards, "PC2_1", 0.0), c2 * _card_number(cards, "PC2_2", 1.0)
    else:
        return None  # CDELT alone (or CROTA) is no rotation matrix Blink trusts to say where north is
    u1 = _UNIT_DEG.get(cards.get("CUNIT1", "").strip().lower())
    u2 = _UNIT_DEG.get(cards.get("CUNIT2", "").strip().lower())
    if u1 is None or u2 is None:
        return None
    a, b, c, d = a * u1, b * u1, c * u2, d * u2
    # Rubin's cutouts carry the matrix, CRVAL (the source's RA, Dec) and LATPOLE but no CTYPE: axes 1 and 2 are
    # then RA and Dec. A header that does name them may name them the other way round, or name other axes.
    ctype1, ctype2 = cards.get("CTYPE1", "").upper(), cards.get("CTYPE2", "").upper()
    if ctype1 or ctype2:
        if ctype1.startswith("DEC") and ctype2.startswith("RA"):
            a, b, c, d = c, d, a, b
        elif not (ctype1.startswith("RA") and ctype2.startswith("DEC")):
            return None
    return a, b, c, d


def cutout_orientation(cards: dict[str, str]) -> dict | None:
    """How a cutout lies on screen as ``labeling.stamps`` draws it (rows flipped, so pixel +y is up, +x right):
    ``north_deg``, the angle of north anticlockwise from up; ``east_left``, whether east is a quarter turn
    anticlockwise from north (as on the sky seen from below, and in ZTF's cutouts); ``pixel_scale_arcsec``, the
    geometric mean of the two axes' scales. None when the header has no usable WCS.

    From the WCS's linear matrix M (sky offsets = M · pixel offsets) at the reference pixel: the projection
    bends north by well under a degree across a cutout of a few arcseconds."""
    try:
        matrix = _wcs_matrix(cards)
    except ValueError:
        return None
    if matrix is None:
        return None
    a, b, c, d = matrix
    det = a * d - b * c
    if not all(math.isfinite(v) for v in (a, b, c, d, det)) or det == 0:
        return None
    # North, one unit of Dec, is M^-1 (0, 1) = (-b, a) / det in pixels; its angle anticlockwise from up is
    # atan2(-x, y). East, M^-1 (1, 0) = (d, -c) / det, is left of north when north x east > 0, i.e. det < 0.
    north = math.degrees(math.atan2(b / det, a / det))
    return {
        "north_deg": round(north, 1) if round(north, 1) != -180.0 else 180.0,
        "east_left": det < 0,
        "pixel_scale_arcsec": round(math.sqrt(abs(det)) * 3600, 4),
    }
