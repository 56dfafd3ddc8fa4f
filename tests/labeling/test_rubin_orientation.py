"""A Rubin cutout is in its detector's orientation, not north up: ingest stores how it lies on screen
(``survey_extra["cutout_orientation"]``), and that agrees with astropy.wcs working on the raw cutout's header.

The renderer flips rows (FITS row 0 at the bottom), so on screen pixel +x is right and +y is up: north's angle
anticlockwise from up is atan2(-dx, dy) of the pixel step that goes one arcsecond north.
"""

from __future__ import annotations

import io
import math

import numpy as np
import orjson
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.wcs import WCS

from labeling.ingest import ingest_paths
from labeling.ingest.packets import RawAlert
from labeling.ingest.rubin import prepare_rubin
from labeling.ingest.rubin_fits import cutout_orientation, decode_cutout
from labeling.models import Alert
from tests.labeling.rubin_helpers import avro_files, parquet_file, parquet_rows, read_container

pytestmark = pytest.mark.django_db

WCS_KEYS = ("PC1_1", "PC1_2", "PC2_1", "PC2_2", "CD1_1", "CD1_2", "CD2_1", "CD2_2", "CDELT1", "CDELT2")


def astropy_orientation(header: fits.Header) -> dict:
    """North's angle anticlockwise from up, east's side and the pixel scale, by astropy.wcs: the cutout's centre
    to the sky, one arcsecond north and east of it back to pixels."""
    header = header.copy()
    if "CTYPE1" not in header and "CTYPE2" not in header:
        # Rubin's cutouts name no axes although CRVAL is the source's RA, Dec (checked below); astropy would
        # take them for linear axes and have no sky to offset on.
        header["CTYPE1"], header["CTYPE2"] = "RA---TAN", "DEC--TAN"
    wcs = WCS(header)
    cx, cy = (header["NAXIS1"] - 1) / 2, (header["NAXIS2"] - 1) / 2
    centre = wcs.pixel_to_world(cx, cy)
    north = np.subtract(wcs.world_to_pixel(centre.directional_offset_by(0 * u.deg, 1 * u.arcsec)), (cx, cy))
    east = np.subtract(wcs.world_to_pixel(centre.directional_offset_by(90 * u.deg, 1 * u.arcsec)), (cx, cy))
    return {
        "north_deg": math.degrees(math.atan2(-north[0], north[1])),
        "east_left": north[0] * east[1] - north[1] * east[0] > 0,
        "pixel_scale_arcsec": 1 / math.hypot(*north),
    }


def assert_agrees(stored: dict, expected: dict, where: str = "") -> None:
    turn = (stored["north_deg"] - expected["north_deg"] + 180) % 360 - 180
    assert abs(turn) < 0.2, (where, stored, expected)
    assert stored["east_left"] is bool(expected["east_left"]), (where, stored, expected)
    assert stored["pixel_scale_arcsec"] == pytest.approx(expected["pixel_scale_arcsec"], rel=2e-3), where


def test_the_stored_orientation_agrees_with_astropy_on_every_shared_alert():
    ingest_paths([*avro_files(), parquet_file()], workers=0)
    records = [read_container(p)[0] for p in avro_files()] + parquet_rows()
    alerts = {a.candid: a for a in Alert.objects.filter(survey="rubin")}
    assert len(alerts) == len(records)
    angles = set()
    for record in records:
        source = record["diaSource"]
        header = fits.getheader(io.BytesIO(record["cutoutScience"]))
        assert header["CRVAL1"] == pytest.approx(source["ra"], abs=1e-3)  # axis 1 is RA, axis 2 Dec
        assert header["CRVAL2"] == pytest.approx(source["dec"], abs=1e-3)
        stored = alerts[source["diaSourceId"]].survey_extra["cutout_orientation"]
        assert set(stored) == {"north_deg", "east_left", "pixel_scale_arcsec"}
        assert_agrees(stored, astropy_orientation(header), source["diaSourceId"])
        assert 0.19 < stored["pixel_scale_arcsec"] < 0.21
        angles.add(round(stored["north_deg"]))
    # Not north up, and not one angle for all: LSSTCam's detectors lie at different angles to the sky.
    assert 0 not in angles
    assert len(angles) > 5


