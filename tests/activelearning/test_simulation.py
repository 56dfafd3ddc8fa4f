"""The simulation: label-saving arithmetic, and a small replay end to end (log, plots, summary)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from activelearning.simulation.curves import label_savings, labels_to_reach
from activelearning.simulation.data import Dataset, split_test
from activelearning.simulation.replay import Point

# modAL 0.4.2.1 passes scikit-learn's old force_all_finite name: harmless with the pinned 1.7.2.
pytestmark = pytest.mark.filterwarnings("ignore:.*force_all_finite.*:FutureWarning")


def curve(strategy, seed, aucs, start=100, step=50):
    return [Point(strategy, seed, r, start + r * step, a, 0, 0.0) for r, a in enumerate(aucs)]


def one_round_each(out_dir, capsys, *options: str) -> tuple[str, list[dict]]:
    """A replay of one seed and one round of one epoch for uncertainty and random: (what it printed, its log)."""
    call_command(
        "simulate_active_learning", "--strategy", "uncertainty", "--strategy", "random",
        "--rounds", "1", "--seeds", "1", "--epochs", "1", "--out", str(out_dir), *options,
    )  # fmt: skip
    lines = [json.loads(line) for line in (out_dir / "al_log.jsonl").read_text().splitlines()]
    # Round 0 (before any query) and round 1 of both strategies.
    assert {(r["strategy"], r["round"]) for r in lines} == {(s, r) for s in ("uncertainty", "random") for r in (0, 1)}
    return capsys.readouterr().out, lines


def spearman_curve(strategy, seed, values, step=20):
    return [Point(strategy, seed, r, r * step, None, 0, 0.0, spearman=v) for r, v in enumerate(values)]


def test_labels_to_reach_interpolates_between_rounds():
    labels = np.array([100, 150, 200])
    assert labels_to_reach(labels, np.array([0.80, 0.90, 0.95]), 0.85) == pytest.approx(125.0)
    assert labels_to_reach(labels, np.array([0.80, 0.90, 0.95]), 0.80) == 100.0
    assert labels_to_reach(labels, np.array([0.80, 0.90, 0.95]), 0.99) is None


def test_label_saving_against_random_final_auc():
    points = (
        curve("random", 0, [0.80, 0.85, 0.90, 0.92])  # reaches its final 0.92 at 250 labels
        + curve("random", 1, [0.80, 0.85, 0.90, 0.92])
        + curve("uncertainty", 0, [0.80, 0.92, 0.95, 0.96])  # reaches 0.92 at 150
        + curve("uncertainty", 1, [0.80, 0.92, 0.95, 0.96])
        + curve("margin", 0, [0.80, 0.81, 0.82, 0.83])  # never
    )
    savings = {s.strategy: s for s in label_savings(points)}
    assert savings["random"].saving == pytest.approx(0.0)
    assert savings["random"].target == pytest.approx(0.92)
    assert savings["uncertainty"].labels_needed == pytest.approx(150.0)
    assert savings["uncertainty"].saving == pytest.approx(1 - 150 / 250)
    assert savings["margin"].saving is None


def test_a_fixed_spearman_target_counts_labels_even_when_random_never_reaches_it():
    points = (
        spearman_curve("random", 0, [0.81, 0.85, 0.90])  # never 0.95
        + spearman_curve("uncertainty", 0, [0.81, 0.93, 0.97])  # 0.95 half-way between 20 and 40 labels
    )
    savings = {s.strategy: s for s in label_savings(points, metric="spearman", target=0.95)}
    assert savings["uncertainty"].labels_needed == pytest.approx(30.0)
    assert savings["uncertainty"].final == pytest.approx(0.97)
    assert savings["random"].labels_needed is None
    assert savings["uncertainty"].saving is None  # no baseline to save against
    assert savings["uncertainty"].metric == "spearman"


def test_the_test_set_is_fixed_by_object_and_never_in_the_pool():
    ds = Dataset(
        x=np.zeros((400, 63, 63, 3), np.float32),
        y=np.arange(400) % 2,
        object_ids=[f"ZTF{i // 2:05d}" for i in range(400)],
        candids=list(range(400)),
        data="demo",
        description="",
    )
    pool, test = split_test(ds)
    assert not set(pool) & set(test)
    assert len(pool) + len(test) == 400
    assert not {ds.object_ids[i] for i in pool} & {ds.object_ids[i] for i in test}
    assert 0.15 < len(test) / 400 < 0.35
    assert np.array_equal(split_test(ds)[1], test)


@pytest.mark.slow
def test_a_small_replay_writes_its_log_plots_and_label_saving(tmp_path, capsys, settings):
    settings.VAR_DIR = tmp_path / "var"  # the demo-alert cache goes there, not into the project
    out, lines = one_round_each(
        tmp_path, capsys,
        "--initial", "30", "--batch", "20", "--demo-n", "160", "--model", "small", "--first-epochs", "1",
    )  # fmt: skip
    assert "demo generator's known truth" in out
    assert "Label saving" in out
    assert [r["n_labels"] for r in lines if r["strategy"] == "random"] == [30, 50]
    assert all(0.0 <= r["auc"] <= 1.0 for r in lines)
    assert (tmp_path / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (tmp_path / "learning_curve.html").read_text()
    assert "cdn.bokeh.org" not in html
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert {s["strategy"] for s in summary["savings"]} == {"uncertainty", "random"}


@pytest.mark.slow
@pytest.mark.realdata
def test_the_transfer_scenario_fine_tunes_d6_m9_towards_d6_m7_on_real_alerts(
    tmp_path, capsys, real_data, published_braai
):
    avro = sorted((real_data / "avro").rglob("*.avro"))[:40]
    out, lines = one_round_each(
        tmp_path, capsys, "--scenario", "transfer", "--source", *map(str, avro), "--initial", "0", "--batch", "5"
    )
    assert "d6_m7's verdict (drb > 0.5)" in out
    assert "not human labels" in out
    assert {r["n_labels"] for r in lines} == {0, 5}
    assert all(r["data"] == "real_transfer" and r["model"] == "d6_m9" for r in lines)
    # Round 0 is the published d6_m9 itself, before any label: the same for both strategies.
    first = {r["strategy"]: r["spearman"] for r in lines if r["round"] == 0}
    assert first["uncertainty"] == pytest.approx(first["random"])
    assert 0.0 < first["random"] < 1.0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["metric"] == "spearman"
    assert {s["strategy"] for s in summary["savings"]} == {"uncertainty", "random"}
    assert all(s["target"] == 0.95 for s in summary["savings"])


def test_the_transfer_scenario_refuses_to_start_without_the_published_braai(tmp_path, settings):
    settings.SHARED_DATA_DIR = tmp_path / "data"  # no models/braai beside it
    with pytest.raises(CommandError, match="published braai"):
        call_command("simulate_active_learning", "--scenario", "transfer", "--out", str(tmp_path / "out"))
