"""Helpers shared by the active-learning tests and the loop's browser test."""

from __future__ import annotations

from labeling.models import Subject


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
