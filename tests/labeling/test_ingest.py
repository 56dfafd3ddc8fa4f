"""Ingest: real packets in, demo packets in with their truth, idempotent, bad input refused cleanly."""

from __future__ import annotations

import csv
import gzip
import io

import fastavro
import numpy as np
import pytest
from astropy.io import fits
from django.core.management import call_command
from django.core.management.base import CommandError

from fixtures.demo_alerts import TRUTH_CLASSES, TRUTH_METADATA_KEY, load_schema, write_demo_alerts
from labeling.ingest import decode_stamp, ingest_paths
from labeling.models import Alert, LightCurvePoint, Stamps

pytestmark = pytest.mark.django_db


def counts() -> tuple[int, int, int]:
    return Alert.objects.count(), Stamps.objects.count(), LightCurvePoint.objects.count()


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo_packets")
    write_demo_alerts(out, n=40, seed=11)
    return out


def read_packet(path) -> tuple[dict, dict]:
    with open(path, "rb") as fh:
        reader = fastavro.reader(fh)
        return next(reader), dict(reader.metadata)


def write_packet(path, record: dict, schema: dict | None = None, metadata: dict | None = None) -> None:
    with open(path, "wb") as fh:
        fastavro.writer(fh, fastavro.parse_schema(schema or load_schema()), [record], metadata=metadata or {})


def fits_gz(array) -> bytes:
    buf = io.BytesIO()
    fits.PrimaryHDU(np.asarray(array, dtype=">f4")).writeto(buf)
    return gzip.compress(buf.getvalue())


# ---------------------------------------------------------------------------------------------------
# Good input
# ---------------------------------------------------------------------------------------------------


def test_it_ingests_demo_alerts_with_their_truth_stamps_and_light_curves(demo_dir):
    report = ingest_paths([demo_dir])

    assert (report.files, report.new, report.present, report.rejected) == (40, 40, 0, 0), report.errors
    assert Stamps.objects.count() == 40
    truths = set(Alert.objects.values_list("demo_truth", flat=True))
    assert truths == set(TRUTH_CLASSES)
    alert = Alert.objects.filter(demo_truth="real").first()
    assert alert.stamps.unpack("science").shape == (alert.stamps.height, alert.stamps.width)
    assert -90 <= alert.gal_b <= 90
    # The alert's own detection is one of its object's light-curve points.
    assert LightCurvePoint.objects.filter(
        object_id=alert.object_id, jd=alert.jd, fid=alert.fid, is_detection=True
    ).exists()


def test_a_second_run_adds_nothing(demo_dir):
    ingest_paths([demo_dir])
    before = counts()

    report = ingest_paths([demo_dir])

    assert (report.new, report.present, report.rejected) == (0, 40, 0)
    assert counts() == before


def test_the_demo_generator_is_deterministic(tmp_path):
    a = write_demo_alerts(tmp_path / "a", n=12, seed=5)
    b = write_demo_alerts(tmp_path / "b", n=12, seed=5)
    c = write_demo_alerts(tmp_path / "c", n=12, seed=6)
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    assert [p.name for p in a] != [p.name for p in c]


def test_demo_packets_follow_the_real_ztf_schema_and_keep_truth_outside_it(demo_dir):
    record, metadata = read_packet(next(demo_dir.glob("*.avro")))
    assert record["schemavsn"] == "3.3"
    assert TRUTH_METADATA_KEY in metadata
    assert "blink_truth" not in record
    assert "truth" not in record["candidate"]
    assert decode_stamp(record["cutoutDifference"]["stampData"]).dtype == np.float32


@pytest.mark.realdata
def test_it_ingests_every_real_packet_once(real_data):
    with open(real_data / "manifest.csv") as fh:
        manifest = list(csv.DictReader(fh))

    report = ingest_paths([real_data])

    assert report.rejected == 0, report.errors
    assert report.new == len(manifest) == Alert.objects.count()
    assert set(Alert.objects.values_list("candid", flat=True)) == {int(r["candid"]) for r in manifest}
    assert Stamps.objects.count() == len(manifest)
    edge = Stamps.objects.filter(width__lt=63) | Stamps.objects.filter(height__lt=63)
    assert edge.count() == 1
    assert Stamps.objects.filter(nan_fraction__gt=0).count() > 0
    # -999 means "no PS1 match" in ZTF packets; Blink stores NULL, and keeps the raw value in candidate.
    assert not Alert.objects.filter(sgscore1=-999).exists()
    assert not Alert.objects.filter(ssnamenr="null").exists()

    again = ingest_paths([real_data])
    assert (again.new, again.present, again.rejected) == (0, len(manifest), 0)
    assert Alert.objects.count() == len(manifest)


# ---------------------------------------------------------------------------------------------------
# Bad input: a clear message naming the file, the candid where known, and the reason; the rest goes in;
# nothing half-written.
# ---------------------------------------------------------------------------------------------------


@pytest.fixture
def good_packets(tmp_path):
    return write_demo_alerts(tmp_path / "good", n=6, seed=3)


def ingest_with_one_bad(good_packets, bad_path):
    before = counts()
    report = ingest_paths([*good_packets, bad_path])
    return before, report


def assert_only_the_good_went_in(before, report, good_packets):
    assert report.new == len(good_packets)
    assert report.rejected == 1
    assert Alert.objects.count() == before[0] + len(good_packets)
    assert Stamps.objects.count() == Alert.objects.count()  # no alert without its stamps


