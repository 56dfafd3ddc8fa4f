"""Scoring: one stored score per (alert, version), idempotent, with embeddings; exports; new alerts on ingest."""

from __future__ import annotations

import csv
import threading

import numpy as np
import pytest
from django.core.management import call_command

from classifiers.models import Score
from classifiers.preprocessing import load_inputs
from classifiers.scoring import current_score, embedding_of, score_alerts, score_inputs, score_new_alerts
from tests.conftest import register_untrained_braai


def test_scores_are_stored_per_version_so_versions_can_be_compared(demo_alerts):
    v1 = register_untrained_braai(seed=1, promote=True)
    v2 = register_untrained_braai(seed=2)
    ids = [a.pk for a in demo_alerts]
    assert score_alerts(ids, v1) == 60
    assert score_alerts(ids, v2, embeddings=True) == 60
    assert Score.objects.filter(version=v1).count() == Score.objects.filter(version=v2).count() == 60

    stored = dict(Score.objects.filter(version=v2).values_list("alert_id", "score"))
    expected, _, _ = score_inputs(v2, load_inputs(ids))
    np.testing.assert_allclose([stored[i] for i in ids], expected, rtol=1e-5)
    assert not np.allclose([stored[i] for i in ids], [Score.objects.get(alert_id=i, version=v1).score for i in ids]), (
        "two different models give two different columns of scores"
    )

    # The penultimate (dense1) embedding as float16 bytes, for diversity sampling.
    embedding = embedding_of(Score.objects.filter(version=v2).first())
    assert embedding.shape == (256,)
    assert np.isfinite(embedding).all()
    assert Score.objects.filter(version=v1, embedding__isnull=False).count() == 0


def test_scoring_twice_updates_in_place(demo_alerts):
    version = register_untrained_braai(seed=1, promote=True)
    ids = [a.pk for a in demo_alerts[:10]]
    score_alerts(ids, version)
    Score.objects.filter(version=version).update(score=-1.0)
    events = []
    assert score_alerts(ids, version, progress=events.append, chunk=4) == 10
    assert Score.objects.filter(version=version).count() == 10
    assert not Score.objects.filter(score=-1.0).exists()
    assert [e["done"] for e in events] == [4, 8, 10]


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_next_chunk_is_read_while_one_is_scored_to_the_same_scores(demo_alerts, monkeypatch):
    from classifiers import scoring

    version = register_untrained_braai(seed=1)
    ids = [a.pk for a in demo_alerts]
    readers = []

    def recording(part, recipe):
        readers.append(threading.current_thread().name)
        return load_inputs(part, recipe)

    monkeypatch.setattr(scoring, "load_inputs", recording)
    events = []
    assert score_alerts(ids, version, progress=events.append, chunk=16) == 60
    assert [e["done"] for e in events] == [16, 32, 48, 60]
    assert all(name.startswith("blink-score-input") for name in readers)
    stored = dict(Score.objects.filter(version=version).values_list("alert_id", "score"))
    expected, _, _ = score_inputs(version, load_inputs(ids))
    np.testing.assert_allclose([stored[i] for i in ids], expected, rtol=1e-5)


def test_current_score_is_the_active_versions(demo_alerts):
    alert = demo_alerts[0]
    assert current_score(alert) is None
    old = register_untrained_braai(seed=1, promote=True)
    new = register_untrained_braai(seed=2)
    score_alerts([alert.pk], old)
    score_alerts([alert.pk], new)
    assert current_score(alert).version == old
    from classifiers import registry

    registry.promote(new, actor=None, reason="test")
    assert current_score(alert).version == new


def test_new_alerts_are_scored_on_ingest_only_when_a_model_is_active(demo_alerts, tmp_path):
    from fixtures.demo_alerts import write_demo_alerts
    from labeling.ingest import ingest_paths
    from labeling.models import Alert

    assert score_new_alerts([a.pk for a in demo_alerts]) == {}
    version = register_untrained_braai(seed=1, promote=True)
    before = set(Alert.objects.values_list("pk", flat=True))
    report = ingest_paths(write_demo_alerts(tmp_path, n=8, seed=123))
    new_ids = set(Alert.objects.values_list("pk", flat=True)) - before
    assert report.new == len(new_ids) == 8
    assert set(Score.objects.filter(version=version).values_list("alert_id", flat=True)) == new_ids


def test_score_alerts_command_scores_what_is_unscored(demo_alerts, capsys):
    version = register_untrained_braai(seed=1, promote=True)
    score_alerts([a.pk for a in demo_alerts[:20]], version)
    call_command("score_alerts", "--task", "real_bogus")
    assert Score.objects.filter(version=version).count() == 60
    assert "Scored 40 alerts by real_bogus v1" in capsys.readouterr().out


def test_score_alerts_command_explains_a_missing_model(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no active real_bogus version"):
        call_command("score_alerts")
    register_untrained_braai(seed=1)
    with pytest.raises(CommandError, match="real_bogus has no version 7"):
        call_command("score_alerts", "--version", "7")


def test_export_scores_writes_one_row_per_score(demo_alerts, tmp_path, capsys):
    version = register_untrained_braai(seed=1, promote=True)
    score_alerts([a.pk for a in demo_alerts], version)
    out = tmp_path / "scores.csv"
    call_command("export_scores", "--out", str(out))
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["candid", "objectId", "task", "version", "score", "plausible"]
    assert len(rows) == 60
    by_candid = {int(r["candid"]): r for r in rows}
    alert = demo_alerts[5]
    row = by_candid[alert.candid]
    assert (row["objectId"], row["task"], row["version"], row["plausible"]) == (alert.object_id, "real_bogus", "1", "")
    assert float(row["score"]) == pytest.approx(Score.objects.get(alert=alert, version=version).score, abs=1e-6)
    assert "Wrote 60 scores (real_bogus v1)" in capsys.readouterr().out
