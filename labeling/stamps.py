"""Stamp rendering: a float32 cutout in, a PNG out.

What a volunteer sees, and why:
- **Interval**: ZScale (astropy's ``ZScaleInterval``), what DS9 users and SkyPortal scanners expect; it is
  computed on the finite pixels only, so NaN padding at a CCD edge does not skew it.
- **Stretch**: ``linear`` (default), ``log`` or ``asinh``, applied after the interval (astropy's
  conventions: ``log`` is log10(a x + 1) / log10(a) with a = 100, ``asinh`` is asinh(x / 0.1) / asinh(10)).
  The point of log and asinh is to see structure in bright sources (a galaxy core, a saturated star's
  wings) that ZScale clips to white, so for them the interval reaches up to the 99.5th percentile; ``log``
  keeps ZScale's lower limit (the sky stays a mid grey, as in DS9), ``asinh`` starts at the sky level (the
  median pixel), which leaves a dark sky and bright structure. On ZScale's own narrow range both would only
  brighten the sky noise to near white.
- **NaN pixels** (off the CCD, masked) are painted ``NAN_COLOUR``, a dark magenta that no grey level can
  be mistaken for, so "no data" never looks like "dark sky".
- **Orientation**: a FITS image's first row is the *bottom* row (its y axis points up). Image formats
  draw their first row at the top, so the rows are flipped before encoding: the stamp then appears as DS9
  shows it, which for ZTF cutouts is north up, east left — the same flip SkyPortal and Kowalski apply to
  ZTF cutouts. Rubin's cutouts keep the detector's orientation (not rotated to north): ingest measures it from
  their WCS and the pages state it (``frontend.views.alerts.orientation_text``).
- **Planes** (Rubin): a cutout's variance is drawn like a stamp (ZScale, linear); its PSF, a smooth peak on a
  near-zero background that ZScale would clip to a white blob, linearly from its minimum to its peak.
- **Size**: ``size`` (pixels of the longer side) enlarges by nearest-neighbour, so each survey pixel stays a
  crisp square; a browser's own smoothing would blur exactly the sharp features (cosmic rays, dipoles)
  volunteers must judge.
"""

from __future__ import annotations

import io
import zlib

import numpy as np
from astropy.visualization import ZScaleInterval
from PIL import Image

STRETCHES = ("linear", "log", "asinh")
NAN_COLOUR = (139, 0, 139)  # dark magenta
MAX_SIZE = 1024
_LOG_A = 100.0
_ASINH_A = 0.1
_zscale = ZScaleInterval()


