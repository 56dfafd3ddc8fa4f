"""core.conf: each of Blink's knobs has one default, which the environment and then the settings override."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from core.apps import blink_settings_check
from core.conf import DRIFT_KNOBS, KNOBS, blink_setting


def test_an_unset_knob_reads_its_default(settings, monkeypatch):
    settings.BLINK = {}
    monkeypatch.delenv("BLINK_PROMOTE_MARGIN", raising=False)
    assert blink_setting("PROMOTE_MARGIN") == KNOBS["PROMOTE_MARGIN"].default


def test_the_environment_overrides_the_default_with_the_knobs_type(settings, monkeypatch):
    settings.BLINK = {}
    monkeypatch.setenv("BLINK_RETRAIN_EPOCHS", "3")
    assert blink_setting("RETRAIN_EPOCHS") == 3


def test_the_settings_module_overrides_the_environment(settings, monkeypatch):
    monkeypatch.setenv("BLINK_PROMOTE_MARGIN", "0.5")
    settings.BLINK = {"PROMOTE_MARGIN": 1.0}
    assert blink_setting("PROMOTE_MARGIN") == 1.0


def test_paths_default_under_the_var_dir(settings, tmp_path, monkeypatch):
    settings.BLINK = {}
    settings.VAR_DIR = tmp_path
    monkeypatch.delenv("BLINK_MODEL_CACHE_DIR", raising=False)
    assert blink_setting("MODEL_CACHE_DIR") == Path(tmp_path) / "models"


def test_a_group_resolves_each_of_its_knobs(settings, monkeypatch):
    monkeypatch.setenv("BLINK_DRIFT_KS_THRESHOLD", "0.3")
    settings.BLINK = {"DRIFT": {"PSI_THRESHOLD": 0.5}}
    drift = blink_setting("DRIFT")
    assert set(drift) == set(DRIFT_KNOBS)
    assert drift["PSI_THRESHOLD"] == 0.5
    assert drift["KS_THRESHOLD"] == 0.3
    assert drift["MIN_ALERTS"] == DRIFT_KNOBS["MIN_ALERTS"].default


def test_an_empty_worker_count_means_let_blink_choose(monkeypatch, settings):
    settings.BLINK = {}
    monkeypatch.setenv("BLINK_INGEST_WORKERS", "")
    assert blink_setting("INGEST_WORKERS") is None


def test_an_unknown_knob_is_a_programming_error():
    with pytest.raises(KeyError, match="unknown Blink setting"):
        blink_setting("PROMOTE_MARGN")


def test_a_malformed_environment_variable_is_named_at_start_up(monkeypatch, settings):
    settings.BLINK = {}
    monkeypatch.setenv("BLINK_HELDOUT_FRACTION", "a fifth")
    with pytest.raises(ImproperlyConfigured, match="BLINK_HELDOUT_FRACTION"):
        blink_setting("HELDOUT_FRACTION")
    errors = blink_settings_check(None)
    assert [e.id for e in errors] == ["blink.E001"]
    assert "BLINK_HELDOUT_FRACTION" in errors[0].msg
