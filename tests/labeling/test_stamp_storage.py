"""How stamps are stored: the packet's own gzip stream where it holds a plain float32 image, a zlib stream of
float32 otherwise; either way ``Stamps.unpack`` gives back what ingest decoded from the packet."""

from __future__ import annotations

import gzip
import io
import zlib

import fastavro
import numpy as np
import pytest
from astropy.io import fits

from fixtures.demo_alerts import load_schema, write_demo_alerts
from labeling.ingest import decode_stamp, ingest_paths, read_file
from labeling.models import STAMP_KINDS, Alert, Stamps, stamp_array
from labeling.models.alerts import GZIP_MAGIC

pytestmark = pytest.mark.django_db

PACKET_KEYS = {"science": "cutoutScience", "template": "cutoutTemplate", "difference": "cutoutDifference"}


def fits_bytes(array, **header) -> bytes:
    hdu = fits.PrimaryHDU(np.asarray(array))
    for key, value in header.items():
        hdu.header[key] = value
    buf = io.BytesIO()
    hdu.writeto(buf)
    return buf.getvalue()


def noisy(dtype=">f4") -> np.ndarray:
    rng = np.random.default_rng(4)
    return rng.normal(100.0, 5.0, (63, 63)).astype(dtype)


def packet_with_science(tmp_path, stamp_data: bytes) -> str:
    files = write_demo_alerts(tmp_path / "base", n=1, seed=21)
    with open(files[0], "rb") as fh:
        record = next(fastavro.reader(fh))
    record["cutoutScience"]["stampData"] = stamp_data
    path = tmp_path / "edited.avro"
    with open(path, "wb") as fh:
        fastavro.writer(fh, fastavro.parse_schema(load_schema()), [record])
    return str(path)


@pytest.mark.realdata
def test_real_stamps_are_kept_as_sent_and_read_back_exactly_as_decoded(real_data):
    report = ingest_paths([real_data])
    assert report.rejected == 0, report.errors
    sent = {}
    for path in sorted(real_data.rglob("*.avro")) + sorted(real_data.rglob("*.parquet")):
        for raw in read_file(path):
            sent[raw.record["candid"]] = {
                kind: bytes(raw.record[key]["stampData"]) for kind, key in PACKET_KEYS.items()
            }

    kept = recoded = 0
    for stamps in Stamps.objects.select_related("alert"):
        packet = sent[stamps.alert.candid]
        for kind in STAMP_KINDS:
            expected = decode_stamp(packet[kind])
            got = stamps.unpack(kind)
            assert got.dtype == np.float32
            assert got.shape == (stamps.height, stamps.width)
            # Bit for bit, NaN where the packet has NaN.
            np.testing.assert_array_equal(got, expected)
            if bytes(getattr(stamps, kind)) == packet[kind]:
                kept += 1
            else:
                recoded += 1
    assert kept + recoded == 3 * len(sent)
    # ZTF writes plain float32 images: all of them but an odd one are kept as sent.
    assert kept >= 0.95 * (kept + recoded), (kept, recoded)


def test_a_plain_float32_stamp_with_nan_is_kept_as_sent(tmp_path):
    array = noisy()
    array[:, :10] = np.nan  # off the CCD
    stamp_data = gzip.compress(fits_bytes(array))

    report = ingest_paths([packet_with_science(tmp_path, stamp_data)])

    assert (report.new, report.rejected) == (1, 0), report.errors
    stamps = Stamps.objects.get()
    assert bytes(stamps.science) == stamp_data
    np.testing.assert_array_equal(stamps.unpack("science"), array.astype(np.float32))
    assert stamps.nan_fraction == pytest.approx((63 * 10 / 63**2) / 3)


def _with_infinity():
    array = noisy()
    array[5, 7] = np.inf
    array[6, 8] = -np.inf
    expected = array.astype(np.float32)
    expected[5, 7] = expected[6, 8] = np.nan
    return gzip.compress(fits_bytes(array)), expected


def _scaled_int16():
    counts = np.arange(63 * 63, dtype=">i2").reshape(63, 63) % 1000
    data = fits_bytes(counts)
    # BSCALE/BZERO set in the header by hand: astropy would rescale the data on writing.
    data = data.replace(b"EXTEND  =                    T", b"BSCALE  =                  2.0", 1)
    return gzip.compress(data), (counts.astype(np.float32) * 2.0)


def _trailing_bytes():
    array = noisy()
    return gzip.compress(fits_bytes(array)) + b"\x00trailing", array.astype(np.float32)


def _unpadded():
    array = noisy()
    data = fits_bytes(array)
    return gzip.compress(data[: 2880 + 63 * 63 * 4]), array.astype(np.float32)


def _float64():
    array = noisy(">f8")
    return gzip.compress(fits_bytes(array)), array.astype(np.float32)


def _uncompressed():
    array = noisy()
    return fits_bytes(array), array.astype(np.float32)


@pytest.mark.parametrize(
    "make",
    [_with_infinity, _scaled_int16, _trailing_bytes, _unpadded, _float64, _uncompressed],
    ids=["infinity", "scaled-int16", "trailing-bytes", "unpadded", "float64", "uncompressed"],
)
def test_a_stamp_that_is_not_a_plain_float32_image_is_stored_decoded(tmp_path, make):
    stamp_data, expected = make()

    report = ingest_paths([packet_with_science(tmp_path, stamp_data)])

    assert (report.new, report.rejected) == (1, 0), report.errors
    stamps = Stamps.objects.get()
    stored = bytes(stamps.science)
    assert stored != stamp_data
    assert stored[:2] != GZIP_MAGIC
    np.testing.assert_array_equal(np.frombuffer(zlib.decompress(stored), "<f4").reshape(63, 63), expected)
    np.testing.assert_array_equal(stamps.unpack("science"), expected)
    # The other two stamps of the packet are plain: they are kept as sent.
    assert bytes(stamps.template)[:2] == GZIP_MAGIC


def test_a_stamp_padded_to_the_shape_of_the_others_is_stored_decoded(tmp_path):
    small = noisy()[:, :55]
    stamp_data = gzip.compress(fits_bytes(small))

    report = ingest_paths([packet_with_science(tmp_path, stamp_data)])

    assert (report.new, report.rejected) == (1, 0), report.errors
    stamps = Stamps.objects.get()
    assert (stamps.height, stamps.width) == (63, 63)
    assert bytes(stamps.science)[:2] != GZIP_MAGIC
    science = stamps.unpack("science")
    np.testing.assert_array_equal(science[:, :55], small.astype(np.float32))
    assert np.isnan(science[:, 55:]).all()
    assert bytes(stamps.template)[:2] == GZIP_MAGIC


def test_a_kept_stamp_read_with_the_wrong_shape_is_an_error_not_garbage():
    stamp_data = gzip.compress(fits_bytes(noisy()))

    assert stamp_array(stamp_data, 63, 63).shape == (63, 63)
    with pytest.raises(ValueError, match="not a 70x70 float32 FITS image"):
        stamp_array(stamp_data, 70, 70)


def test_the_stamp_png_endpoint_renders_a_kept_stamp(tmp_path, client, volunteer):
    array = noisy()
    array[:, :10] = np.nan
    report = ingest_paths([packet_with_science(tmp_path, gzip.compress(fits_bytes(array)))])
    assert report.new == 1
    alert = Alert.objects.get()
    client.force_login(volunteer)

    response = client.get(f"/api/alerts/{alert.candid}/cutouts/science.png")

    assert response.status_code == 200, response.content[:200]
    assert response["Content-Type"] == "image/png"
