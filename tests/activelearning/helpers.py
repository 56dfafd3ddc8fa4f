"""Helpers shared by the active-learning tests and the loop's browser test."""

from __future__ import annotations

from labeling.models import Subject


def register_braai(*, seed: int = 0, promote: bool = True):
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
        training_set={"n_labels": 0, "source": "untrained"},
        metrics={},
        thresholds={"operating": 0.5},
    )
    if promote:
        version = registry.promote(version, actor=None, reason="test fixture")
    return version


def label_from_truth(subject: Subject) -> str:
    return "real" if subject.alert.demo_truth == "real" else "bogus"


def settle_with_truth(subjects, *, agreement: float = 0.8) -> None:
    """Retire subjects with a consensus equal to their demo truth, as votes would leave them."""
    for subject in subjects:
        subject.retired = True
        subject.majority_label = label_from_truth(subject)
        subject.majority_fraction = agreement
        subject.n_votes = 5
    Subject.objects.bulk_update(subjects, ["retired", "majority_label", "majority_fraction", "n_votes"])