def test_it_refuses_a_truncated_avro_file(good_packets, tmp_path):
    bad = tmp_path / "truncated.avro"
    data = good_packets[0].read_bytes()
    bad.write_bytes(data[: len(data) // 2])

    before, report = ingest_with_one_bad(good_packets[1:], bad)

    assert_only_the_good_went_in(before, report, good_packets[1:])
    assert "truncated.avro" in report.errors[0]
    assert "truncated" in report.errors[0].split(":", 1)[1]


def test_it_refuses_a_file_that_is_not_avro(good_packets, tmp_path):
    bad = tmp_path / "notes.avro"
    bad.write_text("these are my observing notes, not an alert\n")

    before, report = ingest_with_one_bad(good_packets, bad)

    assert_only_the_good_went_in(before, report, good_packets)
    assert "notes.avro" in report.errors[0]
    assert "neither an Avro" in report.errors[0]


def test_it_refuses_a_packet_of_another_schema(good_packets, tmp_path):
    bad = tmp_path / "other.avro"
    schema = {"type": "record", "name": "weather", "fields": [{"name": "temperature", "type": "double"}]}
    write_packet(bad, {"temperature": 12.5}, schema=schema)

    before, report = ingest_with_one_bad(good_packets, bad)

    assert_only_the_good_went_in(before, report, good_packets)
    assert "other.avro" in report.errors[0]
    assert "not a ZTF alert packet (missing candid" in report.errors[0]


@pytest.mark.parametrize(
    ("stamp_data", "reason"),
    [
        (b"\x1f\x8b\x08\x00garbage-after-gzip-magic", "corrupt gzip"),
        (gzip.compress(b"SIMPLE  =                    T" + b" " * 50 + b"NOT A HEADER"), "corrupt FITS"),
        (fits_gz(np.zeros((3, 8, 8))), "not 2-D"),
        (fits_gz(np.full((63, 63), np.nan)), "all pixels are NaN"),
    ],
    ids=["corrupt-gzip", "corrupt-fits", "3-d-stamp", "all-nan"],
)
def test_it_refuses_a_bad_stamp_and_writes_nothing_of_that_alert(good_packets, tmp_path, stamp_data, reason):
    record, metadata = read_packet(good_packets[0])
    record["cutoutTemplate"]["stampData"] = stamp_data
    bad = tmp_path / "bad_stamp.avro"
    write_packet(bad, record, metadata=metadata)

    before, report = ingest_with_one_bad(good_packets[1:], bad)

    assert_only_the_good_went_in(before, report, good_packets[1:])
    message = report.errors[0]
    assert "bad_stamp.avro" in message
    assert str(record["candid"]) in message
    assert "template cutout" in message
    assert reason in message
    assert not Alert.objects.filter(candid=record["candid"]).exists()
    # Its light-curve points are not stored either (its object has no other alert here).
    assert not LightCurvePoint.objects.filter(object_id=record["objectId"]).exists()


def test_it_reports_a_path_that_does_not_exist(tmp_path):
    report = ingest_paths([tmp_path / "nowhere"])
    assert report.rejected == 1
    assert "no such file" in report.errors[0]


def test_the_command_exits_non_zero_when_anything_is_rejected(good_packets, tmp_path, capsys):
    bad = tmp_path / "junk.avro"
    bad.write_bytes(b"junk")
    with pytest.raises(CommandError) as excinfo:
        call_command("ingest_alerts", str(good_packets[0]), str(bad), "--no-progress")
    assert excinfo.value.returncode == 1
    err = capsys.readouterr().err
    assert "junk.avro" in err
    assert "1 rejected" in err
    assert Alert.objects.count() == 1


def test_the_command_summarises_a_good_run(good_packets, capsys):
    call_command("ingest_alerts", str(good_packets[0].parent), "--no-progress")
    out = capsys.readouterr().out
    assert f"{len(good_packets)} alert(s) new, 0 already present, 0 rejected" in out


# ---------------------------------------------------------------------------------------------------
# The floors above hear of the new alerts (``alerts_ingested``), and a listener's failure fails no ingest.
# ---------------------------------------------------------------------------------------------------


@pytest.fixture
def heard(monkeypatch):
    """The ``alert_ids`` of each ``alerts_ingested`` signal, with a listener that fails beside the one that hears."""
    from labeling.signals import alerts_ingested

    calls: list[list[int]] = []

    def listener(sender, *, alert_ids, **kwargs):
        calls.append(list(alert_ids))

    def broken(sender, **kwargs):
        raise RuntimeError("the model server is down")

    alerts_ingested.connect(listener, weak=False)
    alerts_ingested.connect(broken, weak=False)
    yield calls
    alerts_ingested.disconnect(listener)
    alerts_ingested.disconnect(broken)


def test_it_announces_the_new_alerts_once_and_notes_a_failing_listener(demo_dir, heard):
    report = ingest_paths([demo_dir])

    assert (report.new, report.rejected) == (40, 0), report.errors
    assert heard == [report.new_alert_ids]
    assert sorted(heard[0]) == sorted(Alert.objects.values_list("pk", flat=True))
    assert any("the model server is down" in note for note in report.notes)


def test_it_announces_nothing_when_nothing_is_new(demo_dir, heard):
    ingest_paths([demo_dir])
    heard.clear()

    again = ingest_paths([demo_dir])

    assert (again.new, again.present) == (0, 40)
    assert heard == []
