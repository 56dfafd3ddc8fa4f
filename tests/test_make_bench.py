"""`make bench` runs every benchmark under bench/, and only benchmarks (its helpers are not scripts)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_make_bench_lists_every_benchmark_script():
    makefile = (ROOT / "Makefile").read_text()
    listed = set(re.search(r"^BENCHES := (.+)$", makefile, re.MULTILINE).group(1).split())
    scripts = {p.stem for p in (ROOT / "bench").glob("*.py") if 'if __name__ == "__main__"' in p.read_text()}
    assert listed == scripts
