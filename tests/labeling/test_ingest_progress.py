"""The ingest progress bar counts new alerts as batches are stored, not only at the end."""

from __future__ import annotations

import pytest

from fixtures.demo_alerts import write_demo_alerts
from labeling.ingest import ingest_paths, pipeline

pytestmark = pytest.mark.django_db


class RecordingBar:
    """Stands in for tqdm: keeps every postfix the ingest shows."""

    shown: list[dict] = []

    def __init__(self, *args, **kwargs):
        RecordingBar.shown = []

    def update(self, n=1):
        pass

    def set_postfix(self, **values):
        RecordingBar.shown.append(values)

    def close(self):
        pass


def test_new_counts_up_while_the_files_are_read(tmp_path, monkeypatch):
    import tqdm

    paths = write_demo_alerts(tmp_path, n=12, seed=3)
    monkeypatch.setattr(tqdm, "tqdm", RecordingBar)
    monkeypatch.setattr(pipeline, "PROGRESS_FLUSH_SECONDS", 0.0)  # every file waits "long enough"
    report = ingest_paths(paths, progress=True, workers=0)
    assert report.new == 12
    during = [shown["new"] for shown in RecordingBar.shown[:-1]]  # the last one is the closing summary
    assert len(during) >= 12
    assert during == sorted(during)
    assert during[len(during) // 2] > 0, during  # not 0 until the end
    assert during[-1] == 12
