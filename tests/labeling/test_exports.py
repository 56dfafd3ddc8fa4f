"""Every export read back: the csv module, Zooniverse's own panoptes_aggregation, numpy.load."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from classifiers.exports import write_training_set
from labeling.consensus import recompute_consensus
from labeling.exports import (
    CLASSIFICATION_COLUMNS,
    CONSENSUS_COLUMNS,
    WORKFLOW_COLUMNS,
    consensus_csv,
    consensus_json,
    workflow_csv,
    zooniverse_classifications_csv,
)
from labeling.models import SKIP, Subject, Vote
from tests.labeling.campaign_helpers import cast, make_volunteers

pytestmark = pytest.mark.django_db


@pytest.fixture
def voted_campaign(live_campaign, django_user_model):
    """The demo live campaign (retire after 3) with 30 of its subjects voted on by 6 volunteers, skips included;
    volunteers lean to the demo truth, so labels are mostly but not always right."""
    rng = random.Random(11)
    people = make_volunteers(django_user_model, 6)
    subjects = list(live_campaign.subjects.select_related("alert").order_by("alert__candid")[:30])
    for subject in subjects:
        truth = "real" if subject.alert.demo_truth == "real" else "bogus"
        for person in rng.sample(people, rng.randint(1, 4)):
            subject.refresh_from_db()
            if subject.retired:
                break
            u = rng.random()
            answer = SKIP if u < 0.12 else truth if u < 0.8 else ("bogus" if truth == "real" else "real")
            cast(live_campaign, subject, person, answer)
    return live_campaign


def text(chunks) -> str:
    return "".join(chunks)


def test_the_zooniverse_classification_export_has_one_row_per_vote_in_zooniverse_layout(voted_campaign):
    rows = list(csv.DictReader(io.StringIO(text(zooniverse_classifications_csv(voted_campaign)))))
    votes = {
        v.pk: v for v in Vote.objects.filter(campaign=voted_campaign).select_related("volunteer", "subject__alert")
    }
    assert len(rows) == len(votes) > 30
    assert list(rows[0]) == CLASSIFICATION_COLUMNS
    labels = {"real": "Real", "bogus": "Bogus", SKIP: None}
    for row in rows:
        vote = votes[int(row["classification_id"])]
        assert row["user_name"] == vote.volunteer.username
        assert int(row["user_id"]) == vote.volunteer_id
        assert int(row["workflow_id"]) == voted_campaign.pk
        assert row["workflow_version"] == "1.1"
        assert row["created_at"].endswith(" UTC")
        annotations = json.loads(row["annotations"])
        assert annotations == [{"task": "T0", "task_label": voted_campaign.question, "value": labels[vote.answer]}]
        subject_data = json.loads(row["subject_data"])
        assert list(subject_data) == [row["subject_ids"]] == [str(vote.subject_id)]
        assert subject_data[row["subject_ids"]]["candid"] == str(vote.subject.alert.candid)
        assert json.loads(row["metadata"])["source"] == "blink"


def test_votes_on_gold_subjects_are_flagged_gold_standard(voted_campaign):
    subjects = list(voted_campaign.subjects.filter(n_classifications__gt=0).order_by("pk")[:4])
    Subject.objects.filter(pk__in=[s.pk for s in subjects]).update(gold_answer="real")
    gold_ids = {s.pk for s in subjects}
    rows = list(csv.DictReader(io.StringIO(text(zooniverse_classifications_csv(voted_campaign)))))
    flagged = {int(r["subject_ids"]) for r in rows if r["gold_standard"] == "true"}
    assert flagged == gold_ids
    assert {r["gold_standard"] for r in rows if int(r["subject_ids"]) not in gold_ids} == {""}
    for r in rows:
        state = json.loads(r["metadata"])["subject_selection_state"]
        assert state["gold_standard"] is (int(r["subject_ids"]) in gold_ids)


def test_a_skip_is_exported_as_an_unanswered_question_not_as_an_answer(voted_campaign):
    rows = list(csv.DictReader(io.StringIO(text(zooniverse_classifications_csv(voted_campaign)))))
    skips = set(Vote.objects.filter(campaign=voted_campaign, answer=SKIP).values_list("pk", flat=True))
    assert skips
    for r in rows:
        value = json.loads(r["annotations"])[0]["value"]
        skipped = int(r["classification_id"]) in skips
        assert (value is None) is skipped
        assert json.loads(r["metadata"])["skipped"] is skipped
    assert "Skip" not in {json.loads(r["annotations"])[0]["value"] for r in rows}


def test_the_workflow_export_describes_a_single_question_task(voted_campaign):
    rows = list(csv.DictReader(io.StringIO(text(workflow_csv(voted_campaign)))))
    assert len(rows) == 1
    row = rows[0]
    assert list(row) == WORKFLOW_COLUMNS
    tasks = json.loads(row["tasks"])
    assert tasks["T0"]["type"] == "single"
    strings = json.loads(row["strings"])
    answers = [strings[a["label"]] for a in tasks["T0"]["answers"]]
    assert answers == ["Real", "Bogus"]  # a Skip is no answer
    assert tasks["T0"]["required"] is False
    assert strings[tasks["T0"]["question"]] == voted_campaign.question
    assert int(row["classifications_count"]) == Vote.objects.filter(campaign=voted_campaign).count()
    assert int(row["retired_set_member_subjects_count"]) == voted_campaign.subjects.filter(retired=True).count()
    assert json.loads(row["retirement"]) == {"criteria": "classification_count", "options": {"count": 3}}


def test_consensus_exports_have_one_row_per_labelled_subject(voted_campaign):
    recompute_consensus(voted_campaign)
    labelled = Subject.objects.filter(campaign=voted_campaign).exclude(majority_label="").select_related("alert")
    for method, field in (("majority", "majority_label"), ("dawid_skene", "weighted_label")):
        rows = list(csv.DictReader(io.StringIO(text(consensus_csv(voted_campaign, method=method)))))
        assert list(rows[0]) == CONSENSUS_COLUMNS
        expected = {s.alert.candid: s for s in labelled}
        assert {int(r["candid"]) for r in rows} == set(expected)
        for r in rows:
            subject = expected[int(r["candid"])]
            assert r["label"] == getattr(subject, field)
            assert r["objectId"] == subject.alert.object_id
            assert int(r["n_votes"]) == subject.n_votes
            assert r["method"] == method
            assert 0.5 <= float(r["confidence"]) <= 1.0
        document = json.loads(text(consensus_json(voted_campaign, method=method)))
        assert document["method"] == method
        assert len(document["labels"]) == len(rows)
        assert {d["candid"] for d in document["labels"]} == set(expected)
    retired = list(
        csv.DictReader(io.StringIO(text(consensus_csv(voted_campaign, method="majority", retired_only=True))))
    )
    assert len(retired) == labelled.filter(retired=True).count()


def test_the_training_set_npz_loads_with_numpy(voted_campaign, tmp_path):
    recompute_consensus(voted_campaign)
    path = tmp_path / "train.npz"
    n = write_training_set(voted_campaign, path, method="majority")
    labelled = {
        s.alert.candid: s
        for s in Subject.objects.filter(campaign=voted_campaign).exclude(majority_label="").select_related("alert")
    }
    assert n == len(labelled) > 10
    with np.load(path, allow_pickle=False) as data:
        assert data["stamps"].shape == (n, 63, 63, 3)
        assert data["stamps"].dtype == np.float32
        assert np.isfinite(data["stamps"]).all()
        norms = np.sqrt((data["stamps"].astype(np.float64) ** 2).sum(axis=(1, 2)))
        assert np.allclose(norms[norms > 0], 1.0, atol=1e-4)
        assert list(data["classes"]) == ["bogus", "real"]
        assert data["candids"].dtype == np.int64
        for candid, object_id, label, key in zip(
            data["candids"], data["objectIds"], data["labels"], data["label_keys"], strict=True
        ):
            subject = labelled[int(candid)]
            assert str(object_id) == subject.alert.object_id
            assert str(key) == subject.majority_label
            assert int(label) == (1 if subject.majority_label == "real" else 0)


def test_the_export_command_writes_each_kind_atomically(voted_campaign, tmp_path, capsys):
    n_votes = Vote.objects.filter(campaign=voted_campaign).count()
    for kind, name in (
        ("zooniverse", "c.csv"),
        ("workflow", "w.csv"),
        ("consensus-csv", "l.csv"),
        ("consensus-json", "l.json"),
        ("npz", "t.npz"),
    ):
        call_command("export_campaign", voted_campaign.slug, "--kind", kind, "--out", str(tmp_path / name))
    out = capsys.readouterr().out
    assert f"zooniverse export, {n_votes} rows" in out
    with open(tmp_path / "c.csv", newline="") as fh:
        assert sum(1 for _ in csv.DictReader(fh)) == n_votes
    labelled = voted_campaign.subjects.exclude(weighted_label="").count()
    assert labelled > 0  # the command refits the weighted consensus when it is missing
    with open(tmp_path / "l.csv", newline="") as fh:
        assert sum(1 for _ in csv.DictReader(fh)) == labelled
    assert len(json.loads((tmp_path / "l.json").read_text())["labels"]) == labelled
    with np.load(tmp_path / "t.npz") as data:
        assert len(data["labels"]) == labelled
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".part")]
    with pytest.raises(CommandError, match="no campaign"):
        call_command("export_campaign", "nope", "--kind", "workflow", "--out", str(tmp_path / "x.csv"))


def _panoptes_bin() -> Path:
    raw = os.environ.get("BLINK_PANOPTES_BIN", "")
    exe = Path(raw) / "panoptes_aggregation" if raw else None
    if exe is None or not exe.exists():
        pytest.skip(
            "panoptes_aggregation not found: set BLINK_PANOPTES_BIN to the bin/ of a virtual environment with "
            "panoptes-aggregation==5.3.1 (`make panoptes` makes .venv-panoptes; `make test` sets it)"
        )
    return exe


def _slug(label: str) -> str:
    # python-slugify's output for plain ASCII labels, which is what panoptes_aggregation names columns by.
    return "-".join("".join(ch if ch.isalnum() else " " for ch in label.lower()).split())


def test_panoptes_aggregation_reads_the_exports_and_agrees_with_blinks_majority(voted_campaign, tmp_path):
    exe = _panoptes_bin()
    (tmp_path / "classifications.csv").write_text(text(zooniverse_classifications_csv(voted_campaign)))
    (tmp_path / "workflows.csv").write_text(text(workflow_csv(voted_campaign)))
    workflow_id = str(voted_campaign.pk)

    def run(*args: str) -> None:
        done = subprocess.run([str(exe), *args], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr

    run("config", "workflows.csv", workflow_id, "-d", str(tmp_path))
    extractor_config = next(tmp_path.glob(f"Extractor_config_workflow_{workflow_id}_V*.yaml"))
    reducer_config = next(tmp_path.glob(f"Reducer_config_workflow_{workflow_id}_V*_question_extractor.yaml"))
    run("extract", "classifications.csv", extractor_config.name, "-d", str(tmp_path), "-o", "blink", "-hb")
    run("reduce", "question_extractor_blink.csv", reducer_config.name, "-d", str(tmp_path), "-o", "blink", "-hb")

    with open(tmp_path / "question_reducer_blink.csv", newline="") as fh:
        reduced = list(csv.DictReader(fh))
    subjects = {s.pk: s for s in Subject.objects.filter(campaign=voted_campaign, n_classifications__gt=0)}
    assert {int(r["subject_id"]) for r in reduced} == set(subjects)
    column = {key: f"data.{_slug(label)}" for key, label in (("real", "Real"), ("bogus", "Bogus"))}
    column[SKIP] = "data.None"  # an unanswered question, as panoptes_aggregation counts it
    for r in reduced:
        subject = subjects[int(r["subject_id"])]
        counts = {k: int(float(r[c])) if r.get(c) not in (None, "") else 0 for k, c in column.items()}
        stored = Counter(Vote.objects.filter(subject=subject).values_list("answer", flat=True))
        assert counts == {k: stored.get(k, 0) for k in column}
        votes = {k: v for k, v in counts.items() if k != SKIP and v}
        if not votes:
            assert subject.majority_label == ""
            continue
        best = max(votes.values())
        top = sorted(k for k, v in votes.items() if v == best)[0]
        assert top == subject.majority_label
        assert best / sum(votes.values()) == pytest.approx(subject.majority_fraction)
