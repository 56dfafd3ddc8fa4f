"""The on-disk model cache is a copy of weights the database holds: when it cannot be written (a full disk, a
read-only one), a model still loads, and nothing half-written is left in the cache directory."""

from __future__ import annotations

import numpy as np
import pytest

from classifiers import registry
from tests.conftest import register_untrained_braai


@pytest.mark.django_db
def test_a_model_loads_when_its_cache_cannot_be_written(settings, tmp_path, monkeypatch):
    version = register_untrained_braai(seed=3)
    registry.clear_loaded_models()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(registry.os, "fdopen", disk_full)
    model = registry.load_model(version)
    assert model.predict(np.zeros((1, 63, 63, 3), dtype="float32"), verbose=0).shape[0] == 1
    cache_dir = settings.BLINK["MODEL_CACHE_DIR"]
    assert not registry.cache_path(version).exists()
    assert list(cache_dir.iterdir()) == []  # no temporary file left behind
