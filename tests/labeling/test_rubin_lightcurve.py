"""Rubin light curves in flux: every stored point keeps the psfFlux and psfFluxErr it was measured with, forced
photometry (a flux where nothing was detected) included; ZTF points have none; a second ingest adds nothing."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import fastavro
import pytest
from bokeh.models import GlyphRenderer

from fixtures.demo_alerts import write_demo_alerts
from frontend.plots.lightcurves import light_curve_figure, light_curve_item
from labeling.ingest import ingest_paths
from labeling.ingest.rubin import jd_of, limiting_magnitude
from labeling.lightcurves import light_curve_points
from labeling.models import Alert, LightCurvePoint
from tests.labeling.rubin_helpers import avro_files, parquet_rows, read_container, rubin_dir

pytestmark = pytest.mark.django_db

BAND_FID = {"u": 4, "g": 1, "r": 2, "i": 3, "z": 5, "y": 6}
# Forced photometry added to a real alert (the shared alerts carry none): (days before the alert, flux, error).
FORCED = ((-3.0, 412.5, 150.25), (-2.0, -96.0, 140.5), (-1.0, 88.75, 145.0))


def object_of(source: dict) -> str:
    dia = source.get("diaObjectId")
    return str(dia) if dia else f"ss{source['ssObjectId']}"


def raw_records() -> list[dict]:
    records = []
    for path in avro_files():
        with open(path, "rb") as fh:
            records.extend(fastavro.reader(fh))
    return records + parquet_rows()


def raw_points(records: list[dict]) -> dict[tuple, tuple]:
    """(object, jd, fid) -> (psfFlux, psfFluxErr, detected) as the raw records give them, detections first."""
    points: dict[tuple, tuple] = {}
    for record in records:
        obj = object_of(record["diaSource"])
        for detected, sources in (
            (True, [record["diaSource"], *(record.get("prvDiaSources") or [])]),
            (False, record.get("prvDiaForcedSources") or []),
        ):
            for s in sources:
                key = (obj, jd_of(s["midpointMjdTai"]), BAND_FID[s["band"]])
                if detected or key not in points:
                    points.setdefault(key, (s["psfFlux"], s["psfFluxErr"], detected))
    return points


def stored_points() -> dict[tuple, LightCurvePoint]:
    return {(p.object_id, p.jd, p.fid): p for p in LightCurvePoint.objects.all()}


def with_forced_photometry(tmp_path: Path) -> tuple[Path, dict]:
    """A real Rubin alert written again with ``FORCED`` forced sources and one more at the time of its own
    detection (a visit both detected and force-measured is stored once, as the detection)."""
    record, schema = read_container(avro_files()[0])
    record = copy.deepcopy(record)
    source = record["diaSource"]
    forced = []
    for i, (days, flux, err) in enumerate((*FORCED, (0.0, 1.0, 1.0))):
        forced.append(
            {
                "diaForcedSourceId": 9_000_000 + i,
                "diaObjectId": source["diaObjectId"],
                "ra": source["ra"],
                "dec": source["dec"],
                "visit": None,
                "detector": None,
                "psfFlux": flux,
                "psfFluxErr": err,
                "midpointMjdTai": source["midpointMjdTai"] + days,
                "scienceFlux": None,
                "scienceFluxErr": None,
                "band": source["band"],
                "timeProcessedMjdTai": None,
                "timeWithdrawnMjdTai": None,
            }
        )
    record["prvDiaForcedSources"] = forced
    path = tmp_path / "with_forced.avro"
    with open(path, "wb") as fh:
        fastavro.writer(fh, fastavro.parse_schema(schema), [record])
    return path, record


def test_stored_fluxes_are_the_raw_records_psf_fluxes():
    report = ingest_paths([rubin_dir()], workers=0)
    assert report.rejected == 0
    expected = raw_points(raw_records())
    stored = stored_points()
    assert set(stored) == set(expected)
    for key, (flux, err, detected) in expected.items():
        point = stored[key]
        assert (point.flux_njy, point.flux_err_njy, point.is_detection) == (flux, err, detected), key
        if detected and flux > 0:
            assert point.magpsf == pytest.approx(31.4 - 2.5 * math.log10(flux), abs=1e-9)


def test_forced_photometry_keeps_its_flux_and_is_an_upper_limit_in_magnitude(tmp_path):
    path, record = with_forced_photometry(tmp_path)
    assert ingest_paths([path], workers=0).new == 1
    source = record["diaSource"]
    obj, fid = object_of(source), BAND_FID[source["band"]]
    stored = stored_points()
    for days, flux, err in FORCED:
        point = stored[(obj, jd_of(source["midpointMjdTai"] + days), fid)]
        assert (point.is_detection, point.flux_njy, point.flux_err_njy) == (False, flux, err)
        assert point.magpsf is None
        assert point.diffmaglim == pytest.approx(limiting_magnitude(err))
    own = stored[(obj, jd_of(source["midpointMjdTai"]), fid)]
    assert (own.is_detection, own.flux_njy, own.flux_err_njy) == (True, source["psfFlux"], source["psfFluxErr"])
    assert len(stored) == len(FORCED) + 1 + len(record.get("prvDiaSources") or [])
    served = [p for p in light_curve_points(obj) if not p["is_detection"]]
    assert sorted(p["flux_njy"] for p in served) == sorted(f for _, f, _ in FORCED)


def test_ztf_points_have_no_flux_beside_rubin_ones_in_the_same_run(tmp_path):
    ztf = tmp_path / "ztf"
    ztf.mkdir()
    write_demo_alerts(ztf, n=5, seed=3)
    forced, _ = with_forced_photometry(tmp_path)
    report = ingest_paths([ztf, forced], workers=0)
    assert (report.new, report.rejected) == (6, 0)
    ztf_objects = set(Alert.objects.filter(survey="ztf").values_list("object_id", flat=True))
    ztf_points = LightCurvePoint.objects.filter(object_id__in=ztf_objects)
    assert ztf_points.exists()
    assert not ztf_points.filter(flux_njy__isnull=False).exists()
    assert not ztf_points.filter(flux_err_njy__isnull=False).exists()
    rubin_points = LightCurvePoint.objects.exclude(object_id__in=ztf_objects)
    assert rubin_points.count() >= len(FORCED) + 1
    assert not rubin_points.filter(flux_njy__isnull=True).exists()


def test_a_second_ingest_adds_no_points_and_changes_no_flux(tmp_path):
    forced, _ = with_forced_photometry(tmp_path)
    ingest_paths([rubin_dir(), forced], workers=0)
    before = {k: (p.flux_njy, p.flux_err_njy, p.is_detection) for k, p in stored_points().items()}
    report = ingest_paths([rubin_dir(), forced], workers=0)
    assert report.new == 0
    after = {k: (p.flux_njy, p.flux_err_njy, p.is_detection) for k, p in stored_points().items()}
    assert after == before


def test_a_rubin_figure_opens_in_flux_with_forced_photometry_open_and_a_ztf_one_in_magnitude(tmp_path):
    path, record = with_forced_photometry(tmp_path)
    ingest_paths([path], workers=0)
    alert = Alert.objects.get(candid=record["diaSource"]["diaSourceId"])
    item = light_curve_item(alert)
    assert "PSF flux (nJy)" in str(item["doc"])
    points = light_curve_points(alert.object_id)
    fig = light_curve_figure(points, alert_jd=alert.jd, scale="flux")
    assert fig.y_range.flipped is False
    labels = {i.label["value"] for i in fig.legend.items}
    assert labels == {"i detection", "i forced photometry (no detection)"}
    glyphs = [r.glyph for r in fig.renderers if isinstance(r, GlyphRenderer)]
    assert any(getattr(g, "fill_alpha", 1.0) == 0.0 and getattr(g, "marker", None) == "circle" for g in glyphs)
    magnitudes = light_curve_figure(points, alert_jd=alert.jd, scale="mag")
    assert magnitudes.y_range.flipped is True
    assert {i.label["value"] for i in magnitudes.legend.items} == {"i detection", "i upper limit"}
