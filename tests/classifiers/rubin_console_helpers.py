"""Builders for the Rubin console and explanation tests: the shared real Rubin alerts ingested, Rubin braai versions
(seeded untrained weights, the "centre" fit), and scores set by hand against Rubin's reliability."""

from __future__ import annotations

import numpy as np

from classifiers.models import ModelVersion, Score, Task
from tests.conftest import register_untrained_braai

RUBIN_RECIPE = {"normalisation": "cutout", "pad_value": 0.0, "fit": "centre"}


def ingest_rubin_alerts() -> list:
    """The shared Rubin Avro alerts (100, one night; 30x30 to 71x71 cutouts) ingested; skips when absent."""
    from labeling.ingest import ingest_paths
    from labeling.models import Alert
    from tests.labeling.rubin_helpers import avro_files

    report = ingest_paths(avro_files(), workers=0)
    assert report.rejected == 0, report.errors
    return list(Alert.objects.filter(survey="rubin").select_related("stamps").order_by("pk"))


def register_rubin_version(*, seed: int = 5, promote: bool = False) -> ModelVersion:
    """A Rubin real/bogus braai version with seeded random weights and the centre fit (what an imported or
    fine-tuned Rubin braai records)."""
    version = register_untrained_braai(seed=seed, task=Task.RUBIN_REAL_BOGUS)
    hyperparameters = {**version.hyperparameters, "input_recipe": RUBIN_RECIPE}
    ModelVersion.objects.filter(pk=version.pk).update(hyperparameters=hyperparameters)
    version.refresh_from_db()
    if promote:
        from classifiers import registry

        version = registry.promote(version, actor=None, reason="test: Rubin model")
    return version


def score_by_hand(version: ModelVersion, alerts, values) -> None:
    Score.objects.bulk_create(
        [Score(alert=a, version=version, score=float(v)) for a, v in zip(alerts, values, strict=True)]
    )


def reliability_of(alerts) -> np.ndarray:
    return np.array([a.drb for a in alerts], dtype=np.float64)
