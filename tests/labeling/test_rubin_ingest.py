"""Rubin alerts go in through ``ingest_alerts`` in each form a consumer meets (Avro containers, Fink Parquet,
Rubin's stream framing), once, and bad ones are refused by name with nothing of them stored."""

from __future__ import annotations

import copy
import json

import fastavro
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from labeling.ingest import ingest_paths
from labeling.ingest.rubin_schemas import SCHEMA_DIR, frame
from labeling.models import Alert, LightCurvePoint, StampPlane, Stamps
from tests.labeling.rubin_helpers import RUBIN_ALERTS, avro_files, parquet_file, parquet_rows, read_container, rubin_dir

pytestmark = pytest.mark.django_db


def stored() -> tuple[int, int, int]:
    return Alert.objects.count(), Stamps.objects.count(), StampPlane.objects.count()


def test_every_shared_rubin_alert_goes_in_once():
    first = ingest_paths([rubin_dir()], workers=0)
    assert (first.new, first.rejected, first.errors) == (RUBIN_ALERTS, 0, [])
    assert Alert.objects.filter(survey="rubin").count() == RUBIN_ALERTS
    # Each cutout keeps its image (Stamps) and its variance and PSF (StampPlane): 3 cutouts x 2 planes.
    assert stored() == (RUBIN_ALERTS, RUBIN_ALERTS, RUBIN_ALERTS * 6)
    points = LightCurvePoint.objects.count()
    second = ingest_paths([rubin_dir()], workers=0)
    assert (second.new, second.present, second.rejected) == (0, RUBIN_ALERTS, 0)
    assert stored() == (RUBIN_ALERTS, RUBIN_ALERTS, RUBIN_ALERTS * 6)
    assert LightCurvePoint.objects.count() == points


def test_the_command_ingests_rubin_alerts_and_says_how_many(capsys):
    call_command("ingest_alerts", str(rubin_dir()), "--no-progress", "--workers", "0")
    assert f"{RUBIN_ALERTS} alert(s) new" in capsys.readouterr().out


def test_it_reads_an_avro_container_of_lsst_v9_0():
    path = avro_files()[0]
    record, _ = read_container(path)
    report = ingest_paths([path], workers=0)
    assert report.new == 1
    alert = Alert.objects.get()
    assert (alert.survey, alert.candid, alert.schemavsn) == ("rubin", record["diaSource"]["diaSourceId"], "lsst.v9_0")


def test_it_reads_a_parquet_table_of_lsst_v10_0():
    report = ingest_paths([parquet_file()], workers=0)
    rows = parquet_rows()
    assert (report.new, report.rejected) == (len(rows), 0)
    assert set(Alert.objects.values_list("candid", flat=True)) == {r["diaSourceId"] for r in rows}
    assert set(Alert.objects.values_list("schemavsn", flat=True)) == {"lsst.v10_0"}


def _framed_v9() -> tuple[dict, bytes]:
    record, _ = read_container(avro_files()[0])
    return record, frame(record, 900)


def _framed_v10() -> tuple[dict, bytes]:
    record = next(r for r in parquet_rows() if r["mpc_orbits"])  # v10 renamed MPCORB: exercise the new part
    return record, frame(record, 1000)


@pytest.mark.parametrize(("make", "version"), [(_framed_v9, "lsst.v9_0"), (_framed_v10, "lsst.v10_0")])
def test_it_reads_a_framed_record_with_the_schema_its_id_names(tmp_path, make, version):
    record, data = make()
    assert data[0] == 0
    assert int.from_bytes(data[1:5], "big") in (900, 1000)
    path = tmp_path / "alert.avro"
    path.write_bytes(data)
    report = ingest_paths([path], workers=0)
    assert (report.new, report.errors) == (1, [])
    alert = Alert.objects.get()
    assert (alert.candid, alert.schemavsn, alert.source) == (record["diaSource"]["diaSourceId"], version, str(path))
    assert alert.stamp_planes.count() == 6


def test_the_schema_option_decodes_a_record_whose_id_blink_does_not_ship(tmp_path, capsys):
    record, _ = read_container(avro_files()[0])
    path = tmp_path / "alert.avro"
    path.write_bytes(frame(record, 4242, SCHEMA_DIR / "lsst.v9_0.avsc"))
    with pytest.raises(CommandError):
        call_command("ingest_alerts", str(path), "--no-progress")
    assert "unknown Rubin schema ID 4242" in capsys.readouterr().err
    assert Alert.objects.count() == 0
    call_command("ingest_alerts", str(path), "--no-progress", "--schema", str(SCHEMA_DIR / "lsst.v9_0.avsc"))
    assert Alert.objects.get().candid == record["diaSource"]["diaSourceId"]