def test_the_example_of_the_brief_is_about_28_degrees_anticlockwise_with_east_left():
    cards = {
        "PC1_1": "-4.8949984468272E-05",
        "PC1_2": "-2.6124961542888E-05",
        "PC2_1": "-2.6221257544579E-05",
        "PC2_2": "4.8882576762874E-05",
        "CDELT1": "1.0",
        "CDELT2": "1.0",
    }
    got = cutout_orientation(cards)
    assert got["north_deg"] == pytest.approx(28.1, abs=0.1)
    assert got["east_left"] is True
    assert got["pixel_scale_arcsec"] == pytest.approx(0.2006, abs=1e-3)


def _cutout_bytes(header: fits.Header, shape=(30, 30)) -> bytes:
    out = io.BytesIO()
    fits.PrimaryHDU(data=np.arange(shape[0] * shape[1], dtype=np.float32).reshape(shape), header=header).writeto(out)
    return out.getvalue()


def _synthetic(angle: float, *, east_left: bool = True, swap: bool = False, cd: bool = True) -> fits.Header:
    """A TAN header at 0.2"/px with north ``angle`` degrees anticlockwise from up."""
    s = 0.2 / 3600
    t = math.radians(angle)
    # Columns: the (RA, Dec) of one pixel step in x and in y. North up, east left is [[-s, 0], [0, s]].
    m = np.array([[-math.cos(t), -math.sin(t)], [-math.sin(t), math.cos(t)]]) * s
    if not east_left:
        m[0] *= -1
    header = fits.Header()
    axes = ["RA---TAN", "DEC--TAN"]
    crval = [150.0, -30.0]
    if swap:
        m, axes, crval = m[::-1], axes[::-1], crval[::-1]
    for i in range(2):
        header[f"CTYPE{i + 1}"] = axes[i]
        header[f"CRVAL{i + 1}"] = crval[i]
        header[f"CRPIX{i + 1}"] = 15.5
        for j in range(2):
            header[f"{'CD' if cd else 'PC'}{i + 1}_{j + 1}"] = m[i, j]
    return header


@pytest.mark.parametrize(
    ("angle", "kwargs"),
    [
        (0.0, {}),
        (28.0, {}),
        (-51.0, {}),
        (90.0, {}),
        (-174.0, {}),
        (40.0, {"east_left": False}),
        (-120.0, {"swap": True}),
        (12.0, {"cd": False}),
    ],
)
def test_synthetic_headers_agree_with_astropy(angle, kwargs):
    header = _synthetic(angle, **kwargs)
    _, _, cards = decode_cutout(_cutout_bytes(header))
    got = cutout_orientation(cards)
    expected = astropy_orientation(fits.getheader(io.BytesIO(_cutout_bytes(header))))
    assert_agrees(got, expected, (angle, kwargs))
    assert (got["north_deg"] - angle + 180) % 360 - 180 == pytest.approx(0, abs=0.2)
    assert got["east_left"] is kwargs.get("east_left", True)


@pytest.mark.parametrize(
    "cards",
    [
        {},
        {"CDELT1": "1.0", "CDELT2": "1.0"},
        {"PC1_1": "0", "PC1_2": "0", "PC2_1": "0", "PC2_2": "0"},
        {"CD1_1": "-5e-5", "CD2_2": "5e-5", "CTYPE1": "GLON-TAN", "CTYPE2": "GLAT-TAN"},
        {"CD1_1": "nonsense", "CD2_2": "5e-5"},
        {"CD1_1": "-5e-5", "CD2_2": "5e-5", "CUNIT1": "furlong", "CUNIT2": "deg"},
    ],
)
def test_a_header_without_a_usable_wcs_has_no_orientation(cards):
    assert cutout_orientation(cards) is None


def _without_wcs(cutout: bytes) -> bytes:
    hdus = fits.HDUList.fromstring(cutout)
    for key in WCS_KEYS:
        hdus[0].header.remove(key, ignore_missing=True)
    out = io.BytesIO()
    hdus.writeto(out)
    return out.getvalue()


def test_an_alert_whose_cutouts_have_no_wcs_is_stored_without_an_orientation():
    record = dict(read_container(avro_files()[0])[0])
    for key in ("cutoutScience", "cutoutTemplate", "cutoutDifference"):
        record[key] = _without_wcs(record[key])
    prepared = prepare_rubin(RawAlert(record, "test:no-wcs"))
    extra = orjson.loads(prepared.extra_json)
    assert "cutout_orientation" not in extra
    assert "diaObject" in extra  # the rest of the record's extras are kept

    with_wcs = prepare_rubin(RawAlert(read_container(avro_files()[0])[0], "test:wcs"))
    assert "cutout_orientation" in orjson.loads(with_wcs.extra_json)
