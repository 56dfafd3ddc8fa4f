"""Actors of the active-learning tests: an active braai version and a campaign with consensus labels."""

from __future__ import annotations

import pytest

from labeling.models import Subject


def register_braai(*, seed: int = 0, promote: bool = True, epochs_note: str = "untrained"):
    """A braai VGG6 version with seeded random weights (no training: the tests train it themselves)."""
    from classifiers import registry
    from classifiers.architectures import BRAAI_VGG6, BraaiHyperparameters, braai_vgg6
    from classifiers.runtime import keras

    keras().utils.set_random_seed(seed)
    model = braai_vgg6()
    version = registry.register(
        task="real_bogus",
        architecture=BRAAI_VGG6,
        model_bytes=registry.keras_bytes(model),
        hyperparameters=BraaiHyperparameters(seed=seed).to_dict(),
        training_set={"n_labels": 0, "source": epochs_note},
        metrics={},
        thresholds={"operating": 0.5},
    )
    if promote:
        version = registry.promote(version, actor=None, reason="test fixture")
    return version


@pytest.fixture
def active_braai(db):
    return register_braai(seed=0)


def label_from_truth(subject: Subject) -> str:
    return "real" if subject.alert.demo_truth == "real" else "bogus"


@pytest.fixture
def labelled_campaign(live_campaign):
    """The live demo campaign with most subjects retired and labelled by (simulated) consensus: demo truth
    with agreement 0.8; ten subjects stay unretired for the queue."""
    subjects = list(live_campaign.subjects.select_related("alert").order_by("pk"))
    for subject in subjects[10:]:
        subject.retired = True
        subject.majority_label = label_from_truth(subject)
        subject.majority_fraction = 0.8
        subject.n_votes = 5
    Subject.objects.bulk_update(subjects[10:], ["retired", "majority_label", "majority_fraction", "n_votes"])
    return live_campaign


@pytest.fixture(autouse=True)
def heldout_with_both_classes(settings):
    """The 60-alert demo fixture holds few objects; this salt puts both classes in its 20 % held-out bucket
    (11 alerts, 4 real), so held-out ROC AUC is defined. Production keeps its own salt."""
    settings.BLINK = {**settings.BLINK, "HELDOUT_SALT": "c"}
