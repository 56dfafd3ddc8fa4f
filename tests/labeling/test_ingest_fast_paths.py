"""Ingest's fast paths give what the plain ones gave: Galactic coordinates as astropy computes them, the same
rows whether packets are decoded in worker processes or not, and the same refusals."""

from __future__ import annotations

import math
from pathlib import Path

import fastavro
import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord

from fixtures.demo_alerts import load_schema, write_demo_alerts
from labeling.ingest import files as alert_files
from labeling.ingest import ingest_paths, pipeline, read_file, workers
from labeling.ingest.prepare import galactic, prepare_file
from labeling.models import Alert, LightCurvePoint, Stamps


def astropy_galactic(ra, dec) -> tuple[np.ndarray, np.ndarray]:
    gal = SkyCoord(ra=np.asarray(ra) * u.deg, dec=np.asarray(dec) * u.deg, frame="icrs").galactic
    return gal.l.deg, gal.b.deg


def assert_same_sky_position(ra, dec, tol_deg=1e-9):
    l_fast, b_fast = galactic(ra, dec)
    l_ref, b_ref = astropy_galactic(ra, dec)
    assert np.all((l_fast >= 0) & (l_fast < 360))
    np.testing.assert_allclose(b_fast, b_ref, rtol=0, atol=tol_deg)
    # Longitude: compared around the circle (359.9999... vs 0), and as an angle on the sky, since at a
    # Galactic pole any longitude names the same point.
    dl = np.abs((l_fast - l_ref + 180.0) % 360.0 - 180.0)
    assert np.all(dl * np.cos(np.radians(b_ref)) < tol_deg)


@pytest.mark.realdata
def test_galactic_matches_astropy_on_the_real_alerts(real_data):
    ra, dec = [], []
    for path in sorted(real_data.rglob("*.avro")) + sorted(real_data.rglob("*.parquet")):
        for raw in read_file(path):
            ra.append(raw.record["candidate"]["ra"])
            dec.append(raw.record["candidate"]["dec"])
    assert len(ra) > 600
    assert_same_sky_position(ra, dec)


def test_galactic_matches_astropy_at_the_poles_and_across_the_wrap():
    ngp_ra, ngp_dec = 192.85948, 27.12825  # the Galactic north pole (J2000), approximately
    ra = [0.0, 360.0, 359.9999999999, 1e-12, 0.0, 0.0, 123.4, ngp_ra, ngp_ra + 180.0, 266.40499, 266.40501]
    dec = [0.0, 0.0, 0.0, 0.0, 90.0, -90.0, 90.0, ngp_dec, -ngp_dec, -28.93617, -28.93617]
    assert_same_sky_position(ra, dec)
    rng = np.random.default_rng(7)
    ra = rng.uniform(0.0, 360.0, 20000)
    dec = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, 20000)))
    assert_same_sky_position(ra, dec)


def test_galactic_of_an_empty_batch():
    gal_l, gal_b = galactic([], [])
    assert gal_l.shape == gal_b.shape == (0,)


def stored_rows() -> tuple[list, list, list]:
    alerts = list(
        Alert.objects.order_by("candid").values_list(
            "candid", "object_id", "jd", "night", "gal_l", "gal_b", "magpsf", "isdiffpos", "candidate", "demo_truth"
        )
    )
    stamps = list(
        Stamps.objects.order_by("alert__candid").values_list(
            "alert__candid", "height", "width", "science", "template", "difference", "nan_fraction"
        )
    )
    stamps = [(*s[:3], bytes(s[3]), bytes(s[4]), bytes(s[5]), s[6]) for s in stamps]
    points = list(
        LightCurvePoint.objects.order_by("object_id", "jd", "fid").values_list(
            "object_id", "jd", "fid", "is_detection", "magpsf", "sigmapsf", "diffmaglim", "isdiffpos", "candid"
        )
    )
    return alerts, stamps, points


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_worker_processes_store_exactly_what_in_process_decoding_stores(tmp_path, monkeypatch, start_method):
    # fork is taken when the caller is single-threaded, spawn otherwise: both must give the same rows.
    monkeypatch.setattr(workers, "fork_is_safe", lambda: start_method == "fork")
    files = write_demo_alerts(tmp_path, n=30, seed=5)

    report = ingest_paths(files, workers=0)
    assert (report.new, report.rejected) == (30, 0), report.errors
    in_process = stored_rows()
    Alert.objects.all().delete()
    LightCurvePoint.objects.all().delete()

    report = ingest_paths(files, workers=2)
    assert (report.new, report.rejected) == (30, 0), report.errors
    assert stored_rows() == in_process
    again = ingest_paths(files, workers=2)
    assert (again.new, again.present, again.rejected) == (0, 30, 0)