def zscale_limits(array: np.ndarray) -> tuple[float, float]:
    finite = array[np.isfinite(array)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = _zscale.get_limits(finite)
    if not hi > lo:  # a flat stamp: show it mid-grey instead of dividing by zero
        lo, hi = float(finite.min()) - 0.5, float(finite.min()) + 0.5
    return float(lo), float(hi)


def stretch_values(x: np.ndarray, stretch: str) -> np.ndarray:
    """Map interval-normalised values in [0, 1] through the stretch (astropy's definitions)."""
    if stretch == "linear":
        return x
    if stretch == "log":
        return np.log10(_LOG_A * x + 1.0) / np.log10(_LOG_A)
    if stretch == "asinh":
        return np.arcsinh(x / _ASINH_A) / np.arcsinh(1.0 / _ASINH_A)
    raise ValueError(f"unknown stretch {stretch!r}; expected one of {', '.join(STRETCHES)}")


def _grey_levels(array: np.ndarray, stretch: str) -> tuple[np.ndarray, np.ndarray]:
    """Stretched values in [0, 1], north up (rows flipped), and the NaN mask, in display orientation."""
    if stretch not in STRETCHES:
        raise ValueError(f"unknown stretch {stretch!r}; expected one of {', '.join(STRETCHES)}")
    data = np.asarray(array, dtype=np.float32)
    if data.ndim != 2:
        raise ValueError(f"a stamp is 2-D; got shape {data.shape}")
    data = data[::-1]
    lo, hi = zscale_limits(data)
    nan = ~np.isfinite(data)
    if stretch != "linear" and not nan.all():
        sky, top = np.percentile(data[~nan], [50.0, 99.5])
        if top > sky:
            hi = float(max(hi, top))
            if stretch == "asinh":
                lo = float(sky)
    with np.errstate(invalid="ignore"):
        x = np.clip((data - lo) / (hi - lo), 0.0, 1.0)
    x[nan] = 0.0
    return stretch_values(x, stretch), nan


def stamp_rgb(array: np.ndarray, *, stretch: str = "linear") -> np.ndarray:
    """The stamp as an (h, w, 3) uint8 image, north up (rows flipped), NaNs in ``NAN_COLOUR``."""
    values, nan = _grey_levels(array, stretch)
    grey = (values * 255.0 + 0.5).astype(np.uint8)
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    if nan.any():
        rgb[nan] = NAN_COLOUR
    return rgb


# A palette image is a third of the bytes of RGB to filter and deflate: 255 grey levels (0 and 255
# included, one level in the middle skipped) and one entry for NaN.
_NAN_INDEX = 255
_PALETTE = [round(i * 255 / 254) for i in range(255) for _ in range(3)] + list(NAN_COLOUR)


def stamp_png(array: np.ndarray, *, stretch: str = "linear", size: int | None = None) -> bytes:
    """Render a stamp as PNG bytes. ``size`` is the longer side in pixels (nearest-neighbour enlargement)."""
    return _png(*_grey_levels(array, stretch), size)


def _min_max_levels(array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values in [0, 1] from the finite minimum to the maximum, north up, and the NaN mask (a PSF's levels)."""
    data = np.asarray(array, dtype=np.float32)
    if data.ndim != 2:
        raise ValueError(f"a plane is 2-D; got shape {data.shape}")
    data = data[::-1]
    nan = ~np.isfinite(data)
    if nan.all():
        return np.zeros(data.shape, dtype=np.float32), nan
    lo, hi = float(data[~nan].min()), float(data[~nan].max())
    with np.errstate(invalid="ignore"):
        x = np.clip((data - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.full(data.shape, 0.5, dtype=np.float32)
    x[nan] = 0.0
    return x, nan


def plane_png(array: np.ndarray, *, plane: str, size: int | None = None) -> bytes:
    """Render a cutout's variance (ZScale, like a stamp) or PSF (minimum to peak) plane as PNG bytes."""
    if plane == "psf":
        return _png(*_min_max_levels(array), size)
    if plane == "variance":
        return _png(*_grey_levels(array, "linear"), size)
    raise ValueError(f"unknown plane {plane!r}; expected variance or psf")


def _png(values: np.ndarray, nan: np.ndarray, size: int | None) -> bytes:
    index = (values * 254.0 + 0.5).astype(np.uint8)
    index[nan] = _NAN_INDEX
    image = Image.fromarray(index, mode="P")
    image.putpalette(_PALETTE)
    if size is not None:
        if not 1 <= size <= MAX_SIZE:
            raise ValueError(f"size must be between 1 and {MAX_SIZE}; got {size}")
        h, w = index.shape
        scale = size / max(h, w)
        image = image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


def stamp_etag(raw: bytes, *, stretch: str, size: int | None) -> str:
    """A strong validator for one rendering of one stored stamp: its bytes plus how it is drawn."""
    return f'"{zlib.crc32(raw):08x}-{len(raw)}-{stretch}-{size or 0}-v1"'


def plane_etag(raw: bytes, *, plane: str, size: int | None) -> str:
    """``stamp_etag`` for one rendering of a stored variance or PSF plane."""
    return f'"{zlib.crc32(raw):08x}-{len(raw)}-{plane}-{size or 0}-p1"'
