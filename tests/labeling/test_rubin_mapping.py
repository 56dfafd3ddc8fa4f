"""A Rubin alert's survey-neutral columns agree with its raw record (the mapping in ``labeling.models.alerts``),
its raw records and all three planes of each cutout are kept, and ZTF alerts are unchanged."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image

from fixtures.demo_alerts import write_demo_alerts
from labeling.ingest import ingest_paths
from labeling.ingest.rubin import ab_magnitude, jd_of, limiting_magnitude, magnitude_error
from labeling.models import FILTER_NAMES, Alert, StampPlane
from labeling.stamps import stamp_png
from tests.labeling.rubin_helpers import avro_files, parquet_file, parquet_rows, read_container

pytestmark = pytest.mark.django_db


def test_a_flux_in_njy_becomes_an_ab_magnitude():
    assert ab_magnitude(3631e9) == pytest.approx(0.0, abs=2e-4)  # 3631 Jy is AB magnitude 0
    assert ab_magnitude(1e4) == pytest.approx(21.4)
    assert ab_magnitude(-1e4) == pytest.approx(21.4)  # a negative difference: the size of the flux, as ZTF
    assert ab_magnitude(0.0) is None
    assert ab_magnitude(None) is None
    assert ab_magnitude(math.nan) is None
    assert magnitude_error(1000.0, 100.0) == pytest.approx(2.5 / math.log(10) * 0.1)
    assert limiting_magnitude(100.0) == pytest.approx(31.4 - 2.5 * math.log10(500.0))
    assert limiting_magnitude(0.0) is None


def test_rubin_tai_times_become_utc_julian_dates():
    assert jd_of(60000.0) == pytest.approx(2460000.5 - 37 / 86400, abs=1e-9)


def _records() -> list[dict]:
    return [read_container(p)[0] for p in avro_files()] + parquet_rows()


def _same(a, b) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and a == pytest.approx(b, rel=1e-12))


def test_the_columns_agree_with_the_raw_records():
    ingest_paths([*avro_files(), parquet_file()], workers=0)
    records = _records()
    assert Alert.objects.count() == len(records)
    alerts = {a.candid: a for a in Alert.objects.all()}
    for record in records:
        source = record["diaSource"]
        alert = alerts[source["diaSourceId"]]
        assert alert.survey == "rubin"
        expected_object = str(source["diaObjectId"]) if source["diaObjectId"] else f"ss{source['ssObjectId']}"
        assert alert.object_id == expected_object
        assert alert.jd == pytest.approx(source["midpointMjdTai"] + 2400000.5 - 37 / 86400, abs=1e-9)
        assert alert.filter_name == source["band"] == FILTER_NAMES[alert.fid]
        assert (alert.ra, alert.dec) == (source["ra"], source["dec"])
        assert _same(alert.drb, source["reliability"])
        assert _same(alert.snr, source["snr"])
        assert alert.signal_to_noise == alert.snr
        assert _same(alert.flux_njy, source["psfFlux"])
        assert _same(alert.flux_err_njy, source["psfFluxErr"])
        flux = source["psfFlux"]
        assert alert.magpsf == pytest.approx(31.4 - 2.5 * math.log10(abs(flux)))
        assert alert.isdiffpos == (not source["isNegative"])
        assert alert.candidate["diaSourceId"] == source["diaSourceId"]
        assert set(alert.candidate) == set(source)  # the diaSource kept whole, under its own names
        asteroid = record.get("mpc_orbits") or record.get("MPCORB") or record.get("ssSource")
        assert bool(alert.ssnamenr) == bool(asteroid or source["ssObjectId"])
        if record.get("diaObject"):
            assert alert.survey_extra["diaObject"]["diaObjectId"] == record["diaObject"]["diaObjectId"]
            assert alert.ndethist == record["diaObject"]["nDiaSources"]
        assert alert.survey_extra["observation_reason"] == record.get("observation_reason")


def test_all_three_planes_of_each_cutout_are_kept_at_their_own_size():
    record = next(r for r in parquet_rows() if r["diaSource"]["diaObjectId"])
    ingest_paths([parquet_file()], workers=0)
    alert = Alert.objects.get(candid=record["diaSource"]["diaSourceId"])
    science, template, difference = alert.stamps.arrays()
    for kind, image in (("science", science), ("template", template), ("difference", difference)):
        with fits.open(io.BytesIO(record[f"cutout{kind.title()}"])) as hdus:
            np.testing.assert_array_equal(image, hdus[0].data.astype(np.float32))
            variance = StampPlane.objects.get(alert=alert, kind=kind, plane="variance")
            np.testing.assert_array_equal(variance.array(), hdus["UNCERT"].data.astype(np.float32))
            psf = StampPlane.objects.get(alert=alert, kind=kind, plane="psf")
            assert (psf.height, psf.width) == hdus["PSFIMAGE"].data.shape
            np.testing.assert_allclose(psf.array(), hdus["PSFIMAGE"].data, rtol=1e-6)


def test_a_rubin_stamp_larger_than_ztf_s_is_stored_at_its_own_size():
    sizes = {}
    for path in avro_files():
        record, _ = read_container(path)
        with fits.open(io.BytesIO(record["cutoutScience"])) as hdus:
            sizes[record["diaSource"]["diaSourceId"]] = hdus[0].data.shape
    candid, shape = max(sizes.items(), key=lambda item: item[1][0])
    assert shape[0] > 63  # the shared set holds stamps up to 71x71
    ingest_paths(avro_files(), workers=0)
    stamps = Alert.objects.get(candid=candid).stamps
    assert (stamps.height, stamps.width) == shape
    assert stamps.arrays()[0].shape == shape
    for size in (252, None):  # the page's size and the stamp's own
        png = Image.open(io.BytesIO(stamp_png(stamps.unpack("science"), size=size)))
        assert png.size == ((size, size) if size else shape[::-1])


def test_a_ztf_alert_is_of_survey_ztf_with_no_rubin_fields(tmp_path):
    write_demo_alerts(tmp_path, n=3, seed=5)
    assert ingest_paths([tmp_path], workers=0).new == 3
    for alert in Alert.objects.all():
        assert alert.survey == "ztf"
        assert (alert.flux_njy, alert.snr, alert.survey_extra) == (None, None, None)
        assert alert.signal_to_noise == pytest.approx(2.5 / math.log(10) / alert.sigmapsf)
    assert StampPlane.objects.count() == 0
