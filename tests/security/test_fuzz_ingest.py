"""Ingest fuzzing, short: real packets of ../shared/data mutated into hostile files (bit flips, truncation, a swapped
schema, huge arrays, NaN/Inf fields, gzip bombs in the cutouts, odd values), a few of each kind. Each is refused
with a message naming the file, or stored whole; nothing escapes ingest as an exception and nothing is
half-written. ``bench/fuzz_ingest.py`` (``make fuzz``) runs ten thousand and more of the same mutations."""

from __future__ import annotations

import random

import pytest

from tests.security.hostile_packets import FUZZ_KINDS, ingest_mutation, mutate_file, real_packet_files

pytestmark = [pytest.mark.django_db, pytest.mark.realdata]
PER_KIND = 3


@pytest.mark.parametrize("kind", FUZZ_KINDS)
def test_mutated_real_packets_are_refused_by_name_or_stored_whole(real_data, tmp_path, kind):
    files = real_packet_files(real_data.parent)
    outcomes = []
    for i in range(PER_KIND):
        rng = random.Random(f"{kind}:{i}")
        source = rng.choice(files["parquet"] if i == PER_KIND - 1 else files["avro"])
        suffix, data = mutate_file(kind, rng, source, files)
        path = tmp_path / f"{kind}-{i}{suffix}"
        path.write_bytes(data)
        assert data != source.read_bytes()
        result = ingest_mutation(path)
        assert result["outcome"] in ("accepted", "refused"), (source.name, result)
        outcomes.append(result["outcome"])
    if kind in ("truncation", "gzip_bomb"):
        assert set(outcomes) == {"refused"}, outcomes


def test_the_fuzzer_notices_rows_left_behind_by_a_refused_file(real_data, tmp_path, monkeypatch):
    """The check itself: an ingest that stores an alert and then reports the file refused is half-written."""
    from labeling.ingest import pipeline
    from labeling.models import Alert

    source = real_packet_files(real_data.parent)["avro"][0]
    path = tmp_path / "good.avro"
    path.write_bytes(source.read_bytes())
    real_ingest = pipeline.ingest_paths

    def storing_then_refusing(paths, **kwargs):
        report = real_ingest(paths, **kwargs)
        report.new, report.rejected = 0, 1
        report.errors.append(f"{path}: refused after all")
        return report

    monkeypatch.setattr("tests.security.hostile_packets.ingest_paths", storing_then_refusing)
    assert ingest_mutation(path)["outcome"] == "half_written"
    assert Alert.objects.count() == 0  # cleaned up for the next mutation
