"""``bench/evaluate.py``'s real-alert section: the published d6_m7, fed its own recipe, reproduces the ``drb`` of the
packets, and every line says that drb is braai's output, not human labels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_bench(*args: str) -> list[dict]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "evaluate.py"), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


@pytest.mark.slow
@pytest.mark.realdata
def test_the_real_section_reports_d6_m7_against_drb_and_the_forgetting_check_on_a_few_packets(
    real_data, published_braai
):
    lines = run_bench(
        "--skip-demo", "--real-limit", "2", "--train-n", "120", "--test-n", "60", "--forgetting-epochs", "1",
        "--skip-rubin",
    )  # fmt: skip
    by = {(line["metric"], line["model"]): line for line in lines if line["metric"] != "forgetting_spearman"}
    within = by["drb_within_1e-3", "d6_m7"]
    assert within["n"] >= 4
    assert set(within["by_format"]) == {"avro", "parquet"}
    assert within["value"] >= 0.9
    assert by["drb_spearman", "d6_m7"]["value"] >= 0.95
    assert by["drb_median_abs_diff", "d6_m7"]["value"] < 1e-3
    assert ("drb_spearman", "d6_m9") in by
    assert all("not human labels" in line["reference"] for line in lines)
    forgetting = {(line["stage"], line["freeze_conv"]) for line in lines if line["metric"] == "forgetting_spearman"}
    assert forgetting == {("before", None), ("after", False), ("after", True)}