def packet_with(tmp_path, name, edit) -> str:
    files = write_demo_alerts(tmp_path / name, n=1, seed=9)
    with open(files[0], "rb") as fh:
        record = next(fastavro.reader(fh))
    edit(record)
    path = tmp_path / f"{name}.avro"
    with open(path, "wb") as fh:
        fastavro.writer(fh, fastavro.parse_schema(load_schema()), [record])
    return str(path)


@pytest.mark.django_db
def test_a_non_finite_candidate_value_is_stored_as_null(tmp_path):
    def edit(record):
        record["candidate"]["magap"] = math.nan
        record["candidate"]["sky"] = math.inf

    report = ingest_paths([packet_with(tmp_path, "nan", edit)])

    assert (report.new, report.rejected) == (1, 0), report.errors
    candidate = Alert.objects.get().candidate
    assert candidate["magap"] is None
    assert candidate["sky"] is None
    assert isinstance(candidate["magpsf"], float)


@pytest.mark.django_db
def test_a_light_curve_point_out_of_range_is_refused_by_name(tmp_path):
    def edit(record):
        record["prv_candidates"][1]["jd"] = 9.0e9

    path = packet_with(tmp_path, "badpoint", edit)
    report = ingest_paths([path])

    assert (report.new, report.rejected) == (0, 1)
    assert path in report.errors[0]
    assert "light-curve point 1: jd = 9000000000.0" in report.errors[0]
    assert Alert.objects.count() == LightCurvePoint.objects.count() == 0