def test_it_refuses_a_truncated_framed_record_and_stores_nothing(tmp_path):
    _, data = _framed_v9()
    path = tmp_path / "cut.avro"
    path.write_bytes(data[: len(data) // 2])
    report = ingest_paths([path], workers=0)
    assert (report.new, report.rejected) == (0, 1)
    assert str(path) in report.errors[0]
    assert "truncated" in report.errors[0]
    assert stored() == (0, 0, 0)


def test_it_refuses_a_record_written_with_another_schema_than_its_id_names(tmp_path):
    record, _ = read_container(avro_files()[0])
    # The same fields in another order: a schema of its own, framed under lsst.v9_0's ID.
    other = json.loads((SCHEMA_DIR / "lsst.v9_0.avsc").read_text())
    other["fields"] = other["fields"][::-1]
    other_path = tmp_path / "other.avsc"
    other_path.write_text(json.dumps(other))
    path = tmp_path / "wrong.avro"
    path.write_bytes(b"\x00" + (900).to_bytes(4, "big") + frame(record, 900, other_path)[5:])
    report = ingest_paths([path], workers=0)
    assert (report.new, report.rejected) == (0, 1)
    assert str(path) in report.errors[0]
    assert "lsst.v9_0" in report.errors[0]
    assert stored() == (0, 0, 0)


def test_it_refuses_a_parquet_table_whose_ids_are_floating_point(tmp_path):
    table = pq.read_table(parquet_file())
    i = table.schema.get_field_index("diaSourceId")
    floats = table.set_column(i, "diaSourceId", table.column(i).cast(pa.float64(), safe=False))
    path = tmp_path / "float_ids.parquet"
    pq.write_table(floats, path)
    report = ingest_paths([path], workers=0)
    assert (report.new, report.rejected) == (0, 1)
    assert str(path) in report.errors[0]
    assert "diaSourceId" in report.errors[0]
    assert "floating point" in report.errors[0]
    assert stored() == (0, 0, 0)


def _with_double_ids(schema: dict) -> dict:
    schema = copy.deepcopy(schema)
    source = next(f for f in schema["fields"] if f["name"] == "diaSource")
    record = next(t for t in source["type"] if isinstance(t, dict))
    for f in record["fields"]:
        if f["name"] == "diaObjectId":
            f["type"] = ["double", "null"]
    return schema


def test_it_refuses_an_avro_record_whose_object_id_is_floating_point(tmp_path):
    record, schema = read_container(avro_files()[0])
    record["diaSource"]["diaObjectId"] = float(record["diaSource"]["diaObjectId"])
    path = tmp_path / "float_id.avro"
    with open(path, "wb") as fh:
        fastavro.writer(fh, fastavro.parse_schema(_with_double_ids(schema)), [record])
    report = ingest_paths([path], workers=0)
    assert (report.new, report.rejected) == (0, 1)
    assert str(path) in report.errors[0]
    assert "diaSource.diaObjectId" in report.errors[0]
    assert stored() == (0, 0, 0)


def test_a_bad_cutout_refuses_its_alert_whole_and_keeps_the_good_one(tmp_path):
    (good, schema), (bad, _) = read_container(avro_files()[0]), read_container(avro_files()[1])
    bad["cutoutTemplate"] = bad["cutoutTemplate"][:3000]  # a header, no pixels
    path = tmp_path / "two.avro"
    with open(path, "wb") as fh:
        fastavro.writer(fh, fastavro.parse_schema(schema), [good, bad])
    report = ingest_paths([path], workers=0)
    assert (report.new, report.rejected) == (1, 1)
    assert f"{path}#1" in report.errors[0]
    assert "template cutout" in report.errors[0]
    assert list(Alert.objects.values_list("candid", flat=True)) == [good["diaSource"]["diaSourceId"]]
    assert stored() == (1, 1, 6)


def test_a_ztf_model_scores_the_ztf_alerts_of_an_ingest_and_leaves_rubin_ones_unscored(demo_alerts):
    """Mixed ingest: the active (ZTF-trained) version scores the ZTF alerts; Rubin stamps, another instrument's
    pictures and up to 71x71, are neither scored nor allowed to fail the ZTF alerts' scoring."""
    from classifiers.models import Score
    from classifiers.scoring import score_new_alerts
    from tests.conftest import register_untrained_braai

    ingest_paths(avro_files()[:3], workers=0)
    register_untrained_braai(promote=True)
    rubin = list(Alert.objects.filter(survey="rubin").values_list("pk", flat=True))
    ztf = [alert.pk for alert in demo_alerts]
    assert len(rubin) == 3
    assert score_new_alerts(rubin + ztf) == {"real_bogus": len(ztf)}
    assert sorted(Score.objects.values_list("alert_id", flat=True)) == sorted(ztf)


def test_a_rubin_id_already_taken_by_a_ztf_candid_is_refused_by_name_not_counted_present():
    path = avro_files()[0]
    ingest_paths([path], workers=0)
    # The same number arriving from the other survey: stand the stored row in for a ZTF alert with that candid.
    taken = Alert.objects.get()
    Alert.objects.filter(pk=taken.pk).update(survey="ztf")
    report = ingest_paths([path], workers=0)
    assert (report.new, report.present, report.rejected) == (0, 0, 1)
    assert f"rubin alert {taken.candid}: that identifier is already a ztf alert's" in report.errors[0]
    assert path.name in report.errors[0]
    assert Alert.objects.get().survey == "ztf"  # the stored alert is left as it was
