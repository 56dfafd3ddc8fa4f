"""Shared pieces of the classifiers tests: a model cache of their own, demo alerts with known truth, and
registered braai versions with seeded (untrained) weights for tests that need a model but not a good one."""

from __future__ import annotations

import pytest

from tests.conftest import register_untrained_braai


@pytest.fixture(autouse=True)
def model_cache_in_tmp(settings, tmp_path):
    """Each test gets its own on-disk model cache and an empty in-process LRU."""
    from classifiers import registry

    settings.BLINK = {**settings.BLINK, "MODEL_CACHE_DIR": tmp_path / "models"}
    registry.clear_loaded_models()
    yield
    registry.clear_loaded_models()


@pytest.fixture(scope="session")
def demo_packets_300(tmp_path_factory):
    """300 demo packets (seed 11), written once per session."""
    from fixtures.demo_alerts import write_demo_alerts

    return write_demo_alerts(tmp_path_factory.mktemp("demo300"), n=300, seed=11)


@pytest.fixture
def demo_300(db, demo_packets_300):
    from labeling.ingest import ingest_paths
    from labeling.models import Alert

    # In-process decoding: a spawn pool started from inside pytest (TensorFlow loaded) stalled here.
    report = ingest_paths(demo_packets_300, workers=0)
    assert report.rejected == 0, report.errors
    return list(Alert.objects.order_by("candid"))


@pytest.fixture
def braai_version(db):
    """An active braai version with seeded random weights."""
    return register_untrained_braai(seed=3, promote=True)