def machine(monkeypatch, *, cpus: int, load: float, fork: bool) -> None:
    """A machine of ``cpus`` cores at this load average, where workers can be forked or not."""
    monkeypatch.delenv("BLINK_INGEST_WORKERS", raising=False)
    monkeypatch.setattr(workers.os, "cpu_count", lambda: cpus)
    monkeypatch.setattr(workers.os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(workers, "fork_is_safe", lambda: fork)
    monkeypatch.delitem(__import__("sys").modules, "tensorflow", raising=False)  # earlier tests load it


@pytest.mark.parametrize(
    ("n_files", "cpus", "load", "expected"),
    [(10, 2, 0.1, 0), (5000, 2, 0.5, 2), (5000, 8, 0.5, 2), (5000, 1, 0.0, 0), (5000, 2, 3.5, 0)],
)
@pytest.mark.parametrize("fork", [True, False])
def test_default_workers(monkeypatch, n_files, cpus, load, expected, fork):
    machine(monkeypatch, cpus=cpus, load=load, fork=fork)
    assert workers.default_workers(n_files) == expected
    monkeypatch.setenv("BLINK_INGEST_WORKERS", "1")
    assert workers.default_workers(n_files) == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_storing_the_same_packets_at_once_store_each_once(tmp_path):
    # Two copies of 8 packets, named so that each worker's first task is one copy: both workers then write
    # the same candids and light-curve points at the same moment, through their own connections.
    originals = write_demo_alerts(tmp_path / "src", n=8, seed=11)
    files = []
    for prefix in ("a", "b"):
        for i, path in enumerate(originals):
            copy = tmp_path / f"{prefix}{i:02d}.avro"
            copy.write_bytes(Path(path).read_bytes())
            files.append(str(copy))
    assert ingest_paths(originals, workers=0).new == 8
    expected_points = LightCurvePoint.objects.count()
    assert expected_points > 8
    Alert.objects.all().delete()
    LightCurvePoint.objects.all().delete()

    report = ingest_paths(files, workers=2)

    assert report.rejected == 0, report.errors
    assert (report.files, report.new, report.present) == (16, 8, 8)
    assert Alert.objects.count() == 8 == Stamps.objects.count()
    assert LightCurvePoint.objects.count() == expected_points
    assert sorted(report.new_alert_ids) == sorted(Alert.objects.values_list("id", flat=True))


@pytest.mark.realdata
def test_parquet_history_read_by_leaf_gives_the_points_of_the_whole_column(real_data, monkeypatch):
    files = sorted(real_data.rglob("*.parquet"))
    assert files
    by_leaf = [prepare_file(f) for f in files]
    monkeypatch.setattr(alert_files, "POINT_FIELDS", frozenset())  # no leaf matches: the whole column is read
    whole = [prepare_file(f) for f in files]

    points = 0
    for (fast, fast_errors), (slow, slow_errors) in zip(by_leaf, whole, strict=True):
        assert fast_errors == slow_errors
        assert [(p.candid, p.points, p.fields) for p in fast] == [(p.candid, p.points, p.fields) for p in slow]
        points += sum(len(p.points) for p in fast)
    assert points > 1000


@pytest.mark.parametrize(("fork", "expected"), [(True, 2), (False, 0)])
def test_a_few_hundred_files_get_workers_only_when_they_can_be_forked(monkeypatch, fork, expected):
    machine(monkeypatch, cpus=2, load=0.5, fork=fork)
    assert workers.default_workers(400) == expected
    assert workers.default_workers(100) == 0


def test_workers_fork_only_from_a_single_threaded_caller_outside_a_transaction():
    import threading

    # Whatever threads the test runner holds, one more must turn fork off.
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not workers.fork_is_safe()
        assert workers.pool_context().get_start_method() == "spawn"
    finally:
        stop.set()
        thread.join()
    if threading.active_count() == 1:
        assert workers.fork_is_safe()


@pytest.mark.django_db
def test_workers_inside_the_callers_transaction_leave_the_writing_to_it(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "ingest_in_workers", lambda *a, **k: pytest.fail("workers would commit on their own"))
    assert not workers.fork_is_safe()  # a transaction is open: its connection cannot be closed for a fork
    report = ingest_paths(write_demo_alerts(tmp_path, n=3, seed=2), workers=1)
    assert (report.new, report.rejected) == (3, 0), report.errors


def test_the_progress_bar_starts_no_thread(tmp_path, monkeypatch):
    # A thread in the caller turns fork off (``workers.fork_is_safe``); tqdm's monitor would be one.
    import threading

    from tqdm import tqdm

    if tqdm.monitor is not None:  # left by an earlier bar in this process: start from none
        tqdm.monitor.exit()
        tqdm.monitor = None
    monkeypatch.setattr(tqdm, "monitor_interval", 10)  # tqdm's default
    before = threading.active_count()
    seen = []
    monkeypatch.setattr(pipeline, "default_workers", lambda n: seen.append(threading.active_count()) or 0)
    monkeypatch.setattr(pipeline, "ingest_prepared", lambda *a, **k: None)
    ingest_paths([str(tmp_path)], progress=True)
    assert seen == [before]


@pytest.mark.parametrize("n_files", [1, 7, 100, 3296, 100_000])
def test_worker_tasks_cover_every_file_once_and_shrink_toward_the_end(n_files):
    files = [Path(f"f{i:06d}.avro") for i in range(n_files)]
    chunks = workers.writer_chunks(files, workers=2)

    assert [name for chunk in chunks for name in chunk] == [str(f) for f in files]
    sizes = [len(c) for c in chunks]
    assert sizes == sorted(sizes, reverse=True)
    assert max(sizes) <= 256
    # The last tasks are small, so neither worker waits long for the other at the end.
    assert sizes[-1] <= workers.FILES_PER_TASK
    if n_files >= 100:
        assert sizes[-2] <= workers.FILES_PER_TASK
