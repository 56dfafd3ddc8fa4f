"""Stamp rendering: ZScale, stretches, NaN pixels shown distinctly, north up."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from labeling.stamps import NAN_COLOUR, stamp_png, stamp_rgb


def decode(png: bytes) -> np.ndarray:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


@pytest.fixture
def nan_edged_stamp() -> np.ndarray:
    rng = np.random.default_rng(1)
    stamp = rng.normal(100, 10, (63, 63)).astype(np.float32)
    stamp[30:33, 30:33] += 500  # a source at the centre
    stamp[:, :12] = np.nan  # off the CCD on the left
    return stamp


def test_a_nan_edged_stamp_renders_as_a_valid_png_with_nan_pixels_in_the_nan_colour(nan_edged_stamp):
    image = decode(stamp_png(nan_edged_stamp))

    assert image.shape == (63, 63, 3)
    assert (image[:, :12] == NAN_COLOUR).all()
    finite = image[:, 12:]
    # No finite pixel is painted the NaN colour (it is not a grey), and the source is the brightest thing.
    assert not (finite == NAN_COLOUR).all(axis=2).any()
    assert finite[:, :, 0].max() == 255
    assert tuple(image[31, 31]) == (255, 255, 255)


@pytest.mark.parametrize("stretch", ["linear", "log", "asinh"])
def test_every_stretch_renders_the_edge_stamp(nan_edged_stamp, stretch):
    image = decode(stamp_png(nan_edged_stamp, stretch=stretch, size=252))
    assert image.shape == (252, 252, 3)
    # Nearest-neighbour enlargement: each survey pixel becomes a crisp 4x4 block.
    assert (image[:48:4, 60] == image[:48, 60].reshape(12, 4, 3)[:, 0]).all()
    assert (image[0:4, 0] == NAN_COLOUR).all()


def test_log_and_asinh_show_bright_structure_that_zscale_clips():
    # A bright extended source (a galaxy core) on a noisy sky: ZScale's narrow range paints the whole core
    # white; log and asinh reach up to the 99.5th percentile, so the core keeps its gradient.
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:63, :63]
    core = 5000.0 * np.exp(-((yy - 31) ** 2 + (xx - 31) ** 2) / (2 * 6.0**2))
    stamp = (100.0 + core + rng.normal(0, 5, (63, 63))).astype(np.float32)
    saturated = {s: int((stamp_rgb(stamp, stretch=s)[:, :, 0] == 255).sum()) for s in ("linear", "log", "asinh")}
    assert saturated["log"] < saturated["linear"] / 5
    assert saturated["asinh"] < saturated["linear"] / 5
    # asinh starts at the sky level: the sky is darker than in the linear ZScale view.
    sky = (slice(0, 8), slice(0, 8))
    assert (
        stamp_rgb(stamp, stretch="asinh")[sky][:, :, 0].mean() < stamp_rgb(stamp, stretch="linear")[sky][:, :, 0].mean()
    )


def test_rows_are_flipped_so_the_first_fits_row_is_at_the_bottom():
    stamp = np.zeros((63, 63), dtype=np.float32)
    stamp[0, :] = 1000.0  # FITS row 0: the bottom of the image (south, for ZTF cutouts)
    stamp += np.random.default_rng(0).normal(0, 1, stamp.shape).astype(np.float32)
    image = stamp_rgb(stamp)
    assert image[-1, :, 0].min() == 255
    assert image[0, :, 0].mean() < 200


def test_an_edge_stamp_keeps_its_shape_and_a_flat_stamp_does_not_fail():
    assert stamp_rgb(np.ones((63, 55), dtype=np.float32)).shape == (63, 55, 3)
    assert decode(stamp_png(np.ones((63, 55), dtype=np.float32), size=126)).shape == (126, 110, 3)


def test_it_refuses_an_unknown_stretch_or_a_3d_array():
    with pytest.raises(ValueError, match="unknown stretch 'sqrt'"):
        stamp_png(np.zeros((63, 63)), stretch="sqrt")
    with pytest.raises(ValueError, match="2-D"):
        stamp_png(np.zeros((3, 63, 63)))


@pytest.mark.realdata
@pytest.mark.django_db
def test_real_stamps_with_nan_pixels_render(real_data):
    from labeling.ingest import ingest_paths
    from labeling.models import Stamps

    ingest_paths([real_data / "avro" / "ampel-ztf"])
    stamps = Stamps.objects.filter(nan_fraction__gt=0).first() or Stamps.objects.filter(width__lt=63).first()
    assert stamps is not None, "the ampel-ztf packets include the 63x55 edge stamp"
    for kind in ("science", "template", "difference"):
        array = stamps.unpack(kind)
        image = decode(stamp_png(array))
        assert image.shape[:2] == array.shape
        nan_rows, nan_cols = np.nonzero(np.isnan(array[::-1]))
        assert (image[nan_rows, nan_cols] == NAN_COLOUR).all()
