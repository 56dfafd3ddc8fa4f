"""Actors of the active-learning tests: an active braai version and a campaign with consensus labels."""

from __future__ import annotations

import pytest

from tests.activelearning.helpers import settle_with_truth
from tests.conftest import register_untrained_braai


@pytest.fixture
def active_braai(db):
    return register_untrained_braai(seed=0, promote=True)


@pytest.fixture
def labelled_campaign(live_campaign):
    """The live demo campaign with most subjects retired and labelled by (simulated) consensus: demo truth
    with agreement 0.8; ten subjects stay unretired for the queue."""
    subjects = list(live_campaign.subjects.select_related("alert").order_by("pk"))
    settle_with_truth(subjects[10:])
    return live_campaign


@pytest.fixture(autouse=True)
def heldout_with_both_classes(settings):
    """The 60-alert demo fixture holds few objects; this salt puts both classes in its 20 % held-out bucket
    (11 alerts, 4 real), so held-out ROC AUC is defined. Production keeps its own salt."""
    settings.BLINK = {**settings.BLINK, "HELDOUT_SALT": "c"}
